/**
 * Issue 13's proof with real clients at both ends: slixmpp (Debian
 * python3-slixmpp, test/interop/slixmpp/migrate.py) makes alice's data on a
 * real Prosody 0.12 and a real ejabberd 23.01 — a roster with bob in a group
 * subscribed both ways, carol's request left pending, a vCard, bookmarks,
 * chat archived by MAM, and messages stored while alice was offline; the
 * server's own tools export it, `xmppctl user import` reads it, and slixmpp
 * logged in to `xmppctl start` on the imported store reads it all back.
 *
 * What each source carries (and so what is checked after the import):
 * - Prosody's data directory (--from prosody), as mod_storage_internal
 *   writes it: accounts, roster with groups and pending requests, vCard
 *   (mod_vcard), private XML, PEP nodes and items (XEP-0402 bookmarks,
 *   kept by mod_bookmarks), MAM archive (mod_mam), offline messages
 *   (mod_offline): everything.
 * - ejabberd's `export_piefxis` (XEP-0227, --from xep0227): accounts, roster
 *   with groups and pending requests (as <presence type='subscribe'/>),
 *   vCard, offline messages, private XML (XEP-0048 bookmarks), privacy
 *   lists; no PEP and no MAM archive. The archive comes over from the same
 *   ejabberd's SQLite database (--from ejabberd-sql), which carries all of
 *   the above and the archive and PEP too.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'

import Database from '../../../src/store/sqlite/driver.js'

import {STORE_FILE} from '../../../src/store/sqlite/index.js'
import {PROJECT_ROOT, freePort, runCli, tempDir, writeConfig} from '../../helpers.js'
import {type SlixmppEvent, slixmppAvailable, startPython} from '../../interop/clients.js'
import {prosody, which} from './servers.js'

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
  return run.finished
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
  assert.equal(started.status, 0, started.stderr)
  const {pid} = JSON.parse(started.stdout) as {pid: number}
  t.after(() => {
    try {
      process.kill(pid)
    } catch {}
  })
  return slixmpp(t, 'read', host, port, bookmarks)
}

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
    const dir = tempDir(t)
    writeConfig(dir, `hosts: [${host}]\nauth_scram_iterations: 4096\n`)
    const imported = await runCli(['user', 'import', server.dataPath, '--from', 'prosody', '--json'], {cwd: dir})
    assert.equal(imported.status, 0, imported.stderr)
    const summary = JSON.parse(imported.stdout)
    assert.equal(summary.counts.created, 3)
    assert.deepEqual(summary.data, {rosterItems: 3, subscriptionRequests: 1, vcards: 1, offlineMessages: 2, privateItems: 0, pepNodes: 4, pepItems: 2, archivedMessages: 8})
    assert.deepEqual(summary.dataProblems, [])
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
    assert.deepEqual(event(events, 'private_bookmarks'), {rooms: rooms(host).map((room) => ({...room, autojoin: room.autojoin === 'true'}))})
    assert.deepEqual(event(events, 'archive'), {messages: ARCHIVE.map(([sender, body]) => ({from: `${sender}@${host}`, body}))})
  })
})
