#!/usr/bin/env node
// SASL GSSAPI acceptor cost (issue 16): why the server runs one GSS-API
// helper per host (native/gssapi-helper.c, contexts multiplexed by id) rather
// than one per authentication. Against a private MIT KDC
// (test/integration/auth/kdc.js), the server side of each exchange —
// gss_accept_sec_context of a fresh AP-REQ from alice, and gss_wrap of
// RFC 4752's security-layer offer — runs through a shared helper and through
// a helper started for that exchange, in alternating rounds; the best round
// of each counts. Also: exchanges per helper CPU-second for the shared one.
// Prints one JSON line.
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const {GssAcceptor} = await import(path.join(root, 'dist/src/auth/gssapi/helper.js'))
const {startKdc, REALM} = await import(path.join(root, 'dist/test/integration/auth/kdc.js'))

const EXCHANGES = Number(process.env.BENCH_EXCHANGES ?? 150)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const TICKS = 100 // USER_HZ on Linux
const OFFER = Buffer.from([1, 0, 0, 0])

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS
}

const cleanups = []
const kdc = await startKdc({after: (fn) => cleanups.push(fn)})
process.env.KRB5_CONFIG = kdc.krb5Conf
process.env.KRB5CCNAME = `FILE:${kdc.aliceCache}`
const kerberos = (await import('kerberos')).default
const principal = `xmpp/localhost@${REALM}`

/** Fresh AP-REQs (each has its own authenticator, so none is a replay); made before the clock starts. */
async function tokens(count) {
  const made = []
  for (let index = 0; index < count; index++) made.push(Buffer.from(await (await kerberos.initializeClient('xmpp@localhost', {})).step(''), 'base64'))
  return made
}

async function exchange(acceptor, token) {
  const context = acceptor.newContext()
  const accepted = await acceptor.accept(context, token)
  if (!accepted.complete || accepted.principal !== `alice@${REALM}`) throw new Error(`unexpected acceptance: ${JSON.stringify(accepted)}`)
  await acceptor.wrap(context, OFFER)
  await acceptor.release(context)
}

const shared = new GssAcceptor({principal, keytab: kdc.keytab})
await shared.check()
const best = {shared: 0, perExchange: 0}
let sharedCpu = 0
let sharedDone = 0
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 === 0 ? ['shared', 'perExchange'] : ['perExchange', 'shared']) {
      const batch = await tokens(EXCHANGES)
      const cpuBefore = mode === 'shared' ? cpuSeconds(shared.pid) : 0
      const started = performance.now()
      for (const token of batch) {
        if (mode === 'shared') {
          await exchange(shared, token)
        } else {
          const own = new GssAcceptor({principal, keytab: kdc.keytab})
          await exchange(own, token)
          await own.close()
        }
      }

      const rate = EXCHANGES / ((performance.now() - started) / 1000)
      best[mode] = Math.max(best[mode], rate)
      if (mode === 'shared') {
        sharedCpu += cpuSeconds(shared.pid) - cpuBefore
        sharedDone += EXCHANGES
      }
    }
  }
} finally {
  await shared.close()
  for (const fn of cleanups.reverse()) await fn()
}

console.log(JSON.stringify({
  bench: 'gssapi-acceptor',
  exchanges: EXCHANGES,
  rounds: ROUNDS,
  sharedPerSecond: Math.round(best.shared),
  perExchangePerSecond: Math.round(best.perExchange),
  ratio: Number((best.shared / best.perExchange).toFixed(2)),
  sharedPerHelperCpuSecond: sharedCpu > 0 ? Math.round(sharedDone / sharedCpu) : null,
}))
