#!/usr/bin/env node
// External-auth throughput (checks per second through the process pool) at
// pool sizes 1, 2 and 4 — with a trivial program, a CPU-bound one and one that
// waits — and the cost of an auth-cache hit through the chain. Prints one JSON
// line. CPU-bound programs scale up to the core count; on a loaded machine
// (other processes on the cores) the measured speedup is lower.
import {availableParallelism} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const {ExternalBackend} = await import(path.join(root, 'dist/src/auth/backends/external.js'))
const {AuthCache, AuthChain, silentAuthLog} = await import(path.join(root, 'dist/src/auth/index.js'))
const trivial = path.join(root, 'test/fixtures/auth/trivial.sh')
const busy = path.join(root, 'test/fixtures/auth/busy.pl')
const sleepy = path.join(root, 'test/fixtures/auth/sleepy.pl')
const CHECKS = Number(process.env.BENCH_CHECKS ?? 4000)
const IN_FLIGHT = 32

async function throughput(program, poolSize, checks) {
  const backend = new ExternalBackend({host: 'example.org', program, protocol: 'generic', poolSize, timeout: 10_000, log: silentAuthLog})
  try {
    // Warm up: start every process of the pool.
    await Promise.all(Array.from({length: poolSize * 4}, (_, index) => backend.checkPassword('alice', `warm${index}`)))
    let next = 0
    const started = process.hrtime.bigint()
    const worker = async () => {
      while (next < checks) {
        const index = next++
        const outcome = await backend.checkPassword('alice', `password ${index}`)
        if (outcome.result !== 'accepted') throw new Error(`check ${index}: ${JSON.stringify(outcome)}`)
      }
    }

    await Promise.all(Array.from({length: IN_FLIGHT}, worker))
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    return Math.round(checks / seconds)
  } finally {
    await backend.close()
  }
}

async function cacheHitNs() {
  const backend = new ExternalBackend({host: 'example.org', program: trivial, protocol: 'generic', poolSize: 1, timeout: 10_000, log: silentAuthLog})
  const chain = new AuthChain('example.org', [backend], new AuthCache({enabled: true, size: 1000, lifeTime: 600, missed: true}))
  try {
    await chain.checkPassword('alice', 'cached password')
    const spawned = backend.processes().spawned
    const hits = 100_000
    for (let index = 0; index < 1000; index++) await chain.checkPassword('alice', 'cached password')
    const started = process.hrtime.bigint()
    for (let index = 0; index < hits; index++) await chain.checkPassword('alice', 'cached password')
    const ns = Number(process.hrtime.bigint() - started) / hits
    if (backend.processes().spawned !== spawned || chain.cache.hits < hits) throw new Error('the cache was not hit')
    return Math.round(ns)
  } finally {
    await chain.close()
  }
}

async function series(program, checks) {
  const perSecond = {}
  for (const size of [1, 2, 4]) perSecond[`pool${size}`] = await throughput(program, size, checks)
  const ratio = (size) => Math.round((perSecond[`pool${size}`] / perSecond.pool1) * 100) / 100
  return {checksPerSecond: perSecond, speedup: {pool2: ratio(2), pool4: ratio(4)}}
}

const result = {
  benchmark: 'auth',
  cores: availableParallelism(),
  // A program that answers at once: the Node side (one thread) is the limit.
  trivial: {program: 'test/fixtures/auth/trivial.sh', checks: CHECKS, ...(await series(trivial, CHECKS))},
  // About 2 ms of CPU per request: the pool scales with processes up to the cores.
  cpuBound: {program: 'test/fixtures/auth/busy.pl', checks: Math.round(CHECKS / 10), ...(await series(busy, Math.round(CHECKS / 10)))},
  // 10 ms of waiting per request (a database): the pool scales with processes.
  waiting: {program: 'test/fixtures/auth/sleepy.pl', checks: 200, ...(await series(sleepy, 200))},
  cacheHitNs: await cacheHitNs(),
}
process.stdout.write(`${JSON.stringify(result)}\n`)
