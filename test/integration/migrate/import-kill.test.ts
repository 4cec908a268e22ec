import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import Database from '../../../src/store/sqlite/driver.js'

import {BIN, runCli, tempDir, writeConfig} from '../../helpers.js'

const ACCOUNTS = 60_000
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function count(file: string): {accounts: number; credentials: number; rosterItems: number} {
  try {
    const db = new Database(file, {readonly: true, timeout: 5000})
    try {
      const accounts = (db.prepare('SELECT count(*) AS n FROM accounts').get() as {n: number}).n
      const credentials = (db.prepare('SELECT count(*) AS n FROM scram_credentials').get() as {n: number}).n
      const rosterItems = (db.prepare('SELECT count(*) AS n FROM roster_items').get() as {n: number}).n
      return {accounts, credentials, rosterItems}
    } finally {
      db.close()
    }
  } catch {
    return {accounts: 0, credentials: 0, rosterItems: 0} // not created yet
  }
}

describe('user import under kill -9', () => {
  it('keeps whole batches only, and a rerun imports the rest', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [example.org]\n')
    const b64 = (bytes: number) => randomBytes(bytes).toString('base64')
    const users = Array.from(
      {length: ACCOUNTS},
      (_, index) =>
        `<user name="u${index}"><scram-credentials xmlns="urn:xmpp:pie:0#scram" mechanism="SCRAM-SHA-1"><iter-count>4096</iter-count><salt>${b64(16)}</salt><server-key>${b64(20)}</server-key><stored-key>${b64(20)}</stored-key></scram-credentials>` +
        `<query xmlns="jabber:iq:roster"><item jid="u${(index + 1) % ACCOUNTS}@example.org" subscription="both"/></query></user>`,
    )
    const source = path.join(dir, 'pie.xml')
    writeFileSync(source, `<server-data xmlns="urn:xmpp:pie:0"><host jid="example.org">\n${users.join('\n')}\n</host></server-data>\n`)
    const file = path.join(dir, 'data', 'accounts.sqlite')

    const child = spawn(process.execPath, [BIN, 'user', 'import', source, '--from', 'xep0227'], {cwd: dir, stdio: 'ignore'})
    let exited = false
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => {
      exited = true
      resolve(code)
    }))
    while (!exited && count(file).accounts === 0) await sleep(10)
    child.kill('SIGKILL')
    const code = await exit
    const partial = count(file)
    assert.equal(code, null, 'the import was killed before it finished')
    assert.ok(partial.accounts > 0 && partial.accounts < ACCOUNTS, `killed mid-run (${partial.accounts} accounts)`)
    assert.equal(partial.accounts % 5000, 0, 'only whole batches were committed')
    assert.equal(partial.credentials, partial.accounts, 'every committed account has its credentials')
    assert.equal(partial.rosterItems, partial.accounts, 'and its roster, written in the same transaction')

    const rerun = await runCli(['user', 'import', source, '--from', 'xep0227', '--json'], {cwd: dir})
    assert.equal(rerun.status, 0, rerun.stderr)
    const summary = JSON.parse(rerun.stdout)
    // What the killed run committed holds the source's credentials: unchanged, not a conflict, so the rerun exits 0.
    assert.deepEqual([summary.counts.created, summary.counts.unchanged, summary.counts.existing], [ACCOUNTS - partial.accounts, partial.accounts, 0])
    assert.deepEqual(count(file), {accounts: ACCOUNTS, credentials: ACCOUNTS, rosterItems: ACCOUNTS})
  })

  it('with every kind of per-account data, a killed import rerun equals an uninterrupted one, nothing written twice', async (t) => {
    const dir = tempDir(t)
    const b64 = (bytes: number) => randomBytes(bytes).toString('base64')
    // Ten data rows per account (2 roster items, a subscription request, 2 offline messages, a private XML item, a PEP node and
    // its item, 2 archived messages) and a vCard: DATA_ROWS_PER_BATCH (20,000) makes batches of 2,000 accounts, 3 in all.
    const users = Array.from({length: DATA_ACCOUNTS}, (_, index) => {
      const me = `d${index}@example.org`
      // The same instants in every account, as on a busy server: the archive ids collide and are given in turn (sqlite/index.ts).
      const stamp = (minute: number) => new Date(Date.UTC(2024, 0, 1) + minute * 60_000).toISOString()
      return (
        `<user name="d${index}"><scram-credentials xmlns="urn:xmpp:pie:0#scram" mechanism="SCRAM-SHA-1"><iter-count>4096</iter-count><salt>${b64(16)}</salt><server-key>${b64(20)}</server-key><stored-key>${b64(20)}</stored-key></scram-credentials>` +
        `<query xmlns="jabber:iq:roster"><item jid="d${(index + 1) % DATA_ACCOUNTS}@example.org" name="Next" subscription="both"><group>Ring</group></item><item jid="friend${index}@example.net" subscription="to"/></query>` +
        `<presence from="stranger${index}@example.net" to="${me}" type="subscribe"/>` +
        `<vCard xmlns="vcard-temp"><FN>User ${index}</FN></vCard>` +
        `<offline-messages><message from="friend${index}@example.net/pc" to="${me}" type="chat"><body>first ${index}</body><delay xmlns="urn:xmpp:delay" stamp="${stamp(1)}"/></message>` +
        `<message from="friend${index}@example.net/pc" to="${me}" type="chat"><body>second ${index}</body><delay xmlns="urn:xmpp:delay" stamp="${stamp(2)}"/></message></offline-messages>` +
        `<query xmlns="jabber:iq:private"><storage xmlns="storage:bookmarks"><conference jid="room${index}@conference.example.org" autojoin="true"/></storage></query>` +
        `<pubsub xmlns="http://jabber.org/protocol/pubsub"><items node="eu.siacs.conversations.axolotl.devicelist"><item id="current"><list xmlns="eu.siacs.conversations.axolotl"><device id="${index + 1}"/></list></item></items></pubsub>` +
        `<archive xmlns="urn:xmpp:pie:0#mam"><result xmlns="urn:xmpp:mam:2" id="a${index}"><forwarded xmlns="urn:xmpp:forward:0"><delay xmlns="urn:xmpp:delay" stamp="${stamp(3)}"/><message xmlns="jabber:client" from="friend${index}@example.net/pc" to="${me}/phone" type="chat"><body>hello ${index}</body></message></forwarded></result>` +
        `<result xmlns="urn:xmpp:mam:2" id="b${index}"><forwarded xmlns="urn:xmpp:forward:0"><delay xmlns="urn:xmpp:delay" stamp="${stamp(4)}"/><message xmlns="jabber:client" from="${me}/phone" to="friend${index}@example.net" type="chat"><body>hi ${index}</body></message></forwarded></result></archive></user>`
      )
    })
    const source = path.join(dir, 'pie.xml')
    writeFileSync(source, `<server-data xmlns="urn:xmpp:pie:0"><host jid="example.org">\n${users.join('\n')}\n</host></server-data>\n`)
    const whole = path.join(dir, 'whole')
    const killed = path.join(dir, 'killed')
    for (const where of [whole, killed]) {
      mkdirSync(where)
      writeConfig(where, 'hosts: [example.org]\n')
    }

    const uninterrupted = await runCli(['user', 'import', source, '--from', 'xep0227', '--json'], {cwd: whole})
    assert.equal(uninterrupted.status, 0, uninterrupted.stderr)
    const expected = {rosterItems: 2, subscriptionRequests: 1, vcards: 1, offlineMessages: 2, privateItems: 1, pepNodes: 1, pepItems: 1, archivedMessages: 2}
    assert.deepEqual(JSON.parse(uninterrupted.stdout).data, Object.fromEntries(Object.entries(expected).map(([kind, perAccount]) => [kind, perAccount * DATA_ACCOUNTS])))

    const file = path.join(killed, 'data', 'accounts.sqlite')
    const child = spawn(process.execPath, [BIN, 'user', 'import', source, '--from', 'xep0227'], {cwd: killed, stdio: 'ignore'})
    let exited = false
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => {
      exited = true
      resolve(code)
    }))
    while (!exited && count(file).accounts === 0) await sleep(10)
    child.kill('SIGKILL')
    assert.equal(await exit, null, 'the import was killed before it finished')
    const partial = contents(file)
    const committed = partial.counts.accounts
    assert.ok(committed > 0 && committed < DATA_ACCOUNTS, `killed mid-run (${committed} accounts)`)
    // Each committed account has all its data: a batch is one transaction.
    assert.deepEqual(partial.counts, tableCounts(committed))

    const rerun = await runCli(['user', 'import', source, '--from', 'xep0227', '--json'], {cwd: killed})
    assert.equal(rerun.status, 0, rerun.stderr)
    const summary = JSON.parse(rerun.stdout)
    assert.deepEqual([summary.counts.created, summary.counts.unchanged, summary.counts.existing], [DATA_ACCOUNTS - committed, committed, 0])
    // The rerun writes the data of the accounts it creates only: no offline message or archived message twice.
    assert.deepEqual(summary.data, Object.fromEntries(Object.entries(expected).map(([kind, perAccount]) => [kind, perAccount * (DATA_ACCOUNTS - committed)])))
    const after = contents(file)
    const reference = contents(path.join(whole, 'data', 'accounts.sqlite'))
    assert.deepEqual(after.counts, tableCounts(DATA_ACCOUNTS))
    assert.deepEqual(after, reference, 'the same rows, table by table, as the uninterrupted import')
  })
})

const DATA_ACCOUNTS = 6000

/** What each table holds after `accounts` accounts of the data test were imported. */
function tableCounts(accounts: number): Record<string, number> {
  const perAccount = {accounts: 1, scram_credentials: 1, roster_items: 2, roster_versions: 1, subscription_requests: 1, vcards: 1, offline_messages: 2, private_storage: 1, pep_nodes: 1, pep_items: 1, archive_messages: 2}
  return Object.fromEntries(Object.entries(perAccount).map(([table, rows]) => [table, rows * accounts]))
}

/**
 * Per table: its row count and a hash of its rows in a fixed order, leaving out what an import draws afresh
 * (creation times, roster epochs, PEP publication times, row numbers).
 */
function contents(file: string): {counts: Record<string, number>; hashes: Record<string, string>} {
  const queries: Record<string, string> = {
    accounts: 'SELECT host, username, state, plaintext FROM accounts ORDER BY host, username',
    scram_credentials: 'SELECT host, username, hash, hex(salt), iterations, hex(stored_key), hex(server_key) FROM scram_credentials ORDER BY host, username, hash',
    roster_items: 'SELECT host, username, contact, name, subscription, ask, approved, groups FROM roster_items ORDER BY host, username, contact',
    roster_versions: 'SELECT host, username, version FROM roster_versions ORDER BY host, username',
    subscription_requests: 'SELECT host, username, contact, stanza FROM subscription_requests ORDER BY host, username, contact',
    vcards: 'SELECT host, username, vcard FROM vcards ORDER BY host, username',
    offline_messages: 'SELECT host, username, stanza, created_at FROM offline_messages ORDER BY host, username, id',
    private_storage: 'SELECT host, username, namespace, name, xml FROM private_storage ORDER BY host, username, namespace, name',
    pep_nodes: 'SELECT host, username, node, access_model, persist_items, max_items, send_last_published_item FROM pep_nodes ORDER BY host, username, node',
    pep_items: 'SELECT host, username, node, item_id, payload, publisher FROM pep_items ORDER BY host, username, node, seq',
    archive_messages: 'SELECT host, username, id, with_jid, with_resource, stanza FROM archive_messages ORDER BY id',
  }
  const db = new Database(file, {readonly: true, timeout: 5000})
  try {
    const counts: Record<string, number> = {}
    const hashes: Record<string, string> = {}
    for (const [table, sql] of Object.entries(queries)) {
      const hash = createHash('sha256')
      let rows = 0
      for (const row of db.prepare(sql).raw().iterate()) {
        hash.update(JSON.stringify(row))
        rows++
      }

      counts[table] = rows
      hashes[table] = hash.digest('hex')
    }

    return {counts, hashes}
  } finally {
    db.close()
  }
}
