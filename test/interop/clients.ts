/**
 * The real clients the interop tests drive: @xmpp/client in this process,
 * and slixmpp (Debian's python3-slixmpp) and nbxmpp (python3-nbxmpp) through
 * the scripts of test/interop/slixmpp and test/interop/nbxmpp.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import path from 'node:path'

import {client, xml} from '@xmpp/client'

import {PROJECT_ROOT} from '../helpers.js'
import type {TestServer} from '../integration/server/helpers.js'

// The test servers' certificates are self-signed; the test processes only talk to them.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'

export type XmppClient = ReturnType<typeof client>
export type Stanza = ReturnType<typeof xml>

export interface Connected {
  xmpp: XmppClient
  jid: string
  /** The mechanisms the server offered, and the one used. */
  offered: string[]
  mechanism: string
  stanzas: Stanza[]
  /** The first received stanza matching `predicate` (removed from `stanzas`), waiting up to `timeoutMs`. */
  next(predicate: (stanza: Stanza) => boolean, timeoutMs?: number): Promise<Stanza>
}

export interface ConnectOptions {
  username?: string
  password?: string
  /** Default: the first one the server offers. */
  mechanism?: string
  directTls?: boolean
  resource?: string
  /** Milliseconds per reply; @xmpp/client's default is 2 s. */
  timeout?: number
}

/** @xmpp/client logged in to `server`; stopped when the test ends, or at once if the login fails. */
export async function connect(t: {after(fn: () => unknown): void}, server: TestServer, options: ConnectOptions): Promise<Connected> {
  const stanzas: Stanza[] = []
  let offered: string[] = []
  let mechanism = ''
  const credentials = async (authenticate: (creds: object, mechanism: string) => Promise<void>, mechanisms: string[]) => {
    offered = mechanisms
    mechanism = options.mechanism ?? mechanisms[0]
    assert.ok(mechanisms.includes(mechanism), `server offered ${mechanisms.join(', ')}`)
    await authenticate(options.username ? {username: options.username, password: options.password} : {}, mechanism)
  }

  const xmpp = client({
    service: options.directTls ? `xmpps://127.0.0.1:${server.tlsPort}` : `xmpp://127.0.0.1:${server.starttlsPort}`,
    domain: 'localhost',
    resource: options.resource,
    credentials,
    ...(options.timeout ? {timeout: options.timeout} : {}),
  } as Parameters<typeof client>[0])
  xmpp.reconnect.stop()
  xmpp.on('error', () => {})
  const waiters: Array<() => void> = []
  xmpp.on('stanza', (stanza: Stanza) => {
    stanzas.push(stanza)
    for (const waiter of waiters.splice(0)) waiter()
  })
  let address
  try {
    address = await xmpp.start()
  } catch (error) {
    await xmpp.stop().catch(() => {})
    throw error
  }

  t.after(() => xmpp.stop().catch(() => {}))
  return {
    xmpp,
    jid: address.toString(),
    offered,
    mechanism,
    stanzas,
    async next(predicate, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const index = stanzas.findIndex(predicate)
        if (index !== -1) return stanzas.splice(index, 1)[0]
        if (Date.now() > deadline) throw new Error(`no matching stanza; got ${stanzas.map(String).join('\n')}`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 50)
        })
      }
    },
  }
}

const PYTHON = '/usr/bin/python3'
const SLIXMPP_DIR = path.join(PROJECT_ROOT, 'test', 'interop', 'slixmpp')

const NBXMPP_DIR = path.join(PROJECT_ROOT, 'test', 'interop', 'nbxmpp')

/** Whether /usr/bin/python3 can import `module` (Debian's python3-* packages are only importable by it). */
function importable(module: string): Promise<boolean> {
  if (!existsSync(PYTHON)) return Promise.resolve(false)
  return new Promise<boolean>((resolve) => {
    const probe = spawn(PYTHON, ['-c', `import ${module}`], {stdio: 'ignore'})
    probe.on('close', (status) => resolve(status === 0))
    probe.on('error', () => resolve(false))
  })
}

/** Whether Debian's slixmpp can be run. */
export const slixmppAvailable = await importable('slixmpp')

/** Whether Debian's python3-nbxmpp (Gajim's XMPP library) can be run. */
export const nbxmppAvailable = await importable('nbxmpp')

export interface SlixmppEvent {
  event: string
  [key: string]: unknown
}

/** A client script running: the JSON lines it printed so far, and a way to wait for the next one. */
export interface ScriptRun {
  events: SlixmppEvent[]
  /** The first printed event named `name` not taken yet, waiting up to `timeoutMs`. */
  next(name: string, timeoutMs?: number): Promise<SlixmppEvent>
  /** Every event, once the script has exited; rejects if it exited in failure without printing any. */
  finished: Promise<SlixmppEvent[]>
}

/** Starts `script` (a path) under Debian's /usr/bin/python3 with `args` as its one JSON argument; it is killed when the test ends. */
export function startPython(t: {after(fn: () => unknown): void} | undefined, script: string, args: Record<string, unknown>, program = PYTHON, env: Record<string, string> = {}): ScriptRun {
  // No __pycache__ for common.py in the source tree.
  const child = spawn(program, [script, JSON.stringify(args)], {stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, PYTHONDONTWRITEBYTECODE: '1', ...env}})
  t?.after(() => {
    if (child.exitCode === null) child.kill()
  })
  const events: SlixmppEvent[] = []
  const taken = new Set<SlixmppEvent>()
  const waiters: Array<() => void> = []
  let line = ''
  let stderr = ''
  let exited = false
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (line + chunk).split('\n')
    line = lines.pop()!
    for (const text of lines.filter(Boolean)) events.push(JSON.parse(text) as SlixmppEvent)
    for (const waiter of waiters.splice(0)) waiter()
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)))
  const finished = new Promise<SlixmppEvent[]>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (status) => {
      exited = true
      if (line) events.push(JSON.parse(line) as SlixmppEvent)
      for (const waiter of waiters.splice(0)) waiter()
      if (status !== 0 && events.length === 0) reject(new Error(`${path.basename(script)} exited ${status}: ${stderr.slice(-2000)}`))
      else resolve(events)
    })
  })
  // A test that fails before awaiting it must not also report an unhandled rejection.
  finished.catch(() => {})
  return {
    events,
    finished,
    async next(name, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = events.find((event) => event.event === name && !taken.has(event))
        if (found) {
          taken.add(found)
          return found
        }

        if (exited || Date.now() > deadline) throw new Error(`no ${name} event from ${path.basename(script)}; got ${JSON.stringify(events)}; stderr: ${stderr.slice(-2000)}`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 100)
        })
      }
    },
  }
}

/** Starts a Node script (a JavaScript client library's driver) with `args` as its one JSON argument, printing JSON lines as the python scripts do. */
export function startNode(t: {after(fn: () => unknown): void}, script: string, args: Record<string, unknown>, env: Record<string, string> = {}): ScriptRun {
  return startPython(t, script, args, process.execPath, env)
}

/** Starts a script of test/interop/slixmpp with `args` (see the script). */
export function startSlixmpp(t: {after(fn: () => unknown): void}, args: Record<string, unknown>, script: string): ScriptRun {
  return startPython(t, path.join(SLIXMPP_DIR, script), args)
}

/** Starts a script of test/interop/nbxmpp with `args` (see the script). */
export function startNbxmpp(t: {after(fn: () => unknown): void}, args: Record<string, unknown>, script: string): ScriptRun {
  return startPython(t, path.join(NBXMPP_DIR, script), args)
}

/** One run of a script in test/interop/slixmpp (client.py unless named) with `args` (see the script): the JSON lines it printed. */
export function runSlixmpp(args: Record<string, unknown>, script = 'client.py'): Promise<SlixmppEvent[]> {
  return startPython(undefined, path.join(SLIXMPP_DIR, script), args).finished
}
