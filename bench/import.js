#!/usr/bin/env node
// `user import --from xep0227` of 100,000 accounts that already carry SCRAM
// credentials (SHA-1 and SHA-256): accounts/s (target ≥ 20,000); and the
// peak RSS of importing 1,000,000 such accounts (target < 300 MB). Then
// accounts with rosters (issue 13): BENCH_ROSTER_ACCOUNTS accounts (10,000 by
// default; 100,000 is the target's size) of BENCH_ROSTER_ITEMS items each
// (50): roster rows/s (target ≥ 100,000) and peak RSS (target < 300 MB).
// Then per kind of data and per source format (BENCH_KIND_ROWS rows each,
// 100,000 by default): roster items, offline messages, vCards and archived
// messages, from a XEP-0227 file and from a Prosody data directory
// (mod_storage_internal's .dat and .list files): rows/s and peak RSS of each.
// Then, as root with prosody-migrator installed (Debian's prosody), the same
// roster (BENCH_COMPARE_ACCOUNTS accounts, 2,000 by default, × 50 items) into
// xmppctl from one XEP-0227 file and into Prosody 0.12 (prosody-migrator,
// mod_storage_xep0227 → mod_storage_internal) from our --prosody export of it,
// alternating, BENCH_COMPARE_ROUNDS (2) rounds: wall and CPU seconds of each.
// BENCH_ONLY=accounts, roster, kinds or compare runs one part.
import {randomBytes} from 'node:crypto'
import {chmodSync, closeSync, createWriteStream, fsyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync} from 'node:fs'
import {execFileSync} from 'node:child_process'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {commandMeasured, round, runMeasured} from './lib/measure.js'

const SPEED_ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100_000)
const RSS_ACCOUNTS = Number(process.env.BENCH_RSS_ACCOUNTS ?? 1_000_000)
const ROSTER_ACCOUNTS = Number(process.env.BENCH_ROSTER_ACCOUNTS ?? 10_000)
const ROSTER_ITEMS = Number(process.env.BENCH_ROSTER_ITEMS ?? 50)
const ONLY = process.env.BENCH_ONLY
const KIND_ROWS = Number(process.env.BENCH_KIND_ROWS ?? 100_000)
const COMPARE_ACCOUNTS = Number(process.env.BENCH_COMPARE_ACCOUNTS ?? 2000)
const COMPARE_ROUNDS = Number(process.env.BENCH_COMPARE_ROUNDS ?? 2)

async function pieFile(file, count, rosterItems = 0, host = 'example.org') {
  const out = createWriteStream(file)
  const b64 = (bytes) => randomBytes(bytes).toString('base64')
  const credentials = (mechanism, bytes) =>
    `<scram-credentials xmlns="urn:xmpp:pie:0#scram" mechanism="${mechanism}"><iter-count>10000</iter-count><salt>${b64(16)}</salt><server-key>${b64(bytes)}</server-key><stored-key>${b64(bytes)}</stored-key></scram-credentials>`
  out.write(`<?xml version="1.0" encoding="UTF-8"?>\n<server-data xmlns="urn:xmpp:pie:0">\n<host jid="${host}">\n`)
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

/** Rows per account of each kind measured, and the summary's name for them. */
const KINDS = {
  roster: {perAccount: 50, summaryKey: 'rosterItems'},
  offline: {perAccount: 50, summaryKey: 'offlineMessages'},
  vcard: {perAccount: 1, summaryKey: 'vcards'},
  archive: {perAccount: 50, summaryKey: 'archivedMessages'},
}

const stampOf = (row) => new Date(Date.UTC(2024, 0, 1) + row * 1000)

/** One account's data of `kind` as XEP-0227 writes it. */
function pieData(kind, user) {
  const rows = Array.from({length: KINDS[kind].perAccount}, (_, row) => row)
  switch (kind) {
    case 'roster':
      return `<query xmlns="jabber:iq:roster">${rows.map((row) => `<item jid="contact${row}@example.net" name="Contact ${row}" subscription="both"><group>Friends</group></item>`).join('')}</query>`
    case 'offline':
      return `<offline-messages>${rows.map((row) => `<message from="contact${row}@example.net/pc" to="${user}@example.org" type="chat" id="m${row}"><body>message ${row} for ${user}</body><delay xmlns="urn:xmpp:delay" stamp="${stampOf(row).toISOString()}"/></message>`).join('')}</offline-messages>`
    case 'vcard':
      return `<vCard xmlns="vcard-temp"><FN>${user}</FN><NICKNAME>${user}</NICKNAME><EMAIL><USERID>${user}@example.org</USERID></EMAIL></vCard>`
    case 'archive':
      return `<archive xmlns="urn:xmpp:pie:0#mam">${rows
        .map((row) => `<result xmlns="urn:xmpp:mam:2" id="a${row}"><forwarded xmlns="urn:xmpp:forward:0"><delay xmlns="urn:xmpp:delay" stamp="${stampOf(row).toISOString()}"/><message xmlns="jabber:client" from="contact${row % 10}@example.net/pc" to="${user}@example.org/phone" type="chat" id="m${row}"><body>message ${row} for ${user}</body></message></forwarded></result>`)
        .join('')}</archive>`
  }
}

const lua = (text) => JSON.stringify(text)
const luaMessage = (row, user, extra) =>
  `{\n\t{ ${lua(`message ${row} for ${user}`)}; ["name"] = "body"; ["attr"] = { ["xmlns"] = "jabber:client"; }; };\n${extra}\t["attr"] = { ["id"] = "m${row}"; ["to"] = "${user}@example.org"; ["type"] = "chat"; ["xmlns"] = "jabber:client"; ["from"] = "contact${row % 10}@example.net/pc"; };\n\t["name"] = "message";\n}`

/** One account's store file of `kind` as Prosody's mod_storage_internal writes it: [store, extension, text]. */
function prosodyData(kind, user) {
  const rows = Array.from({length: KINDS[kind].perAccount}, (_, row) => row)
  const when = (row) => `\t["when"] = ${stampOf(row).getTime() / 1000};\n`
  switch (kind) {
    case 'roster':
      return ['roster', 'dat', `return {\n\t[false] = { ["version"] = 1; ["pending"] = {}; };\n${rows.map((row) => `\t["contact${row}@example.net"] = { ["subscription"] = "both"; ["name"] = "Contact ${row}"; ["groups"] = { ["Friends"] = true; }; };\n`).join('')}};\n`]
    case 'offline':
      return ['offline', 'list', rows.map((row) => `item(${luaMessage(row, user, when(row))});\n`).join('')]
    case 'vcard':
      return ['vcard', 'dat', `return { ["name"] = "vCard"; ["attr"] = { ["xmlns"] = "vcard-temp"; }; { ["name"] = "FN"; ["attr"] = {}; ${lua(user)}; }; { ["name"] = "NICKNAME"; ["attr"] = {}; ${lua(user)}; }; };\n`]
    case 'archive':
      return ['archive', 'list', rows.map((row) => `item(${luaMessage(row, user, `${when(row)}\t["key"] = "k${row}";\n\t["with"] = "contact${row % 10}@example.net";\n`)});\n`).join('')]
  }
}

/** Imports `accounts` accounts with `kind` data each from a `format` source. */
async function importKind(dir, format, kind, accounts) {
  mkdirSync(dir)
  writeFileSync(path.join(dir, 'xmppctl.yml'), 'hosts: [example.org]\ndata_dir: data\n')
  const b64 = (bytes) => randomBytes(bytes).toString('base64')
  let source
  if (format === 'xep0227') {
    source = path.join(dir, 'source.xml')
    const out = createWriteStream(source)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n<server-data xmlns="urn:xmpp:pie:0">\n<host jid="example.org">\n')
    for (let index = 0; index < accounts; index++) {
      const credentials = `<scram-credentials xmlns="urn:xmpp:pie:0#scram" mechanism="SCRAM-SHA-1"><iter-count>10000</iter-count><salt>${b64(16)}</salt><server-key>${b64(20)}</server-key><stored-key>${b64(20)}</stored-key></scram-credentials>`
      if (!out.write(`<user name="user${index}">${credentials}${pieData(kind, `user${index}`)}</user>\n`)) await new Promise((resolve) => out.once('drain', resolve))
    }

    await new Promise((resolve) => out.end('</host>\n</server-data>\n', resolve))
  } else {
    source = path.join(dir, 'prosody')
    const host = path.join(source, 'example%2eorg')
    const [store] = prosodyData(kind, 'x')
    for (const sub of ['accounts', store]) mkdirSync(path.join(host, sub), {recursive: true})
    for (let index = 0; index < accounts; index++) {
      const hex = (bytes) => randomBytes(bytes).toString('hex')
      writeFileSync(path.join(host, 'accounts', `user${index}.dat`), `return {\n\t["iteration_count"] = 10000;\n\t["salt"] = ${lua(b64(16))};\n\t["stored_key"] = "${hex(20)}";\n\t["server_key"] = "${hex(20)}";\n};\n`)
      const [, extension, text] = prosodyData(kind, `user${index}`)
      writeFileSync(path.join(host, store, `user${index}.${extension}`), text)
    }
  }

  // Flush the generated source first: its writeback would otherwise compete with the import's fsyncs.
  execFileSync('sync')
  const run = await runMeasured(['user', 'import', source, '--from', format, '--json'], {cwd: dir})
  if (JSON.parse(run.stdout).counts.created !== accounts) throw new Error(`${format} ${kind}: created ${JSON.parse(run.stdout).counts.created} of ${accounts}`)
  rmSync(dir, {recursive: true, force: true})
  return run
}

/** xmppctl and prosody-migrator on the same roster, alternating; `{compare_skipped}` when Prosody's importer cannot run here. */
async function compareWithProsody(dir) {
  const which = (command) => {
    try {
      return execFileSync('sh', ['-c', `command -v ${command}`], {encoding: 'utf8'}).trim()
    } catch {
      return ''
    }
  }

  if (process.getuid?.() !== 0 || !which('prosody-migrator') || !which('unshare')) return {compare_skipped: 'needs root, unshare and prosody-migrator (Debian package prosody)'}
  // prosody-migrator runs as the prosody user: it must reach the files and its output directory.
  chmodSync(path.dirname(dir), 0o755)
  mkdirSync(dir, {mode: 0o755})
  const source = path.join(dir, 'accounts.xml')
  await pieFile(source, COMPARE_ACCOUNTS, 50, 'localhost')
  const files = path.join(dir, 'files')
  mkdirSync(files, {mode: 0o755})
  const seed = path.join(dir, 'seed')
  mkdirSync(seed)
  writeFileSync(path.join(seed, 'xmppctl.yml'), 'hosts: [localhost]\ndata_dir: data\n')
  await runMeasured(['user', 'import', source, '--from', 'xep0227'], {cwd: seed})
  // The same accounts and rosters, one file per account as mod_storage_xep0227 reads them; prosody-migrator runs as the prosody user.
  await runMeasured(['user', 'export', files, '--to', 'xep0227', '--prosody'], {cwd: seed})
  execFileSync('sh', ['-c', 'chmod 644 "$0"/*', files])
  const uid = Number(execFileSync('id', ['-u', 'prosody'], {encoding: 'utf8'}))
  const gid = Number(execFileSync('id', ['-g', 'prosody'], {encoding: 'utf8'}))
  const times = {xmppctl: [], prosody: []}
  const cpu = {xmppctl: [], prosody: []}
  const peaks = {xmppctl: 0, prosody: 0}
  for (let round_ = 0; round_ < COMPARE_ROUNDS; round_++) {
    const ours = path.join(dir, `xmppctl-${round_}`)
    mkdirSync(ours)
    writeFileSync(path.join(ours, 'xmppctl.yml'), 'hosts: [localhost]\ndata_dir: data\n')
    execFileSync('sync')
    const run = await runMeasured(['user', 'import', source, '--from', 'xep0227', '--json'], {cwd: ours})
    if (JSON.parse(run.stdout).data.rosterItems !== COMPARE_ACCOUNTS * 50) throw new Error('xmppctl wrote too few roster items')
    times.xmppctl.push(run.ms)
    cpu.xmppctl.push(run.cpuS)
    peaks.xmppctl = Math.max(peaks.xmppctl, run.peakMb)
    rmSync(ours, {recursive: true, force: true})

    const theirs = path.join(dir, `prosody-${round_}`)
    mkdirSync(theirs)
    execFileSync('chown', [`${uid}:${gid}`, theirs])
    const config = path.join(dir, 'migrator.cfg.lua')
    writeFileSync(config, `input {\n  type = "xep0227";\n  hosts = { ["localhost"] = { "accounts", "roster" } };\n}\noutput {\n  type = "internal";\n  path = ${JSON.stringify(theirs)};\n}\n`)
    execFileSync('sync')
    // mod_storage_xep0227 reads Debian's data_path (/var/lib/prosody): the files are mounted there for this command alone.
    const migrated = await commandMeasured('unshare', ['--mount', 'sh', '-c', 'mount --bind "$0" /var/lib/prosody && exec prosody-migrator --keep-going --config "$1" input output', files, config])
    if (!/Done!/.test(migrated.stderr + migrated.stdout)) throw new Error(`prosody-migrator: ${migrated.stderr}`)
    times.prosody.push(migrated.ms)
    cpu.prosody.push(migrated.cpuS)
    peaks.prosody = Math.max(peaks.prosody, migrated.peakMb)
    rmSync(theirs, {recursive: true, force: true})
  }

  const best = (list) => Math.min(...list)
  const rows = COMPARE_ACCOUNTS * 50
  return {
    compare_roster_rows: rows,
    compare_rounds: COMPARE_ROUNDS,
    compare_xmppctl_rows_per_s: round(rows / (best(times.xmppctl) / 1000)),
    compare_prosody_migrator_rows_per_s: round(rows / (best(times.prosody) / 1000)),
    compare_speed_ratio: round(best(times.prosody) / best(times.xmppctl)),
    // Work per CPU-second (user + system, sampled from /proc until exit): what a shared machine's load does not skew.
    compare_xmppctl_rows_per_cpu_s: round(rows / best(cpu.xmppctl)),
    compare_prosody_migrator_rows_per_cpu_s: round(rows / best(cpu.prosody)),
    compare_xmppctl_peak_rss_mb: peaks.xmppctl,
    compare_prosody_migrator_peak_rss_mb: peaks.prosody,
  }
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

  if (ONLY === undefined || ONLY === 'kinds') {
    for (const format of ['xep0227', 'prosody']) {
      for (const kind of Object.keys(KINDS)) {
        const {perAccount, summaryKey} = KINDS[kind]
        const accounts = Math.ceil(KIND_ROWS / perAccount)
        const run = await importKind(path.join(dir, `${format}-${kind}`), format, kind, accounts)
        const rows = accounts * perAccount
        const summary = JSON.parse(run.stdout)
        if (summary.data[summaryKey] !== rows) throw new Error(`${format} ${kind}: wrote ${summary.data[summaryKey]} of ${rows}`)
        result[`${format}_${kind}_rows_per_s`] = round(rows / (run.ms / 1000))
        result[`${format}_${kind}_peak_rss_mb`] = run.peakMb
      }
    }

    result.kind_rows = KIND_ROWS
  }

  if (ONLY === undefined || ONLY === 'compare') Object.assign(result, await compareWithProsody(path.join(dir, 'compare')))

  console.log(JSON.stringify(result))
} finally {
  rmSync(dir, {recursive: true, force: true})
}
