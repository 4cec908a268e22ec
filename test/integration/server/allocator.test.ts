/**
 * memory_allocator: the background server runs on jemalloc when Debian's
 * libjemalloc2 is installed (so closed sessions give memory back), and on
 * the system allocator when told to. What it runs on is read from the
 * server's own mappings and environment, through `status`.
 */
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {describe, it} from 'node:test'

import {JEMALLOC_CONF, findJemalloc} from '../../../src/server/allocator.js'
import {freePort, runCli, tempDir, writeConfig} from '../../helpers.js'

// CI installs libjemalloc2 and must run this (CI=true fails rather than skips).
const skip = process.env.CI === 'true' || findJemalloc() ? false : 'libjemalloc2 is not installed'

interface Status {
  pid: number
  memory: {allocator: string; rssKiB: number; heapTotalKiB: number; heapUsedKiB: number; externalKiB: number}
}

/** Starts the background server with `line` in its configuration; its directory and pid. */
async function startWith(t: {after(fn: () => unknown): void}, line: string): Promise<{dir: string; pid: number}> {
  const dir = tempDir(t)
  writeConfig(dir, `hosts: [localhost]\n${line}listen:\n  - {port: ${await freePort()}, ip: 127.0.0.1}\n`)
  const started = await runCli(['start', '--json'], {cwd: dir})
  assert.equal(started.status, 0, started.stdout + started.stderr)
  const {pid} = JSON.parse(started.stdout) as {pid: number}
  t.after(() => {
    try {
      process.kill(pid)
    } catch {}
  })
  return {dir, pid}
}

async function status(dir: string): Promise<{json: Status; text: string}> {
  const json = await runCli(['status', '--json'], {cwd: dir})
  assert.equal(json.status, 0, json.stderr)
  return {json: JSON.parse(json.stdout) as Status, text: (await runCli(['status'], {cwd: dir})).stdout}
}

describe('the background server\'s memory allocator', {skip}, () => {
  it('is jemalloc by default, with the decay that returns freed pages', async (t) => {
    assert.ok(findJemalloc(), 'libjemalloc2 must be installed (apt-get install libjemalloc2)')
    const {dir, pid} = await startWith(t, '')
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
    assert.ok(environ.includes(`MALLOC_CONF=${JEMALLOC_CONF}`), 'MALLOC_CONF reaches the server')
    const {json, text} = await status(dir)
    assert.equal(json.memory.allocator, 'jemalloc')
    assert.ok(json.memory.rssKiB > json.memory.heapUsedKiB && json.memory.heapUsedKiB > 0, JSON.stringify(json.memory))
    assert.match(text, /^ {2}memory: \d+\.\d MiB resident, JavaScript heap \d+\.\d of \d+\.\d MiB, allocator jemalloc$/m)
    const stopped = await runCli(['stop'], {cwd: dir})
    assert.equal(stopped.status, 0, stopped.stderr)
  })

  it('is the system\'s with memory_allocator: system', async (t) => {
    const {dir} = await startWith(t, 'memory_allocator: system\n')
    assert.equal((await status(dir)).json.memory.allocator, 'system')
  })

  it('is jemalloc with memory_allocator: jemalloc', async (t) => {
    const {dir} = await startWith(t, 'memory_allocator: jemalloc\n')
    const {json, text} = await status(dir)
    assert.equal(json.memory.allocator, 'jemalloc')
    assert.match(text, /allocator jemalloc/)
  })
})
