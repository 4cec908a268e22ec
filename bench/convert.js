#!/usr/bin/env node
// `scram convert` of 20,000 plaintext accounts to SCRAM-SHA-1 + SCRAM-SHA-256
// at 10,000 iterations, as a ratio to a bare PBKDF2 loop doing the same
// derivations on every core in the same run (target ≥ 0.9); and the peak RSS
// of converting a store of 1,000,000 accounts (target < 300 MB), measured over
// the first BENCH_RSS_SECONDS (default 60) of the run, or all of it with
// BENCH_FULL=1 (at 10,000 iterations a million accounts take ~45 minutes here).
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {availableParallelism, tmpdir} from 'node:os'
import path from 'node:path'
import {Worker} from 'node:worker_threads'

import {root, round, runMeasured} from './lib/measure.js'

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 20_000)
const RSS_ACCOUNTS = Number(process.env.BENCH_RSS_ACCOUNTS ?? 1_000_000)
const RSS_SECONDS = Number(process.env.BENCH_RSS_SECONDS ?? 60)
const ITERATIONS = 10_000
const CORES = availableParallelism()

const {SqliteAccountStore} = await import(path.join(root, 'dist/src/store/sqlite/index.js'))

async function plaintextStore(dir, count) {
  writeFileSync(path.join(dir, 'xmppctl.yml'), `hosts: [example.org]\ndata_dir: data\nauth_scram_hash: [sha1, sha256]\nauth_scram_iterations: ${ITERATIONS}\n`)
  const store = SqliteAccountStore.open(path.join(dir, 'data'))
  for (let start = 0; start < count; start += 10_000) {
    const batch = []
    for (let index = start; index < Math.min(count, start + 10_000); index++) {
      batch.push({host: 'example.org', username: `user${index}`, secrets: {credentials: [], plaintext: `password ${index}`}, overwrite: false})
    }

    await store.importAccounts(batch)
  }

  await store.close()
}

/** The physical limit: the same derivations, pbkdf2Sync in one worker per core, nothing else. */
async function barePbkdf2(count) {
  const code = `
    const {parentPort, workerData} = require('node:worker_threads')
    const {pbkdf2Sync} = require('node:crypto')
    for (let index = workerData.from; index < workerData.to; index++) {
      pbkdf2Sync('password ' + index, 'salt' + index, ${ITERATIONS}, 20, 'sha1')
      pbkdf2Sync('password ' + index, 'salt' + index, ${ITERATIONS}, 32, 'sha256')
    }
    parentPort.postMessage('done')`
  const start = process.hrtime.bigint()
  const share = Math.ceil(count / CORES)
  await Promise.all(
    Array.from({length: CORES}, (_, core) => {
      const worker = new Worker(code, {eval: true, workerData: {from: core * share, to: Math.min(count, (core + 1) * share)}})
      return new Promise((resolve, reject) => {
        worker.on('message', resolve)
        worker.on('error', reject)
      }).finally(() => worker.terminate())
    }),
  )
  return Number(process.hrtime.bigint() - start) / 1e6
}

const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-bench-convert-'))
try {
  const speedDir = path.join(dir, 'speed')
  const rssDir = path.join(dir, 'rss')
  for (const sub of [speedDir, rssDir]) mkdirSync(sub)
  await plaintextStore(speedDir, ACCOUNTS)
  const bareMs = await barePbkdf2(ACCOUNTS)
  const run = await runMeasured(['scram', 'convert', '--yes', '--json'], {cwd: speedDir})
  const result = JSON.parse(run.stdout)
  if (result.converted !== ACCOUNTS) throw new Error(`converted ${result.converted} of ${ACCOUNTS}`)

  await plaintextStore(rssDir, RSS_ACCOUNTS)
  const full = process.env.BENCH_FULL === '1'
  const rss = await runMeasured(['scram', 'convert', '--yes', '--json'], {cwd: rssDir, limitMs: full ? undefined : RSS_SECONDS * 1000})
  const db = new (await import(path.join(root, 'dist/src/store/sqlite/driver.js'))).default(path.join(rssDir, 'data', 'accounts.sqlite'), {readonly: true})
  const convertedForRss = db.prepare('SELECT count(*) AS n FROM accounts WHERE plaintext IS NULL').get().n
  db.close()

  console.log(
    JSON.stringify({
      bench: 'convert',
      cores: CORES,
      accounts: ACCOUNTS,
      iterations: ITERATIONS,
      hashes: ['sha1', 'sha256'],
      bare_pbkdf2_ms: round(bareMs),
      bare_accounts_per_s: round(ACCOUNTS / (bareMs / 1000)),
      convert_ms: round(run.ms),
      convert_accounts_per_s: round(ACCOUNTS / (run.ms / 1000)),
      ratio: round(bareMs / run.ms),
      ratio_target: 0.9,
      convert_peak_rss_mb: run.peakMb,
      rss_store_accounts: RSS_ACCOUNTS,
      rss_run: full ? 'complete' : `first ${RSS_SECONDS} s`,
      rss_converted: convertedForRss,
      rss_peak_mb: rss.peakMb,
      rss_target_mb: 300,
    }),
  )
} finally {
  rmSync(dir, {recursive: true, force: true})
}
