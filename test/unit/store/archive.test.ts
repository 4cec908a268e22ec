/**
 * The SQLite message archive: a message two local archives hold is stored
 * once, and goes with the last archive entry that names it, whether a purge
 * or an account's deletion removed that entry; migration 7's rows survive
 * the move to this layout.
 */
import assert from 'node:assert/strict'
import {mkdirSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import Database from '../../../src/store/sqlite/driver.js'

import type {ArchiveEntry} from '../../../src/store/archive-store.js'
import {SqliteArchiveStore} from '../../../src/store/sqlite/archive.js'
import {STORE_FILE, SqliteAccountStore} from '../../../src/store/sqlite/index.js'
import {APPLICATION_ID, MIGRATIONS} from '../../../src/store/sqlite/schema.js'
import {tempDir} from '../../helpers.js'

const HOST = 'example.org'
const ALL: {max: number} = {max: 100}

function entry(username: string, other: string): ArchiveEntry {
  return {host: HOST, username, with: `${other}@${HOST}`, withResource: 'phone'}
}

async function openStores(t: {after(fn: () => Promise<void> | void): void}, dir = path.join(tempDir(t), 'data')) {
  const accounts = SqliteAccountStore.open(dir)
  const archives = SqliteArchiveStore.open(dir)
  t.after(async () => {
    await archives.close()
    await accounts.close()
  })
  for (const username of ['alice', 'bob']) await accounts.createAccount(HOST, username, {credentials: [], plaintext: 'pw'})
  return {accounts, archives, file: path.join(dir, STORE_FILE)}
}

/** What the file holds: each stored message with how many entries name it, and each archive's entries. */
function contents(file: string): {stanzas: Array<{stanza: string; refs: number}>; entries: Array<{username: string; with_jid: string}>} {
  const db = new Database(file, {readonly: true})
  try {
    return {
      stanzas: db.prepare('SELECT stanza, refs FROM archive_stanzas ORDER BY id').all() as Array<{stanza: string; refs: number}>,
      entries: db.prepare('SELECT username, with_jid FROM archive_messages ORDER BY id, username').all() as Array<{username: string; with_jid: string}>,
    }
  } finally {
    db.close()
  }
}

describe('SQLite message archive', () => {
  it('stores a message two archives hold once, under one id both archives answer with', async (t) => {
    const {archives, file} = await openStores(t)
    const id = archives.add('<message>hello</message>', [entry('alice', 'bob'), entry('bob', 'alice')])
    const alice = await archives.query(HOST, 'alice', {}, ALL)
    const bob = await archives.query(HOST, 'bob', {with: `alice@${HOST}`}, ALL)
    assert.deepEqual(alice?.messages.map((message) => [message.id, message.stanza]), [[id, '<message>hello</message>']])
    assert.deepEqual(bob?.messages.map((message) => [message.id, message.stanza]), [[id, '<message>hello</message>']])
    assert.deepEqual(contents(file).stanzas, [{stanza: '<message>hello</message>', refs: 2}])
  })

  it('keeps a message while an archive still holds it: an account\'s purge and its deletion release only its own entries', async (t) => {
    const {accounts, archives, file} = await openStores(t)
    archives.add('<message>one</message>', [entry('alice', 'bob'), entry('bob', 'alice')])
    archives.add('<message>two</message>', [entry('alice', 'bob')])
    assert.equal(await archives.purge({before: new Date(Date.now() + 60_000), account: {host: HOST, username: 'alice'}}), 2)
    assert.deepEqual(contents(file), {stanzas: [{stanza: '<message>one</message>', refs: 1}], entries: [{username: 'bob', with_jid: `alice@${HOST}`}]})

    archives.add('<message>three</message>', [entry('alice', 'bob'), entry('bob', 'alice')])
    assert.equal((await archives.query(HOST, 'bob', {}, ALL))?.count, 2)
    // The cascade from accounts to archive_owners to archive_entries fires the trigger that releases the messages.
    assert.equal(await accounts.deleteAccount(HOST, 'bob'), true)
    assert.deepEqual(contents(file), {stanzas: [{stanza: '<message>three</message>', refs: 1}], entries: [{username: 'alice', with_jid: `bob@${HOST}`}]})
  })

  it('files the messages of an account deleted and created again in its new archive, and drops those queued for an account that is gone', async (t) => {
    const {accounts, archives, file} = await openStores(t)
    archives.add('<message>before</message>', [entry('bob', 'alice')])
    assert.equal((await archives.query(HOST, 'bob', {}, ALL))?.count, 1)
    await accounts.deleteAccount(HOST, 'bob')
    await accounts.createAccount(HOST, 'bob', {credentials: [], plaintext: 'pw'})
    await accounts.createAccount(HOST, 'carol', {credentials: [], plaintext: 'pw'})
    // carol's archive is created after bob's first one is gone: were its number reused, bob's cached number would name carol's archive.
    archives.add('<message>to carol</message>', [entry('carol', 'alice')])
    await archives.query(HOST, 'carol', {}, ALL)
    archives.add('<message>after</message>', [entry('bob', 'alice'), entry('alice', 'bob')])
    archives.add('<message>lost</message>', [entry('dave', 'alice')])
    assert.deepEqual((await archives.query(HOST, 'bob', {}, ALL))?.messages.map((message) => message.stanza), ['<message>after</message>'])
    assert.deepEqual((await archives.query(HOST, 'carol', {}, ALL))?.messages.map((message) => message.stanza), ['<message>to carol</message>'])
    assert.deepEqual(
      contents(file).stanzas.map((row) => row.stanza),
      ['<message>to carol</message>', '<message>after</message>'],
    )
  })

  it('leaves out the entry of an account deleted while its message waits for the commit, and keeps the other archive\'s', async (t) => {
    const {accounts, archives, file} = await openStores(t)
    archives.add('<message>first</message>', [entry('bob', 'alice')])
    assert.equal((await archives.query(HOST, 'bob', {}, ALL))?.count, 1)
    archives.add('<message>waiting</message>', [entry('alice', 'bob'), entry('bob', 'alice')])
    // Past the turn that hands the row to the writer, which stages it under bob's cached number.
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(await accounts.deleteAccount(HOST, 'bob'), true)
    assert.deepEqual((await archives.query(HOST, 'alice', {}, ALL))?.messages.map((message) => message.stanza), ['<message>waiting</message>'])
    assert.deepEqual(contents(file), {stanzas: [{stanza: '<message>waiting</message>', refs: 1}], entries: [{username: 'alice', with_jid: `bob@${HOST}`}]})
  })

  it('purges in batches of a transaction each, and lets another connection take the write lock between two batches', async (t) => {
    const {archives, file} = await openStores(t)
    // 2,500 messages both archives hold: 5,000 entries, in batches of 1,000 messages (2,000 entries).
    for (let index = 0; index < 2500; index++) archives.add(`<message>${index}</message>`, [entry('alice', 'bob'), entry('bob', 'alice')])
    assert.equal((await archives.query(HOST, 'alice', {}, {max: 1}))?.count, 2500)
    // Another process's connection, which would fail at once rather than wait for the lock.
    const other = new Database(file, {timeout: 0})
    t.after(() => other.close())
    const events: string[] = []
    const removed = await archives.purge({
      before: new Date(Date.now() + 60_000),
      onProgress: (done, total) => {
        const left = (other.prepare('SELECT count(*) AS n FROM archive_entries').get() as {n: number}).n
        events.push(`${done} of ${total} removed, ${left} left`)
        if (done === 2000) {
          setImmediate(() => {
            other.exec('BEGIN IMMEDIATE')
            other.exec('COMMIT')
            events.push('other connection wrote')
          })
        }
      },
    })
    assert.equal(removed, 5000)
    assert.deepEqual(events, ['2000 of 5000 removed, 3000 left', 'other connection wrote', '4000 of 5000 removed, 1000 left', '5000 of 5000 removed, 0 left'])
    assert.deepEqual(contents(file), {stanzas: [], entries: []})
  })

  it('keeps what it could not write while another connection held the store past the busy timeout, and writes it once the store is free', async (t) => {
    const dir = path.join(tempDir(t), 'data')
    const accounts = SqliteAccountStore.open(dir)
    const [lost, deferred]: [number[], number[]] = [[], []]
    const archives = SqliteArchiveStore.open(dir, {onWriteError: (_error, rows) => lost.push(rows), onWriteDeferred: (_error, rows) => deferred.push(rows)})
    t.after(async () => {
      await archives.close()
      await accounts.close()
    })
    for (const username of ['alice', 'bob', 'carol']) await accounts.createAccount(HOST, username, {credentials: [], plaintext: 'pw'})
    archives.add('<message>before</message>', [entry('alice', 'bob'), entry('bob', 'alice')])
    assert.equal((await archives.query(HOST, 'alice', {}, ALL))?.count, 1)
    // Another process's long write (a purge of a large archive, an import) holds the store's write lock.
    const other = new Database(path.join(dir, STORE_FILE))
    t.after(() => other.close())
    other.exec('BEGIN IMMEDIATE')
    // alice's archive number is cached; carol's first message needs a new one, itself a write.
    archives.add('<message>while locked</message>', [entry('alice', 'carol'), entry('carol', 'alice')])
    // The query waits out the writer's busy timeout (5 s, twice: carol's number, then the move), and answers without the held message.
    assert.deepEqual((await archives.query(HOST, 'alice', {}, ALL))?.messages.map((message) => message.stanza), ['<message>before</message>'])
    assert.deepEqual([lost, deferred.at(-1)], [[], 1])
    other.exec('COMMIT')
    // The writer tries again every second: bounded wait.
    let messages: string[] | undefined
    for (let waited = 0; messages?.length !== 1 && waited < 5000; waited += 200) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      messages = (await archives.query(HOST, 'carol', {}, ALL))?.messages.map((message) => message.stanza)
    }

    assert.deepEqual(messages, ['<message>while locked</message>'])
    assert.deepEqual((await archives.query(HOST, 'alice', {}, ALL))?.messages.map((message) => message.stanza), ['<message>before</message>', '<message>while locked</message>'])
    assert.deepEqual(lost, [])
  })

  it('closes at once while another connection holds the store, after a batch it could not stage for another reason', async (t) => {
    const dir = path.join(tempDir(t), 'data')
    const accounts = SqliteAccountStore.open(dir)
    t.after(() => accounts.close())
    const lost: number[] = []
    const archives = SqliteArchiveStore.open(dir, {onWriteError: (_error, rows) => lost.push(rows)})
    for (const username of ['alice', 'bob']) await accounts.createAccount(HOST, username, {credentials: [], plaintext: 'pw'})
    archives.add('<message>before</message>', [entry('alice', 'bob')])
    assert.equal((await archives.query(HOST, 'alice', {}, ALL))?.count, 1)
    const other = new Database(path.join(dir, STORE_FILE))
    t.after(() => other.close())
    other.exec('BEGIN IMMEDIATE')
    // A row that fails in staging on something other than the lock (SQLite's NOT NULL on the stanza).
    archives.add(null as unknown as string, [entry('alice', 'bob')])
    // Before, close() ended the writer inside the busy wait of a commit with nothing to write, and the process aborted.
    await archives.close()
    // The row, and no error from a commit that found nothing to write.
    assert.deepEqual(lost, [1])
    other.exec('ROLLBACK')
  })

  it('never gives a live message the id an import gives: neither one handed out and not yet written, nor one the clock has yet to reach', async (t) => {
    const dir = path.join(tempDir(t), 'data')
    const accounts = SqliteAccountStore.open(dir)
    const lost: unknown[] = []
    const archives = SqliteArchiveStore.open(dir, {onWriteError: (error) => lost.push(error)})
    t.after(async () => {
      await archives.close()
      await accounts.close()
    })
    await accounts.createAccount(HOST, 'alice', {credentials: [], plaintext: 'pw'})
    const imported = (username: string, at: Date) => ({
      host: HOST,
      username,
      secrets: {credentials: [], plaintext: 'pw'},
      overwrite: false,
      data: {roster: [], subscriptionRequests: [], vcard: undefined, offline: [], private: [], pep: [], archive: [{stanza: `<message>imported for ${username}</message>`, at, with: `alice@${HOST}`, withResource: ''}]},
    })
    // The server archives a message (its writer commits a second later); an import in the meantime brings one of the same millisecond.
    const live = archives.add('<message>live</message>', [entry('alice', 'bob')])
    assert.deepEqual(await accounts.importAccounts([imported('bob', new Date(Math.floor(Number(live) / 1000)))]), ['created'])
    // A message stamped an hour ahead (a clock that was wrong), imported; then the server's clock gets there.
    const ahead = (Math.floor(Date.now() / 2) + 1_800_000) * 2
    assert.deepEqual(await accounts.importAccounts([imported('carol', new Date(ahead))]), ['created'])
    t.mock.timers.enable({apis: ['Date'], now: ahead})
    const later = archives.add('<message>live, later</message>', [entry('alice', 'carol')])
    const messages = (await archives.query(HOST, 'alice', {}, ALL))?.messages.map((message) => message.stanza)
    assert.deepEqual([lost, messages], [[], ['<message>live</message>', '<message>live, later</message>']])
    const db = new Database(path.join(dir, STORE_FILE), {readonly: true})
    t.after(() => db.close())
    const rows = db.prepare('SELECT username, id, stanza FROM archive_messages ORDER BY id').all() as Array<{username: string; id: number; stanza: string}>
    assert.deepEqual(rows.map((row) => [row.username, row.stanza]).sort(), [
      ['alice', '<message>live, later</message>'],
      ['alice', '<message>live</message>'],
      ['bob', '<message>imported for bob</message>'],
      ['carol', '<message>imported for carol</message>'],
    ])
    assert.equal(new Set(rows.map((row) => row.id)).size, 4)
    assert.deepEqual(rows.filter((row) => row.username === 'alice').map((row) => String(row.id)), [live, later])
  })

  it('moves the rows of migration 7\'s layout into this one, each archive keeping its messages', async (t) => {
    const dir = path.join(tempDir(t), 'data')
    // A store as the migrations before this layout left it (found by content: migrations are renumbered at merges).
    const before = MIGRATIONS.findIndex((migration) => migration.includes('CREATE TABLE archive_stanzas'))
    assert.ok(before > 0)
    mkdirSync(dir, {mode: 0o700})
    const db = new Database(path.join(dir, STORE_FILE))
    for (const migration of MIGRATIONS.slice(0, before)) db.exec(migration)
    db.pragma(`application_id = ${APPLICATION_ID}`)
    for (const username of ['alice', 'bob']) db.prepare(`INSERT INTO accounts (host, username, created_at, plaintext) VALUES ('${HOST}', ?, 0, 'pw')`).run(username)
    const insert = db.prepare(`INSERT INTO archive_messages (id, host, username, with_jid, with_resource, stanza) VALUES (?, '${HOST}', ?, ?, 'phone', ?)`)
    insert.run(1_000_001, 'alice', `bob@${HOST}`, '<message>out</message>')
    insert.run(1_000_002, 'bob', `alice@${HOST}`, '<message>in</message>')
    // Archived an hour ahead of this clock (a clock that stepped back since).
    const ahead = (Date.now() + 3_600_000) * 1000
    insert.run(ahead, 'bob', `carol@${HOST}`, '<message>other</message>')
    db.pragma(`user_version = ${before}`)
    db.close()

    const accounts = SqliteAccountStore.open(dir)
    const archives = SqliteArchiveStore.open(dir)
    t.after(async () => {
      await archives.close()
      await accounts.close()
    })
    const alice = await archives.query(HOST, 'alice', {}, ALL)
    const bob = await archives.query(HOST, 'bob', {with: `carol@${HOST}`}, ALL)
    assert.deepEqual(alice?.messages.map((message) => [message.id, message.stanza]), [['1000001', '<message>out</message>']])
    assert.deepEqual(bob?.messages.map((message) => [message.id, message.stanza]), [[String(ahead), '<message>other</message>']])
    assert.equal((await archives.query(HOST, 'bob', {}, ALL))?.count, 2)
    // Ids go on from the newest message the old layout held.
    assert.ok(Number(archives.add('<message/>', [entry('alice', 'bob')])) > ahead)
  })
})
