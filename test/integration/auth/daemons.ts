/**
 * What the slapd and KDC test daemons share: a loopback port below 32768
 * (they cannot report a port they chose), waiting until one listens, stopping
 * by pid, a suite-long daemon, and reading test-auth's JSON report.
 */
import assert from 'node:assert/strict'
import type {ChildProcess} from 'node:child_process'
import {connect} from 'node:net'
import {after, before} from 'node:test'

import type {DiagnosticStep} from '../../../src/auth/diagnose/report.js'
import type {CliResult} from '../../helpers.js'

export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** Watches `child`; `stop` ends it by its pid (SIGTERM, SIGKILL after 5 s) and is idempotent. */
export function supervise(child: ChildProcess): {exited(): boolean; stderr(): string; stop(): Promise<void>} {
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  let exited = false
  child.once('exit', () => (exited = true))
  return {
    exited: () => exited,
    stderr: () => stderr,
    async stop() {
      if (exited) return
      const gone = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await gone
      clearTimeout(timer)
    },
  }
}

/** Waits (bounded: 10 s) until every port listens or `exited()` says the daemon died. */
export async function waitListening(ports: number[], exited: () => boolean): Promise<boolean> {
  for (let wait = 0; wait < 200 && !exited(); wait++) {
    if ((await Promise.all(ports.map((port) => listening(port)))).every(Boolean)) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  return false
}

/** One daemon for a whole suite: started before its first test, stopped and removed after its last. */
export function suiteDaemon<T>(start: (t: {after(fn: () => unknown): void}) => Promise<T>): () => T {
  let daemon: T | undefined
  const cleanups: Array<() => unknown> = []
  before(async () => {
    daemon = await start({after: (fn) => cleanups.push(fn)})
  })
  after(async () => {
    for (const fn of cleanups.reverse()) await fn()
  })
  return () => daemon!
}

export type Report = {verdict: string; steps: DiagnosticStep[]}
export type Diagnosed = CliResult & {report: Report; step(id: string): DiagnosticStep}

/** test-auth's --json output, with its steps by id; fails the test when there is none. */
export function diagnosed(result: CliResult): Diagnosed {
  let report: Report
  try {
    report = JSON.parse(result.stdout) as Report
  } catch {
    assert.fail(`test-auth printed no JSON (status ${result.status}): ${result.stdout}${result.stderr}`)
  }

  return {
    ...result,
    report,
    step(id) {
      const found = report.steps.find((candidate) => candidate.id === id)
      assert.ok(found, `no step ${id} in ${result.stdout}${result.stderr}`)
      return found
    },
  }
}
