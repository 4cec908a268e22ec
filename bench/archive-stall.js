#!/usr/bin/env node
// How long the server thread's own writes to the SQLite store wait while the
// archive writer (dist/src/store/sqlite/archive-writer.js) commits: the stores
// the server uses, 200 accounts, messages archived at a fixed rate through
// SqliteArchiveStore.add(), and one last-activity write (what a logout makes)
// every 2 ms on this thread, each timed. The writer holds the file's one write
// lock while it moves a second of messages into the archive, and a write here
// waits for it in SQLite's busy handler, holding up the whole server. No
// target: the figures are for comparing designs (see issue 12's notes).
// For each rate in BENCH_RATES (default 5000,15000,30000 messages/s), over
// BENCH_SECONDS (default 5) each, it prints the waits' p50, p99 and maximum in
// ms, how many waited over 10 ms, and the process's CPU µs per message.
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {root, round} from './lib/measure.js'

const RATES = (process.env.BENCH_RATES ?? '5000,15000,30000').split(',').map(Number)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const ACCOUNTS = 200
const WRITE_EVERY_MS = 2

const sqlite = path.join(root, 'dist/src/store/sqlite')
const {SqliteAccountStore} = await import(path.join(sqlite, 'index.js'))
const {SqliteAccountDataStore} = await import(path.join(sqlite, 'account-data.js'))
const {SqliteArchiveStore} = await import(path.join(sqlite, 'archive.js'))

const body = 'hello world '.repeat(10)

async function measure(rate) {
  const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-bench-stall-'))
  try {
    const accounts = SqliteAccountStore.open(dir)
    for (let index = 0; index < ACCOUNTS; index++) await accounts.createAccount('localhost', `user${index}`, {credentials: [], plaintext: 'secret'})
    const data = SqliteAccountDataStore.open(dir)
    let lost = 0
    const archive = SqliteArchiveStore.open(dir, {onWriteError: (_error, rows) => (lost += rows)})
    const waits = []
    let sent = 0
    const started = Date.now()
    const cpu = process.cpuUsage()
    await new Promise((resolve) => {
      const tick = setInterval(() => {
        const due = Math.floor(((Date.now() - started) / 1000) * rate)
        for (; sent < due; sent++) {
          const from = sent % ACCOUNTS
          const to = (sent * 7 + 1) % ACCOUNTS
          const stanza = `<message xmlns="jabber:client" type="chat" to="user${to}@localhost/r" from="user${from}@localhost/r" id="m${sent}"><body>${body}</body></message>`
          archive.add(stanza, [
            {host: 'localhost', username: `user${from}`, with: `user${to}@localhost`, withResource: 'r'},
            {host: 'localhost', username: `user${to}`, with: `user${from}@localhost`, withResource: 'r'},
          ])
        }

        // The SQLite store does its write, and any wait for the lock, before it returns its promise.
        const before = performance.now()
        data.setLastActivity('localhost', `user${sent % ACCOUNTS}`, new Date(), '')
        waits.push(performance.now() - before)
        if (Date.now() - started >= SECONDS * 1000) {
          clearInterval(tick)
          resolve()
        }
      }, WRITE_EVERY_MS)
    })
    await archive.close()
    const used = process.cpuUsage(cpu)
    await data.close()
    await accounts.close()
    waits.sort((a, b) => a - b)
    const at = (share) => round(waits[Math.min(waits.length - 1, Math.floor(share * waits.length))])
    return {
      messages_per_s: rate,
      messages: sent,
      rows_lost: lost,
      writes: waits.length,
      wait_p50_ms: at(0.5),
      wait_p99_ms: at(0.99),
      wait_max_ms: round(waits.at(-1)),
      waits_over_10_ms: waits.filter((wait) => wait > 10).length,
      cpu_us_per_message: round((used.user + used.system) / sent),
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

const results = []
for (const rate of RATES) results.push(await measure(rate))
process.stdout.write(`${JSON.stringify({bench: 'archive-stall', accounts: ACCOUNTS, seconds: SECONDS, write_every_ms: WRITE_EVERY_MS, results})}\n`)
