/**
 * Per-user data from XEP-0227 into the store: each kind lands in its table,
 * within the server's limits, and a client logged in to the server sees it.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'

import Database from '../../../src/store/sqlite/driver.js'

import {DerivePool} from '../../../src/migrate/derive-pool.js'
import {importAccounts} from '../../../src/migrate/import.js'
import {openAccountStore} from '../../../src/store/index.js'
import {STORE_FILE} from '../../../src/store/sqlite/index.js'
import {PROJECT_ROOT, runCli, tempDir, writeConfig} from '../../helpers.js'
import {iqReply, loginRaw, next, startTestServer} from '../server/helpers.js'

const FIXTURE = path.join(PROJECT_ROOT, 'test', 'fixtures', 'migrate', 'user-data.xml')

function query<T>(dataDir: string, sql: string): T[] {
  const db = new Database(path.join(dataDir, STORE_FILE), {readonly: true})
  try {
    return db.prepare(sql).all() as T[]
  } finally {
    db.close()
  }
}

describe('user import carries XEP-0227 per-user data into the store', () => {
  it('writes roster items, pending requests both ways, the vCard, offline messages with their stamps and private XML; the rest goes to the side file', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [localhost]\nauth_scram_iterations: 4096\n')
    const dry = await runCli(['user', 'import', FIXTURE, '--from', 'xep0227', '--dry-run', '--json'], {cwd: dir})
    assert.equal(dry.status, 0, dry.stderr)
    const counts = {rosterItems: 4, subscriptionRequests: 1, vcards: 1, offlineMessages: 2, privateItems: 1, pepNodes: 0, pepItems: 0, archivedMessages: 0}
    assert.deepEqual(JSON.parse(dry.stdout).data, counts)

    const run = await runCli(['user', 'import', FIXTURE, '--from', 'xep0227'], {cwd: dir})
    assert.equal(run.status, 0, run.stderr)
    assert.match(run.stdout, /^created 2\ndata: roster items 4, subscription requests 1, vCards 1, offline messages 2, private XML items 1\n/)
    assert.match(run.stderr, /alice@localhost: roster item "not a jid@@": invalid JID/)
    const data = path.join(dir, 'data')
    assert.deepEqual(query(data, "SELECT username, contact, name, subscription, ask, groups FROM roster_items WHERE host = 'localhost' ORDER BY contact"), [
      {username: 'alice', contact: 'bob@localhost', name: 'Bob & co', subscription: 'both', ask: 0, groups: '["Friends","Work"]'},
      {username: 'alice', contact: 'carol@example.net', name: null, subscription: 'to', ask: 0, groups: '[]'},
      {username: 'alice', contact: 'dave@example.net', name: null, subscription: 'from', ask: 0, groups: '[]'},
      {username: 'alice', contact: 'erin@example.net', name: null, subscription: 'none', ask: 1, groups: '[]'},
    ])
    // An imported roster has a version of its own, not the empty roster's (RFC 6121 §2.6).
    assert.deepEqual(query(data, 'SELECT username, version FROM roster_versions'), [{username: 'alice', version: 1}])
    assert.deepEqual(query(data, 'SELECT username, contact, stanza FROM subscription_requests'), [
      {username: 'alice', contact: 'frank@example.net', stanza: "<presence type='subscribe' from='frank@example.net' to='alice@localhost'><status>let me in</status></presence>"},
    ])
    assert.deepEqual(query(data, 'SELECT username, vcard FROM vcards'), [{username: 'alice', vcard: "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>alice</NICKNAME></vCard>"}])
    const offline = query<{stanza: string; created_at: number}>(data, 'SELECT stanza, created_at FROM offline_messages ORDER BY id')
    assert.equal(offline[0].stanza, "<message from='bob@localhost/pc' to='alice@localhost' type='chat' id='m1'><body>first</body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='2023-01-02T03:04:05.000Z'/></message>")
    assert.equal(offline[0].created_at, Date.parse('2023-01-02T03:04:05.000Z'))
    // A message the source kept without a stamp gets one of the import (XEP-0203), and that time.
    const stamp = /<delay xmlns='urn:xmpp:delay' from='localhost' stamp='([^']+)'\/><\/message>$/.exec(offline[1].stanza)?.[1]
    assert.ok(stamp && Math.abs(Date.parse(stamp) - Date.now()) < 60_000, offline[1].stanza)
    assert.equal(offline[1].created_at, Date.parse(stamp))
    assert.deepEqual(query(data, 'SELECT namespace, name, xml FROM private_storage'), [
      {namespace: 'storage:bookmarks', name: 'storage', xml: "<storage xmlns='storage:bookmarks'><conference jid='tea@conference.localhost' autojoin='true' name='Tea party'><nick>alice</nick></conference></storage>"},
    ])
    assert.match(run.stdout, /kept other data \(privacy lists…\) of 1 users in /)

    // A rerun writes nothing twice: the accounts are unchanged, their data left as it is.
    const rerun = JSON.parse((await runCli(['user', 'import', FIXTURE, '--from', 'xep0227', '--json'], {cwd: dir})).stdout)
    assert.deepEqual([rerun.counts.unchanged, rerun.data.rosterItems], [2, 0])
    assert.equal(query(data, 'SELECT * FROM offline_messages').length, 2)
  })

  it('stops a roster at max_roster_items and offline messages at max_user_offline_messages, naming what was left out', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [localhost]\nauth_scram_iterations: 4096\nmax_roster_items: 2\nmax_user_offline_messages: 1\n')
    const result = await runCli(['user', 'import', FIXTURE, '--from', 'xep0227', '--json'], {cwd: dir})
    assert.equal(result.status, 0, result.stderr)
    const summary = JSON.parse(result.stdout)
    assert.deepEqual([summary.data.rosterItems, summary.dataSkipped.rosterItems, summary.data.offlineMessages, summary.dataSkipped.offlineMessages], [2, 3, 1, 1])
    assert.ok(summary.dataProblems.some((problem: {reason: string}) => /roster item "erin@example.net": the roster already holds max_roster_items \(2\)/.test(problem.reason)))
    assert.equal(query(path.join(dir, 'data'), 'SELECT * FROM roster_items').length, 2)
  })

  it('a client logged in to the server sees the imported roster, pending request, vCard, offline messages and bookmarks', async (t) => {
    const test = await startTestServer(t)
    const store = await openAccountStore(test.config)
    t.after(() => store.close())
    const pool = new DerivePool()
    try {
      const result = await importAccounts({config: test.config, store}, {format: 'xep0227', source: FIXTURE, onConflict: 'skip', dryRun: false, addHosts: false, pool})
      assert.equal(result.counts.created, 2)
    } finally {
      await pool.close()
    }

    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    alice.write("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
    // The imported roster's version (RFC 6121 §2.6) is the one the import gave it: the first.
    const roster = await iqReply(alice, 'r1')
    assert.equal(
      roster.replace(/ ver='1-[0-9a-f]{12}'/, " ver='1-…'"),
      `<iq type='result' id='r1' to='${alice.jid}'><query xmlns='jabber:iq:roster' ver='1-…'>` +
        "<item jid='bob@localhost' name='Bob &amp; co' subscription='both'><group>Friends</group><group>Work</group></item>" +
        "<item jid='carol@example.net' subscription='to'/><item jid='dave@example.net' subscription='from'/>" +
        "<item jid='erin@example.net' subscription='none' ask='subscribe'/></query></iq>",
    )
    alice.write("<iq type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>")
    assert.equal(await iqReply(alice, 'v1'), `<iq type='result' id='v1' to='${alice.jid}'><vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>alice</NICKNAME></vCard></iq>`)
    alice.write("<iq type='get' id='p1'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>")
    assert.equal(
      await iqReply(alice, 'p1'),
      `<iq type='result' id='p1' to='${alice.jid}'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='tea@conference.localhost' autojoin='true' name='Tea party'><nick>alice</nick></conference></storage></query></iq>`,
    )
    // RFC 6121 §3.1.3 and §8.5.2.1.1: initial presence brings the pending request and the offline messages.
    alice.write('<presence/>')
    assert.equal(await next(alice, 'presence', "type='subscribe'"), "<presence type='subscribe' from='frank@example.net' to='alice@localhost'><status>let me in</status></presence>")
    assert.match(await next(alice, 'message', "id='m1'"), /<body>first<\/body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='2023-01-02T03:04:05.000Z'\/>/)
    assert.match(await next(alice, 'message', "id='m2'"), /<body>second<\/body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='[^']+'\/>/)
  })
})
