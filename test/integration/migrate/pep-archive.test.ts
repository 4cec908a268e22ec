/**
 * PEP nodes and items (XEP-0163, as XEP-0227 writes them) and the message
 * archive (XEP-0313, in Prosody's urn:xmpp:pie:0#mam extension) from a
 * XEP-0227 file into the store: a client logged in to the server gets the
 * items and finds the messages by MAM, at their original dates.
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
import {iqReply, loginRaw, startTestServer} from '../server/helpers.js'

const FIXTURE = path.join(PROJECT_ROOT, 'test', 'fixtures', 'migrate', 'pep-archive.xml')

function query<T>(dataDir: string, sql: string): T[] {
  const db = new Database(path.join(dataDir, STORE_FILE), {readonly: true})
  try {
    return db.prepare(sql).all() as T[]
  } finally {
    db.close()
  }
}

const MAM_WITH_BOB =
  "<iq type='set' id='q1'><query xmlns='urn:xmpp:mam:2' queryid='f1'><x xmlns='jabber:x:data' type='submit'>" +
  "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='with'><value>bob@localhost</value></field></x></query></iq>"

describe('user import carries XEP-0227 PEP nodes, items and the archive into the store', () => {
  it('counts them in the dry run and writes each node with its configuration, the newest items within max_items, and the archive at its dates', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [localhost]\nauth_scram_iterations: 4096\n')
    const dry = await runCli(['user', 'import', FIXTURE, '--from', 'xep0227', '--dry-run', '--json'], {cwd: dir})
    assert.equal(dry.status, 0, dry.stderr)
    const summary = JSON.parse(dry.stdout)
    assert.deepEqual([summary.data.pepNodes, summary.data.pepItems, summary.data.archivedMessages], [4, 4, 3])
    assert.deepEqual([summary.dataSkipped.pepItems, summary.dataSkipped.archivedMessages], [1, 1])

    const run = await runCli(['user', 'import', FIXTURE, '--from', 'xep0227'], {cwd: dir})
    assert.equal(run.status, 0, run.stderr)
    assert.match(run.stdout, /^created 1\ndata: PEP nodes 4, PEP items 4, archived messages 3\n/)
    assert.match(run.stderr, /alice@localhost: item "old" of node "urn:xmpp:avatar:metadata": older than the node's max_items \(1\) newest, not imported/)
    assert.match(run.stderr, /alice@localhost: archived message "a4": it has no valid <delay stamp>, not imported/)
    assert.doesNotMatch(run.stdout, /kept other data/)
    const data = path.join(dir, 'data')
    assert.deepEqual(query(data, 'SELECT node, access_model, persist_items, max_items, send_last_published_item FROM pep_nodes ORDER BY node'), [
      {node: 'friends-only', access_model: 'whitelist', persist_items: 0, max_items: 1, send_last_published_item: 'on_sub_and_presence'},
      {node: 'http://jabber.org/protocol/nick', access_model: 'presence', persist_items: 1, max_items: 1, send_last_published_item: 'on_sub_and_presence'},
      {node: 'urn:xmpp:avatar:metadata', access_model: 'open', persist_items: 1, max_items: 1, send_last_published_item: 'on_sub_and_presence'},
      {node: 'urn:xmpp:bookmarks:1', access_model: 'whitelist', persist_items: 1, max_items: null, send_last_published_item: 'never'},
    ])
    // Explicit subscriptions (XEP-0060 §8.8's owner view), normalised; a pending one and one that is no JID stay out.
    assert.deepEqual(query(data, 'SELECT node, subscriber FROM pep_subscriptions ORDER BY subscriber'), [
      {node: 'urn:xmpp:avatar:metadata', subscriber: 'bob@example.net'},
      {node: 'urn:xmpp:avatar:metadata', subscriber: 'carol@localhost/phone'},
    ])
    assert.deepEqual(query(data, 'SELECT node, item_id, publisher FROM pep_items ORDER BY seq'), [
      {node: 'urn:xmpp:avatar:metadata', item_id: 'abc', publisher: 'alice@localhost'},
      {node: 'urn:xmpp:bookmarks:1', item_id: 'tea@conference.localhost', publisher: 'alice@localhost'},
      {node: 'urn:xmpp:bookmarks:1', item_id: 'cake@conference.localhost', publisher: 'alice@localhost'},
      {node: 'http://jabber.org/protocol/nick', item_id: 'current', publisher: 'alice@localhost'},
    ])
    // The archive id is the archiving time in microseconds; the old server's stanza-id is dropped.
    assert.deepEqual(query(data, 'SELECT username, id, with_jid, with_resource, stanza FROM archive_messages ORDER BY id'), [
      {username: 'alice', id: Date.parse('2023-01-02T10:00:00Z') * 1000, with_jid: 'bob@localhost', with_resource: 'pc', stanza: "<message xmlns='jabber:client' from='bob@localhost/pc' to='alice@localhost/phone' type='chat' id='x1'><body>hello alice</body></message>"},
      {username: 'alice', id: Date.parse('2023-01-02T10:01:00Z') * 1000, with_jid: 'bob@localhost', with_resource: '', stanza: "<message xmlns='jabber:client' from='alice@localhost/phone' to='bob@localhost' type='chat' id='x2'><body>hi bob</body></message>"},
      {username: 'alice', id: Date.parse('2023-01-03T08:00:00Z') * 1000, with_jid: 'carol@example.net', with_resource: '', stanza: "<message xmlns='jabber:client' from='carol@example.net' to='alice@localhost' type='chat' id='x3'><body>from carol</body></message>"},
    ])

    // A rerun finds the account unchanged and writes nothing twice.
    const rerun = JSON.parse((await runCli(['user', 'import', FIXTURE, '--from', 'xep0227', '--json'], {cwd: dir})).stdout)
    assert.deepEqual([rerun.counts.unchanged, rerun.data.pepItems, rerun.data.archivedMessages], [1, 0, 0])
    assert.equal(query(data, 'SELECT * FROM archive_messages').length, 3)
  })

  it('a client logged in to the server gets the imported PEP items and finds the archived messages by MAM', async (t) => {
    const test = await startTestServer(t)
    const store = await openAccountStore(test.config)
    t.after(() => store.close())
    const pool = new DerivePool()
    try {
      const result = await importAccounts({config: test.config, store}, {format: 'xep0227', source: FIXTURE, onConflict: 'skip', dryRun: false, addHosts: false, pool})
      assert.equal(result.counts.created, 1)
    } finally {
      await pool.close()
    }

    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    // XEP-0060 §6.5.2: the node's items, as they were published on the old server.
    alice.write("<iq type='get' id='i1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>")
    assert.equal(
      await iqReply(alice, 'i1'),
      `<iq type='result' id='i1' to='${alice.jid}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'>` +
        "<item id='tea@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1' name='Tea' autojoin='true'><nick>alice</nick></conference></item>" +
        "<item id='cake@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1' name='Cake'/></item></items></pubsub></iq>",
    )
    alice.write("<iq type='get' id='i2' to='alice@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:metadata'/></pubsub></iq>")
    assert.equal(
      await iqReply(alice, 'i2'),
      `<iq type='result' id='i2' from='alice@localhost' to='${alice.jid}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:metadata'>` +
        "<item id='abc'><metadata xmlns='urn:xmpp:avatar:metadata'><info id='abc' bytes='10' type='image/png'/></metadata></item></items></pubsub></iq>",
    )

    // XEP-0313 §4.1.1: the messages with bob, at the dates the old server archived them, then <fin/>.
    alice.write(MAM_WITH_BOB)
    const answer = await alice.until(/<iq type='result' id='q1'[\s\S]*?<\/iq>/)
    const first = Date.parse('2023-01-02T10:00:00Z') * 1000
    const second = Date.parse('2023-01-02T10:01:00Z') * 1000
    assert.equal(
      answer,
      `<message from='alice@localhost' to='${alice.jid}'><result xmlns='urn:xmpp:mam:2' queryid='f1' id='${first}'><forwarded xmlns='urn:xmpp:forward:0'>` +
        "<delay xmlns='urn:xmpp:delay' stamp='2023-01-02T10:00:00.000Z'/><message xmlns='jabber:client' from='bob@localhost/pc' to='alice@localhost/phone' type='chat' id='x1'><body>hello alice</body></message></forwarded></result></message>" +
        `<message from='alice@localhost' to='${alice.jid}'><result xmlns='urn:xmpp:mam:2' queryid='f1' id='${second}'><forwarded xmlns='urn:xmpp:forward:0'>` +
        "<delay xmlns='urn:xmpp:delay' stamp='2023-01-02T10:01:00.000Z'/><message xmlns='jabber:client' from='alice@localhost/phone' to='bob@localhost' type='chat' id='x2'><body>hi bob</body></message></forwarded></result></message>" +
        `<iq type='result' id='q1' to='${alice.jid}'><fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><first index='0'>${first}</first><last>${second}</last><count>2</count></set></fin></iq>`,
    )
  })
})
