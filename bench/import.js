#!/usr/bin/env node
// `user import --from xep0227` of 100,000 accounts that already carry SCRAM
// credentials (SHA-1 and SHA-256): accounts/s (target ≥ 20,000); and the
// peak RSS of importing 1,000,000 such accounts (target < 300 MB). Then
// accounts with rosters (issue 13): BENCH_ROSTER_ACCOUNTS accounts (10,000 by
// default; 100,000 is the target's size) of BENCH_ROSTER_ITEMS items each
// (50): roster rows/s (target ≥ 100,000) and peak RSS (target < 300 MB).
// BENCH_ONLY=accounts or BENCH_ONLY=roster runs one part.
import {randomBytes} from 'node:crypto'
import {closeSync, createWriteStream, fsyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {round, runMeasured} from './lib/measure.js'

const SPEED_ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100_000)
const RSS_ACCOUNTS = Number(process.env.BENCH_RSS_ACCOUNTS ?? 1_000_000)
const ROSTER_ACCOUNTS = Number(process.env.BENCH_ROSTER_ACCOUNTS ?? 10_000)
const ROSTER_ITEMS = Number(process.env.BENCH_ROSTER_ITEMS ?? 50)
const ONLY = process.env.BENCH_ONLY

async function pieFile(file, count, rosterItems = 0) {
  const out = createWriteStream(file)
  const b64 = (bytes) => randomBytes(bytes).toString('base64')
  const credentials = (mechanism, bytes) =>
    `<scram-credentials xmlns="urn:xmpp:pie:0#scram" mechanism="${mechanism}"><iter-count>10000</iter-count><salt>${b64(16)}</salt><server-key>${b64(bytes)}</server-key><stored-key>${b64(bytes)}</stored-key></scram-credentials>`
  out.write('<?xml version="1.0" encoding="UTF-8"?>\n<server-data xmlns="urn:xmpp:pie:0">\n<host jid="example.org">\n')
  // Every account's roster names the same contacts: the writer's cost per row is what is measured, not the generator's.
  let roster = ''
  if (rosterItems > 0) {
    roster = '<query xmlns="jabber:iq:roster">'
    for (let item = 0; item < rosterItems; item++) roster += `<item jid="contact${item}@example.net" name="Contact ${item}" subscription="both"><group>Friends</group></item>`
    roster += '</query>'
  }

  for (let index = 0; index < count; index++) {
    const secrets = rosterItems > 0 ? credentials('SCRAM-SHA-1', 20) : `${credentials('SCRAM-SHA-1', 20)}${credentials('SCRAM-SHA-256', 32)}`
    if (!out.write(`<user name="user${index}">${secrets}${roster}</user>\n`)) {
      await new Promise((resolve) => out.once('drain', resolve))
    }
  }

  await new Promise((resolve) => out.end('</host>\n</server-data>\n', resolve))
}

async function importOnce(dir, count, rosterItems = 0) {
  mkdirSync(dir)
  writeFileSync(path.join(dir, 'xmppctl.yml'), 'hosts: [example.org]\ndata_dir: data\n')
  const file = path.join(dir, 'accounts.xml')
  await pieFile(file, count, rosterItems)
  // Flush the generated file first: its writeback would otherwise compete with the import's fsyncs.
  const descriptor = openSync(file, 'r')
  fsyncSync(descriptor)
  closeSync(descriptor)
  const run = await runMeasured(['user', 'import', file, '--from', 'xep0227', '--json'], {cwd: dir})
  const summary = JSON.parse(run.stdout)
  if (summary.counts.created !== count) throw new Error(`created ${summary.counts.created} of ${count}`)
  if (summary.data.rosterItems !== count * rosterItems) throw new Error(`wrote ${summary.data.rosterItems} roster items of ${count * rosterItems}`)
  rmSync(file)
  return run
}

const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-bench-import-'))
try {
  const result = {bench: 'import', format: 'xep0227'}
  if (ONLY === undefined || ONLY === 'accounts') {
    const speed = await importOnce(path.join(dir, 'speed'), SPEED_ACCOUNTS)
    const rss = await importOnce(path.join(dir, 'rss'), RSS_ACCOUNTS)
    Object.assign(result, {
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
    })
  }

  if (ONLY === undefined || ONLY === 'roster') {
    const roster = await importOnce(path.join(dir, 'roster'), ROSTER_ACCOUNTS, ROSTER_ITEMS)
    const rows = ROSTER_ACCOUNTS * ROSTER_ITEMS
    Object.assign(result, {
      roster_accounts: ROSTER_ACCOUNTS,
      roster_items_per_account: ROSTER_ITEMS,
      roster_rows: rows,
      roster_import_ms: round(roster.ms),
      roster_rows_per_s: round(rows / (roster.ms / 1000)),
      roster_rows_per_s_target: 100_000,
      roster_accounts_per_s: round(ROSTER_ACCOUNTS / (roster.ms / 1000)),
      roster_peak_rss_mb: roster.peakMb,
      roster_rss_target_mb: 300,
    })
  }

  console.log(JSON.stringify(result))
} finally {
  rmSync(dir, {recursive: true, force: true})
}
