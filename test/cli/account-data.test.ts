/**
 * The commands over the server's per-account data, run as a user would:
 * roster list|add|remove, offline list|purge, the counts of user info, and
 * user delete taking every table's rows of the account with it.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'

import Database from '../../src/store/sqlite/driver.js'

import {type CliResult, runCli, tempDir, writeConfig} from '../helpers.js'

const DAY = 86_400_000

async function setup(t: {after(fn: () => void): void}, config = 'hosts: [example.org]\nauth_scram_iterations: 4096\n') {
  const dir = tempDir(t)
  writeConfig(dir, config)
  const cli = (args: string[], stdin?: string): Promise<CliResult> => runCli(args, {cwd: dir, stdin})
  for (const user of ['alice', 'bob']) assert.equal((await cli(['user', 'add', `${user}@example.org`, '--password-stdin'], 'pw\n')).status, 0)
  /** The store, opened as the server opens it, for seeding rows and reading them back. */
  const store = () => {
    const db = new Database(path.join(dir, 'data', 'accounts.sqlite'))
    db.pragma('foreign_keys = ON')
    t.after(() => db.close())
    return db
  }

  return {dir, cli, store}
}

const json = (result: CliResult) => JSON.parse(result.stdout)

/** Stores an offline message for `username`, `ageMs` old. */
function storeOffline(db: Database.Database, username: string, from: string, ageMs: number): void {
  db.prepare('INSERT INTO offline_messages (host, username, stanza, created_at) VALUES (?, ?, ?, ?)').run(
    'example.org',
    username,
    `<message xmlns='jabber:client' from='${from}' to='${username}@example.org' type='chat'><body>secret text</body></message>`,
    Date.now() - ageMs,
  )
}

describe('roster list, add, remove', () => {
  it('adds items with name, groups and subscription, lists them as a table and as JSON, and removes them', async (t) => {
    const {cli} = await setup(t)
    assert.deepEqual(await cli(['roster', 'add', 'alice@example.org', 'Bob@Example.org', '--name', 'Bob', '--group', 'Friends', '--group', 'Work', '--subscription', 'both']), {
      status: 0,
      stdout: 'bob@example.org is in the roster of alice@example.org (subscription both)\n',
      stderr: '',
    })
    assert.deepEqual(json(await cli(['roster', 'add', 'alice@example.org', 'gateway.example.net', '--json'])), {
      jid: 'alice@example.org',
      contact: 'gateway.example.net',
      item: {contact: 'gateway.example.net', name: '', subscription: 'none', ask: 'none', groups: []},
    })
    assert.deepEqual(await cli(['roster', 'list', 'alice@example.org']), {
      status: 0,
      stdout: [
        'CONTACT              NAME  SUBSCRIPTION  ASK   GROUPS',
        'bob@example.org      Bob   both          none  Friends, Work',
        'gateway.example.net        none          none',
        '',
      ].join('\n'),
      stderr: '',
    })
    assert.deepEqual(json(await cli(['roster', 'list', 'alice@example.org', '--json'])).items[0], {
      contact: 'bob@example.org',
      name: 'Bob',
      subscription: 'both',
      ask: 'none',
      groups: ['Friends', 'Work'],
    })
    // Changing the name keeps the stored subscription.
    assert.equal(json(await cli(['roster', 'add', 'alice@example.org', 'bob@example.org', '--name', 'Robert', '--json'])).item.subscription, 'both')
    assert.deepEqual(await cli(['roster', 'remove', 'alice@example.org', 'bob@example.org']), {status: 0, stdout: 'removed bob@example.org from the roster of alice@example.org\n', stderr: ''})
    assert.deepEqual(json(await cli(['roster', 'list', 'alice@example.org', '--json'])).items.map((item: {contact: string}) => item.contact), ['gateway.example.net'])
    assert.deepEqual(await cli(['roster', 'list', 'bob@example.org']), {status: 0, stdout: 'the roster of bob@example.org is empty\n', stderr: ''})
  })

  it('refuses an account that does not exist, a contact not in the roster, a bad subscription and a full roster, each with one line', async (t) => {
    const {cli} = await setup(t, 'hosts: [example.org]\nauth_scram_iterations: 4096\nmax_roster_items: 1\n')
    const absent = 'error: account ghost@example.org does not exist (check the spelling, or list accounts with "xmppctl user list")\n'
    assert.deepEqual(await cli(['roster', 'add', 'ghost@example.org', 'bob@example.org']), {status: 1, stdout: '', stderr: absent})
    assert.deepEqual(await cli(['roster', 'list', 'ghost@example.org']), {status: 1, stdout: '', stderr: absent})
    assert.deepEqual(await cli(['roster', 'remove', 'alice@example.org', 'carol@example.org']), {
      status: 1,
      stdout: '',
      stderr: 'error: carol@example.org is not in the roster of alice@example.org (see the roster with "xmppctl roster list alice@example.org")\n',
    })
    const badSubscription = await cli(['roster', 'add', 'alice@example.org', 'bob@example.org', '--subscription', 'all'])
    assert.equal(badSubscription.status, 2)
    assert.match(badSubscription.stderr, /^error: Expected --subscription=all to be one of: none, to, from, both/)
    assert.equal((await cli(['roster', 'add', 'alice@example.org', 'bob@example.org'])).status, 0)
    assert.deepEqual(await cli(['roster', 'add', 'alice@example.org', 'carol@example.org']), {
      status: 2,
      stdout: '',
      stderr: 'error: the roster of alice@example.org is full (max_roster_items 1, max_roster_bytes 1048576) (remove items first, or raise the limits in the configuration)\n',
    })
    const resource = await cli(['roster', 'add', 'alice@example.org', 'bob@example.org/phone'])
    assert.equal(resource.status, 2)
    assert.match(resource.stderr, /^error: invalid JID "bob@example\.org\/phone": it has a resource part/)
  })

  it('moves the roster version with each change, and keeps a pre-approval only while the subscription leaves it open (RFC 6121 §2.6, §3.4)', async (t) => {
    const {cli, store} = await setup(t)
    const db = store()
    const version = () => (db.prepare("SELECT version FROM roster_versions WHERE host = 'example.org' AND username = 'alice'").get() as {version: number} | undefined)?.version
    const approved = () => (db.prepare("SELECT approved FROM roster_items WHERE host = 'example.org' AND username = 'alice' AND contact = 'bob@example.org'").get() as {approved: number}).approved
    assert.equal((await cli(['roster', 'add', 'alice@example.org', 'bob@example.org'])).status, 0)
    assert.equal(version(), 1)
    // As the server stores a pre-approval (presence of type subscribed before any request).
    db.prepare("UPDATE roster_items SET approved = 1 WHERE host = 'example.org' AND username = 'alice' AND contact = 'bob@example.org'").run()
    assert.equal((await cli(['roster', 'add', 'alice@example.org', 'bob@example.org', '--name', 'Bob', '--subscription', 'to'])).status, 0)
    assert.deepEqual([version(), approved()], [2, 1])
    assert.equal((await cli(['roster', 'add', 'alice@example.org', 'bob@example.org', '--subscription', 'from'])).status, 0)
    assert.deepEqual([version(), approved()], [3, 0])
    assert.equal((await cli(['roster', 'remove', 'alice@example.org', 'bob@example.org'])).status, 0)
    assert.equal(version(), 4)
    assert.equal((await cli(['roster', 'remove', 'alice@example.org', 'bob@example.org'])).status, 1)
    assert.equal(version(), 4)
  })
})

describe('offline list and purge', () => {
  it('lists who sent what when, never the text', async (t) => {
    const {cli, store} = await setup(t)
    const db = store()
    storeOffline(db, 'alice', 'bob@example.org/phone', 2 * DAY)
    storeOffline(db, 'alice', 'carol@example.net/pc', 0)
    const listed = json(await cli(['offline', 'list', 'alice@example.org', '--limit', '1', '--json']))
    assert.equal(listed.total, 2)
    assert.deepEqual(
      listed.messages.map(({from, type}: {from: string; type: string}) => ({from, type})),
      [{from: 'bob@example.org/phone', type: 'chat'}],
    )
    const human = await cli(['offline', 'list', 'alice@example.org'])
    assert.match(human.stdout, /^ID +STORED +FROM +TYPE +BYTES\n1 .* bob@example\.org\/phone +chat +\d+\n2 .* carol@example\.net\/pc +chat/)
    assert.ok(!human.stdout.includes('secret text'))
    assert.deepEqual(await cli(['offline', 'list', 'bob@example.org']), {status: 0, stdout: 'no offline messages wait for bob@example.org\n', stderr: ''})
  })

  it('deletes messages older than a duration, of one account or of all, and counts them under --dry-run', async (t) => {
    const {cli, store} = await setup(t)
    const db = store()
    for (const age of [40 * DAY, 31 * DAY, 1 * DAY]) storeOffline(db, 'alice', 'carol@example.net', age)
    for (const age of [35 * DAY, 0]) storeOffline(db, 'bob', 'carol@example.net', age)
    const remaining = (username: string) => (db.prepare('SELECT count(*) AS n FROM offline_messages WHERE username = ?').get(username) as {n: number}).n

    const dryRun = json(await cli(['offline', 'purge', '--older-than', '30d', '--dry-run', '--json']))
    assert.deepEqual({removed: dryRun.removed, dryRun: dryRun.dryRun}, {removed: 3, dryRun: true})
    assert.equal(remaining('alice') + remaining('bob'), 5)

    const one = await cli(['offline', 'purge', '--older-than', '30d', '--user', 'Alice@example.org'])
    assert.match(one.stdout, /^deleted 2 offline messages of alice@example\.org stored before \d{4}-\d\d-\d\dT[\d:.]+Z\n$/)
    assert.deepEqual([remaining('alice'), remaining('bob')], [1, 2])

    assert.deepEqual(json(await cli(['offline', 'purge', '--older-than', '30d', '--json'])).removed, 1)
    assert.deepEqual([remaining('alice'), remaining('bob')], [1, 1])
    assert.deepEqual(json(await cli(['offline', 'purge', '--user', 'bob@example.org', '--json'])), {removed: 1, dryRun: false, jid: 'bob@example.org'})
    assert.deepEqual([remaining('alice'), remaining('bob')], [1, 0])
  })

  it('refuses a purge that selects nothing by choice, a bad duration and an absent account', async (t) => {
    const {cli} = await setup(t)
    assert.deepEqual(await cli(['offline', 'purge']), {
      status: 2,
      stdout: '',
      stderr: 'error: say which offline messages to delete: --older-than, --user, or both (use "--older-than 0s" to delete every stored offline message)\n',
    })
    const bad = await cli(['offline', 'purge', '--older-than', '30 days'])
    assert.equal(bad.status, 2)
    assert.equal(bad.stderr, 'error: invalid duration "30 days": write a whole number and a unit (for example 90s, 15m, 12h, 30d or 2w)\n')
    assert.equal((await cli(['offline', 'purge', '--user', 'ghost@example.org'])).status, 1)
  })
})

describe('user info and user delete over the account\'s data', () => {
  /** Rows of `username` in every table of the store that is keyed by account (accounts included). */
  function rowsPerTable(db: Database.Database, username: string): Record<string, number> {
    const tables = (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{name: string}>).map((row) => row.name)
    const perAccount = tables.filter((table) => {
      const columns = (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{name: string}>).map((column) => column.name)
      return columns.includes('host') && columns.includes('username')
    })
    return Object.fromEntries(perAccount.map((table) => [table, (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE host = 'example.org' AND username = ?`).get(username) as {n: number}).n]))
  }

  /** One row or more of `username` in every per-account table, written as the server writes them. */
  function seed(db: Database.Database, username: string): void {
    const owner = ['example.org', username]
    db.prepare("INSERT INTO roster_items (host, username, contact, subscription, groups) VALUES (?, ?, 'carol@example.net', 'both', '[\"Friends\"]')").run(...owner)
    db.prepare("INSERT INTO roster_items (host, username, contact, approved) VALUES (?, ?, 'dave@example.net', 1)").run(...owner)
    db.prepare("INSERT INTO roster_versions (host, username, version, epoch) VALUES (?, ?, 2, '0123456789ab')").run(...owner)
    db.prepare("INSERT INTO subscription_requests (host, username, contact, stanza, created_at) VALUES (?, ?, 'eve@example.net', '<presence type=\"subscribe\"/>', 0)").run(...owner)
    storeOffline(db, username, 'carol@example.net', 0)
    db.prepare("INSERT INTO vcards (host, username, vcard) VALUES (?, ?, '<vCard xmlns=\"vcard-temp\"/>')").run(...owner)
    db.prepare("INSERT INTO private_storage (host, username, namespace, name, xml) VALUES (?, ?, 'storage:bookmarks', 'storage', '<storage xmlns=\"storage:bookmarks\"/>')").run(...owner)
    db.prepare("INSERT INTO last_activity (host, username, at, status) VALUES (?, ?, 0, 'gone')").run(...owner)
    db.prepare("INSERT INTO blocklist_items (host, username, jid) VALUES (?, ?, 'spam.example.net')").run(...owner)
    db.prepare("INSERT INTO pep_nodes (host, username, node, access_model, persist_items, max_items, send_last_published_item) VALUES (?, ?, 'urn:xmpp:avatar:metadata', 'presence', 1, 1, 'on_sub_and_presence')").run(...owner)
    db.prepare("INSERT INTO pep_subscriptions (host, username, node, subscriber, subscribed_at) VALUES (?, ?, 'urn:xmpp:avatar:metadata', 'carol@example.net', 0)").run(...owner)
    const archived = username === 'alice' ? 1 : 2
    db.prepare("INSERT INTO archive_stanzas (id, stanza, refs) VALUES (?, '<message/>', 1)").run(archived)
    const {number} = db.prepare<[string, string], {number: number}>('INSERT INTO archive_owners (host, username) VALUES (?, ?) RETURNING owner AS number').get(owner[0], owner[1])!
    db.prepare("INSERT INTO archive_entries (owner, id, with_jid) VALUES (?, ?, 'carol@example.net')").run(number, archived)
    db.prepare("INSERT INTO archive_prefs (host, username, mode) VALUES (?, ?, 'roster')").run(...owner)
    db.prepare("INSERT INTO pep_items (host, username, node, item_id, payload, publisher, published_at) VALUES (?, ?, 'urn:xmpp:avatar:metadata', 'current', '<metadata xmlns=\"urn:xmpp:avatar:metadata\"/>', ?, 0)").run(...owner, `${username}@example.org`)
  }

  it('user info counts each area of the account\'s stored data', async (t) => {
    const {cli, store} = await setup(t)
    seed(store(), 'alice')
    const info = json(await cli(['user', 'info', 'alice@example.org', '--json']))
    assert.deepEqual(info.data, {rosterItems: 2, subscriptionRequests: 1, offlineMessages: 1, vcard: 1, privateItems: 1, blockedJids: 1, lastActivity: 1, pepNodes: 1, pepItems: 1, archivedMessages: 1, archivePreferences: 1})
    assert.deepEqual(json(await cli(['user', 'info', 'bob@example.org', '--json'])).data, {
      rosterItems: 0,
      subscriptionRequests: 0,
      offlineMessages: 0,
      vcard: 0,
      privateItems: 0,
      blockedJids: 0,
      lastActivity: 0,
      pepNodes: 0,
      pepItems: 0,
      archivedMessages: 0,
      archivePreferences: 0,
    })
    const human = (await cli(['user', 'info', 'alice@example.org'])).stdout
    assert.match(human, /^roster items: +2$/m)
    assert.match(human, /^pending requests: +1$/m)
    assert.match(human, /^offline messages: +1$/m)
  })

  it('user delete removes the account\'s rows from every table, and only its rows', async (t) => {
    const {cli, store} = await setup(t)
    const db = store()
    seed(db, 'alice')
    seed(db, 'bob')
    const before = rowsPerTable(db, 'alice')
    // Every per-account table holds alice's data: a table added later without a seed here fails this line.
    assert.deepEqual(Object.entries(before).filter(([, rows]) => rows === 0), [])
    // Alice's own subscriptions to bob's node, by her bare and a full JID, go with her account; another user's whose name extends hers stays.
    const subscribe = db.prepare("INSERT INTO pep_subscriptions (host, username, node, subscriber, subscribed_at) VALUES ('example.org', 'bob', 'urn:xmpp:avatar:metadata', ?, 0)")
    for (const subscriber of ['alice@example.org', 'alice@example.org/phone', 'alice@example.org.evil', 'alice2@example.org']) subscribe.run(subscriber)
    const deleted = await cli(['user', 'delete', 'alice@example.org', '--force'])
    assert.equal(deleted.status, 0, deleted.stderr)
    assert.deepEqual(rowsPerTable(db, 'alice'), Object.fromEntries(Object.keys(before).map((table) => [table, 0])))
    assert.deepEqual(rowsPerTable(db, 'bob'), {...before, accounts: 1, scram_credentials: 2, pep_subscriptions: 3})
    assert.deepEqual(
      (db.prepare("SELECT subscriber FROM pep_subscriptions WHERE username = 'bob' ORDER BY subscriber").all() as Array<{subscriber: string}>).map((row) => row.subscriber),
      ['alice2@example.org', 'alice@example.org.evil', 'carol@example.net'],
    )
  })
})
