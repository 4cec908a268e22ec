/**
 * Issue 13's proof with real clients at both ends: slixmpp (Debian
 * python3-slixmpp, test/interop/slixmpp/migrate.py) makes alice's data on a
 * real Prosody 0.12 and a real ejabberd 23.01 — a roster with bob in a group
 * subscribed both ways, carol's request left pending, a vCard, bookmarks,
 * chat archived by MAM, and messages stored while alice was offline; the
 * server's own tools export it, `xmppctl user import` reads it, and slixmpp
 * logged in to `xmppctl start` on the imported store reads it all back.
 *
 * What each source carries, and so what is checked after the import:
 * - Prosody 0.12 has no export command of its own: its data directory, as
 *   mod_storage_internal writes it, is the export (--from prosody). It
 *   carries all of it: accounts (SCRAM-SHA-1), roster with names, groups and
 *   pending inbound requests, vCard (mod_vcard), private XML (none here:
 *   mod_bookmarks keeps XEP-0048 in PEP), PEP nodes and items (XEP-0402
 *   bookmarks), the MAM archive (mod_mam) and offline messages (mod_offline).
 * - ejabberd's `export_piefxis` (XEP-0227, --from xep0227) carries accounts
 *   (SCRAM-SHA-1), roster with names and groups, pending inbound requests
 *   (as <presence type='subscribe'/>), vCard, offline messages, private XML
 *   (XEP-0048 bookmarks) and privacy lists (none made here); no PEP and no
 *   MAM archive: alice's archive is empty after it. The same server's SQLite
 *   database (--from ejabberd-sql) carries all of that and the archive (and
 *   PEP, which this server, without mod_pubsub, has none of): it is read
 *   back too.
 */
import assert from 'node:assert/strict'
import {readdirSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import Database from '../../../src/store/sqlite/driver.js'

import {STORE_FILE} from '../../../src/store/sqlite/index.js'
import {PROJECT_ROOT, freePort, runCli, tempDir, writeConfig} from '../../helpers.js'
import {type SlixmppEvent, slixmppAvailable, startPython} from '../../interop/clients.js'
import {ejabberd, prosody, which} from './servers.js'

const SCRIPT = path.join(PROJECT_ROOT, 'test', 'interop', 'slixmpp', 'migrate.py')
const PASSWORDS = {alice: 'alice pw', bob: 'bob pw', carol: 'carol pw'}
const CHAT = [
  ['alice', 'bob', 'hello bob'],
  ['bob', 'alice', 'hi alice ✓'],
]
const OFFLINE = ['are you there?', 'call me back']
/** alice's archive with bob, oldest first: the chat, then what bob sent while she was away (MAM keeps those too). */
const ARCHIVE = [...CHAT.map(([sender, , body]) => [sender, body]), ...OFFLINE.map((body) => ['bob', body])]
const VCARD = {fn: 'Alice Liddell', nickname: 'Ally'}
const rooms = (host: string) => [
  {jid: `tea@conference.${host}`, name: 'Tea party', autojoin: 'true', nick: 'alice'},
  {jid: `cake@conference.${host}`, name: 'Cake', autojoin: 'false', nick: 'ally'},
]

// Under CI the tests run, and fail, without the servers or slixmpp: they must not pass by skipping.
function missing(...binaries: string[]): string | false {
  if (process.env.CI === 'true') return false
  if (!slixmppAvailable) return 'python3-slixmpp is not installed'
  const absent = binaries.filter((binary) => !which(binary))
  return absent.length > 0 ? `${absent.join(', ')} not found: install Debian packages prosody and ejabberd` : false
}

type Context = {after(fn: () => unknown): void}

function storeRows(dir: string, sql: string): unknown[] {
  const db = new Database(path.join(dir, 'data', STORE_FILE), {readonly: true})
  try {
    return db.prepare(sql).all()
  } finally {
    db.close()
  }
}

/** migrate.py with `scenario` against 127.0.0.1:`port`: its events, failing on an exception it reports or on no `done`. */
async function slixmpp(t: Context, scenario: 'fill' | 'read', host: string, port: number, bookmarks: 'pep' | 'private'): Promise<SlixmppEvent[]> {
  // The old servers have no certificate: SCRAM-SHA-1 in the clear on loopback. On xmppctl (STARTTLS) slixmpp chooses, as it would for a user.
  const mechanism = scenario === 'fill' ? 'SCRAM-SHA-1' : undefined
  const run = startPython(t, SCRIPT, {scenario, host, port, passwords: PASSWORDS, chat: CHAT, offline: OFFLINE, vcard: VCARD, rooms: rooms(host), bookmarks, mechanism, timeout: 60})
  await run.next('done', 90_000)
  // It exits once it has printed done; bounded all the same.
  let timer: NodeJS.Timeout | undefined
  const exited = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`migrate.py ${scenario} did not exit within 10 s`)), 10_000)
  })
  try {
    return await Promise.race([run.finished, exited])
  } finally {
    clearTimeout(timer)
  }
}

const event = (events: SlixmppEvent[], name: string): SlixmppEvent => {
  const found = events.find((candidate) => candidate.event === name)
  assert.ok(found, `no ${name} in ${JSON.stringify(events)}`)
  const {event: _, ...rest} = found
  return rest as SlixmppEvent
}

/** `xmppctl start` on `dir`'s store (host `host`, one c2s port), stopped when the test ends; slixmpp logs in as alice and reads. */
async function readBack(t: Context, dir: string, host: string, bookmarks: 'pep' | 'private'): Promise<SlixmppEvent[]> {
  const port = await freePort()
  writeConfig(dir, `hosts: [${host}]\nauth_scram_iterations: 4096\nlisten:\n  - {port: ${port}, ip: 127.0.0.1}\n`)
  const started = await runCli(['start', '--json'], {cwd: dir, timeoutMs: 60_000})
  assert.equal(started.status, 0, started.stdout + started.stderr)
  const {pid} = JSON.parse(started.stdout) as {pid: number}
  t.after(() => {
    try {
      process.kill(pid)
    } catch {}
  })
  return slixmpp(t, 'read', host, port, bookmarks)
}

/** `xmppctl user import SOURCE --from FORMAT` into a fresh directory for `host`: the directory and the data counted; the three accounts are created, with no data problem. */
async function importInto(t: Context, host: string, source: string, format: 'prosody' | 'xep0227' | 'ejabberd-sql'): Promise<{dir: string; data: Record<string, number>}> {
  const dir = tempDir(t)
  writeConfig(dir, `hosts: [${host}]\nauth_scram_iterations: 4096\n`)
  const imported = await runCli(['user', 'import', source, '--from', format, '--json'], {cwd: dir, timeoutMs: 120_000})
  assert.equal(imported.status, 0, imported.stderr)
  const summary = JSON.parse(imported.stdout) as {counts: {created: number}; data: Record<string, number>; dataProblems: unknown[]}
  assert.equal(summary.counts.created, 3)
  assert.deepEqual(summary.dataProblems, [])
  return {dir, data: summary.data}
}

/** The rooms as slixmpp reads them from XEP-0048 private storage (autojoin a boolean). */
const privateRooms = (host: string) => rooms(host).map((room) => ({...room, autojoin: room.autojoin === 'true'}))
const archiveWithBob = (host: string) => ({messages: ARCHIVE.map(([sender, body]) => ({from: `${sender}@${host}`, body}))})

/** What alice reads on xmppctl whichever server she came from. */
function assertCommon(events: SlixmppEvent[], host: string, window: {from: number; to: number}): void {
  assert.deepEqual(event(events, 'roster'), {
    items: {[`bob@${host}`]: {name: 'Bob', subscription: 'both', ask: '', groups: ['Friends']}},
  })
  assert.deepEqual(event(events, 'requests'), {jids: [`carol@${host}`]})
  const {messages} = event(events, 'offline') as unknown as {messages: Array<{from: string; body: string; stamp: string}>}
  assert.deepEqual(
    messages.map(({from, body}) => ({from, body})),
    OFFLINE.map((body) => ({from: `bob@${host}/slix`, body})),
  )
  // XEP-0203: stamped when the old server stored them, not when xmppctl delivered them.
  for (const {stamp} of messages) assert.ok(Date.parse(stamp) >= window.from - 1000 && Date.parse(stamp) <= window.to + 1000, `${stamp} is not within the fill`)
  // slixmpp reads NICKNAME as a list (vCard 3.0 allows several, comma-separated).
  assert.deepEqual(event(events, 'vcard'), {fn: VCARD.fn, nickname: [VCARD.nickname]})
}

describe('migration proved with real clients: slixmpp fills Prosody and ejabberd, reads it back from xmppctl', {skip: missing('prosodyctl', 'prosody', 'ejabberdctl'), timeout: 600_000}, () => {
  it('Prosody 0.12: roster, pending request, vCard, XEP-0402 bookmarks, offline messages and the MAM archive', async (t) => {
    const host = 'pro.test'
    const port = await freePort()
    const server = prosody(t, {hashed: [host], plain: []}, {
      c2sPort: port,
      modules: ['roster', 'saslauth', 'disco', 'private', 'vcard', 'pep', 'bookmarks', 'mam', 'offline'],
      settings: ['default_archive_policy = true'],
    })
    for (const [user, password] of Object.entries(PASSWORDS)) await server.register(user, host, password)
    await server.start()
    const from = Date.now()
    const filled = await slixmpp(t, 'fill', host, port, 'pep')
    const to = Date.now()
    assert.deepEqual(filled.map((entry) => entry.event), ['subscribed', 'pending', 'published', 'chatted', 'sent_offline', 'done'], JSON.stringify(filled))
    await server.stop()

    // Prosody's own files are the export.
    const {dir, data} = await importInto(t, host, server.dataPath, 'prosody')
    assert.deepEqual(data, {rosterItems: 3, subscriptionRequests: 1, vcards: 1, offlineMessages: 2, privateItems: 0, pepNodes: 4, pepItems: 2, archivedMessages: 8})
    // Prosody's mod_bookmarks makes an empty legacy storage:bookmarks node (XEP-0048 §3.3) for each user who logs in.
    assert.deepEqual(storeRows(dir, 'SELECT username, node FROM pep_nodes ORDER BY username, node'), [
      {username: 'alice', node: 'storage:bookmarks'},
      {username: 'alice', node: 'urn:xmpp:bookmarks:1'},
      {username: 'bob', node: 'storage:bookmarks'},
      {username: 'carol', node: 'storage:bookmarks'},
    ])

    const events = await readBack(t, dir, host, 'pep')
    assertCommon(events, host, {from, to})
    assert.deepEqual(event(events, 'pep_bookmarks'), {rooms: rooms(host)})
    // The same rooms through XEP-0048 private storage: xmppctl answers it from the XEP-0402 node (XEP-0411).
    assert.deepEqual(event(events, 'private_bookmarks'), {rooms: privateRooms(host)})
    assert.deepEqual(event(events, 'archive'), archiveWithBob(host))
  })

  it('ejabberd 23.01: export_piefxis carries roster, pending request, vCard, XEP-0048 bookmarks and offline messages; its SQLite database the archive too', async (t) => {
    const host = 'ej.test'
    const sql = ['mod_roster: {db_type: sql}', 'mod_vcard: {db_type: sql}', 'mod_offline: {db_type: sql}', 'mod_private: {db_type: sql}', 'mod_mam: {db_type: sql, default: always}']
    const server = await ejabberd(t, {hosts: [host], sqlite: 'multi-host', modules: sql})
    const ctl = async (...args: string[]) => {
      const result = await server.ctl(...args)
      assert.equal(result.status, 0, `ejabberdctl ${args[0]}: ${result.stdout}${result.stderr}`)
      return result.stdout
    }

    for (const [user, password] of Object.entries(PASSWORDS)) await ctl('register', user, host, password)
    const from = Date.now()
    const filled = await slixmpp(t, 'fill', host, server.port, 'private')
    const to = Date.now()
    assert.deepEqual(filled.map((entry) => entry.event), ['subscribed', 'pending', 'published', 'chatted', 'sent_offline', 'done'], JSON.stringify(filled))
    // ejabberd's own view before the export.
    assert.equal(await ctl('get_offline_count', 'alice', host), `${OFFLINE.length}\n`)

    const exportDir = server.owned('export')
    await ctl('export_piefxis', exportDir)
    const main = readdirSync(exportDir).filter((name) => !name.includes('_'))
    assert.equal(main.length, 1, readdirSync(exportDir).join(', '))
    const piefxis = await importInto(t, host, path.join(exportDir, main[0]), 'xep0227')
    // alice's and bob's items for each other, carol's for alice (asked); no PEP, no archive in a piefxis file.
    assert.deepEqual(piefxis.data, {rosterItems: 3, subscriptionRequests: 1, vcards: 1, offlineMessages: 2, privateItems: 1, pepNodes: 0, pepItems: 0, archivedMessages: 0})
    // The same server's SQLite database: all of that, and both archives: four messages in alice's, the same four in bob's (no mod_pubsub, so no PEP).
    const database = await importInto(t, host, server.database!, 'ejabberd-sql')
    assert.deepEqual(database.data, {...piefxis.data, archivedMessages: 8})

    for (const [dir, archive] of [[piefxis.dir, {messages: []}], [database.dir, archiveWithBob(host)]] as const) {
      const events = await readBack(t, dir, host, 'private')
      assertCommon(events, host, {from, to})
      assert.deepEqual(event(events, 'private_bookmarks'), {rooms: privateRooms(host)})
      // And the same rooms as XEP-0402 items, which xmppctl makes of the private ones (XEP-0411); autojoin false is left out.
      assert.deepEqual(event(events, 'pep_bookmarks'), {rooms: rooms(host).map((room) => ({...room, autojoin: room.autojoin === 'true' ? 'true' : null}))})
      assert.deepEqual(event(events, 'archive'), archive)
    }
  })
})
