#!/usr/bin/env node
// `user import --from xep0227` of 100,000 accounts that already carry SCRAM
// credentials (SHA-1 and SHA-256): accounts/s (target ≥ 20,000); and the
// peak RSS of importing 1,000,000 such accounts (target < 300 MB).
import {randomBytes} from 'node:crypto'
import {closeSync, createWriteStream, fsyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {round, runMeasured} from './lib/measure.js'

const SPEED_ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100_000)
const RSS_ACCOUNTS = Number(process.env.BENCH_RSS_ACCOUNTS ?? 1_000_000)

async function pieFile(file, count) {
  const out = createWriteStream(file)
  const b64 = (bytes) => randomBytes(bytes).toString('base64')
  const credentials = (mechanism, bytes) =>
    `<scram-credentials xmlns="urn:xmpp:pie:0#scram" mechanism="${mechanism}"><iter-count>10000</iter-count><salt>${b64(16)}</salt><server-key>${b64(bytes)}</server-key><stored-key>${b64(bytes)}</stored-key></scram-credentials>`
  out.write('<?xml version="1.0" encoding="UTF-8"?>\n<server-data xmlns="urn:xmpp:pie:0">\n<host jid="example.org">\n')
  for (let index = 0; index < count; index++) {
    if (!out.write(`<user name="user${index}">${credentials('SCRAM-SHA-1', 20)}${credentials('SCRAM-SHA-256', 32)}</user>\n`)) {
      await new Promise((resolve) => out.once('drain', resolve))
    }
  }

  await new Promise((resolve) => out.end('</host>\n</server-data>\n', resolve))
}

async function importOnce(dir, count) {
  mkdirSync(dir)
  writeFileSync(path.join(dir, 'xmppctl.yml'), 'hosts: [example.org]\ndata_dir: data\n')
  const file = path.join(dir, 'accounts.xml')
  await pieFile(file, count)
  // Flush the generated file first: its writeback would otherwise compete with the import's fsyncs.
  const descriptor = openSync(file, 'r')
  fsyncSync(descriptor)
  closeSync(descriptor)
  const run = await runMeasured(['user', 'import', file, '--from', 'xep0227', '--json'], {cwd: dir})
  const created = JSON.parse(run.stdout).counts.created
  if (created !== count) throw new Error(`created ${created} of ${count}`)
  rmSync(file)
  return run
}

const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-bench-import-'))
try {
  const speed = await importOnce(path.join(dir, 'speed'), SPEED_ACCOUNTS)
  const rss = await importOnce(path.join(dir, 'rss'), RSS_ACCOUNTS)
  console.log(
    JSON.stringify({
      bench: 'import',
      format: 'xep0227',
      hashes: ['sha1', 'sha256'],
      accounts: SPEED_ACCOUNTS,
      import_ms: round(speed.ms),
      accounts_per_s: round(SPEED_ACCOUNTS / (speed.ms / 1000)),
      accounts_per_s_target: 20_000,
      import_peak_rss_mb: speed.peakMb,
      rss_accounts: RSS_ACCOUNTS,
      rss_import_ms: round(rss.ms),
      rss_peak_mb: rss.peakMb,
      rss_target_mb: 300,
    }),
  )
} finally {
  rmSync(dir, {recursive: true, force: true})
}
