#!/usr/bin/env node
// LDAP check throughput (issue 16): bind-as-user password checks per second
// through the ldap backend at pool sizes 1, 2 and 4, without the auth cache
// (every check is a service bind, a search and a user bind on slapd) and with
// it (a repeated right password is answered from the cache), against one
// private slapd (test/integration/auth/slapd.js, plain LDAP on loopback).
// Pool sizes run in alternating rounds so that a neighbour's load hits them
// alike; the best round counts. Also: checks per slapd CPU-second, from
// /proc/PID/stat. Prints one JSON line.
import {readFileSync} from 'node:fs'
import {availableParallelism} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const {LdapBackend} = await import(path.join(root, 'dist/src/auth/backends/ldap.js'))
const {AuthCache, AuthChain, silentAuthLog} = await import(path.join(root, 'dist/src/auth/index.js'))
const {startSlapd, BASE, SERVICE_DN, SERVICE_PASSWORD, USERS} = await import(path.join(root, 'dist/test/integration/auth/slapd.js'))

const CHECKS = Number(process.env.BENCH_CHECKS ?? 1500)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const IN_FLIGHT = 16
const POOLS = [1, 2, 4]
const TICKS = 100 // USER_HZ on Linux

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS
}

const cleanups = []
const slapd = await startSlapd({after: (fn) => cleanups.push(fn)})
const options = (poolSize) => ({
  host: 'example.org',
  servers: ['127.0.0.1'],
  port: slapd.port,
  encrypt: 'none',
  tlsVerify: 'hard',
  rootDn: SERVICE_DN,
  password: {value: SERVICE_PASSWORD},
  base: BASE,
  uids: [{attribute: 'uid', pattern: '%u'}],
  derefAliases: 'never',
  poolSize,
  timeout: 10_000,
  connectTimeout: 10_000,
})

async function measure(poolSize, cached, checks) {
  const backend = new LdapBackend(options(poolSize))
  const cache = new AuthCache({enabled: cached, size: 1000, lifeTime: 600, missed: true})
  const chain = new AuthChain('example.org', [backend], cache, silentAuthLog)
  const users = Object.entries(USERS)
  try {
    // Warm up: open every connection of the pool (and fill the cache).
    await Promise.all(Array.from({length: poolSize * 2}, (_, index) => chain.checkPassword(...users[index % users.length])))
    let next = 0
    let failures = 0
    const cpuBefore = cpuSeconds(slapd.process.pid)
    const started = process.hrtime.bigint()
    const worker = async () => {
      while (next < checks) {
        const index = next++
        const outcome = await chain.checkPassword(...users[index % users.length])
        if (outcome.result !== 'accepted') failures++
      }
    }

    await Promise.all(Array.from({length: IN_FLIGHT}, worker))
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const slapdCpu = cpuSeconds(slapd.process.pid) - cpuBefore
    if (failures > 0) throw new Error(`${failures} checks were not accepted`)
    return {perSecond: Math.round(checks / seconds), perSlapdCpuSecond: slapdCpu > 0 ? Math.round(checks / slapdCpu) : null}
  } finally {
    await chain.close()
  }
}

try {
  const best = {}
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order each round: no pool size always runs first.
    const order = round % 2 === 0 ? POOLS : [...POOLS].reverse()
    for (const poolSize of order) {
      for (const cached of [false, true]) {
        const key = `pool${poolSize}_${cached ? 'cache' : 'nocache'}`
        const result = await measure(poolSize, cached, cached ? CHECKS * 10 : CHECKS)
        if (!best[key] || result.perSecond > best[key].perSecond) best[key] = result
      }
    }
  }

  const rate = (poolSize, cached) => best[`pool${poolSize}_${cached ? 'cache' : 'nocache'}`].perSecond
  console.log(
    JSON.stringify({
      bench: 'ldap',
      cores: availableParallelism(),
      checks: CHECKS,
      rounds: ROUNDS,
      in_flight: IN_FLIGHT,
      checks_per_second: Object.fromEntries(Object.entries(best).map(([key, value]) => [key, value.perSecond])),
      checks_per_slapd_cpu_second: Object.fromEntries(Object.entries(best).filter(([key]) => key.endsWith('nocache')).map(([key, value]) => [key, value.perSlapdCpuSecond])),
      speedup_pool2_vs_1: Math.round((rate(2, false) / rate(1, false)) * 100) / 100,
      speedup_pool4_vs_1: Math.round((rate(4, false) / rate(1, false)) * 100) / 100,
      cache_vs_nocache_pool1: Math.round((rate(1, true) / rate(1, false)) * 10) / 10,
    }),
  )
} finally {
  for (const fn of cleanups.reverse()) await fn()
}
