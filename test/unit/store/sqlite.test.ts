import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import Database from '../../../src/store/sqlite/driver.js'

import {AccountExistsError, StoreError} from '../../../src/errors.js'
import type {ScramCredentials} from '../../../src/sasl/scram.js'
import {STORE_FILE, SqliteAccountStore} from '../../../src/store/sqlite/index.js'
import {SCHEMA_VERSION} from '../../../src/store/sqlite/schema.js'
import {damageAfter, tempDir} from '../../helpers.js'

function credential(hash: ScramCredentials['hash'], iterations = 4096): ScramCredentials {
  const size = {sha1: 20, sha256: 32, sha512: 64}[hash]
  return {hash, salt: randomBytes(16), iterations, storedKey: randomBytes(size), serverKey: randomBytes(size)}
}

function open(t: {after(fn: () => void): void}): {store: SqliteAccountStore; dir: string} {
  const dir = path.join(tempDir(t), 'data')
  const store = SqliteAccountStore.open(dir)
  t.after(() => void store.close())
  return {store, dir}
}

describe('SQLite account store', () => {
  it('creates the data directory 0700 and the database 0600, with WAL', (t) => {
    const {store, dir} = open(t)
    assert.equal(statSync(dir).mode & 0o777, 0o700)
    assert.equal(statSync(path.join(dir, STORE_FILE)).mode & 0o777, 0o600)
    assert.equal(store.location, path.join(dir, STORE_FILE))
    const db = new Database(path.join(dir, STORE_FILE), {readonly: true})
    t.after(() => db.close())
    assert.equal(db.pragma('journal_mode', {simple: true}), 'wal')
    assert.equal(db.pragma('user_version', {simple: true}), SCHEMA_VERSION)
  })

  it('gives the WAL and shared-memory files the database mode, even with a permissive umask', async (t) => {
    const previous = process.umask(0o022)
    try {
      const {store, dir} = open(t)
      await store.createAccount('example.org', 'alice', {credentials: [credential('sha1')], plaintext: undefined})
      for (const suffix of ['-wal', '-shm']) {
        assert.equal(statSync(path.join(dir, STORE_FILE + suffix)).mode & 0o777, 0o600, suffix)
      }
    } finally {
      process.umask(previous)
    }
  })

  it('stores every credential of an account and reads back the same bytes', async (t) => {
    const {store} = open(t)
    const credentials = [credential('sha1'), credential('sha256'), credential('sha512')]
    await store.createAccount('example.org', 'alice', {credentials, plaintext: undefined})
    const account = await store.getAccount('example.org', 'alice')
    assert.ok(account)
    assert.equal(account.state, 'enabled')
    assert.equal(account.plaintext, undefined)
    assert.deepEqual(
      account.credentials.map((c) => [c.hash, c.salt.toString('hex'), c.iterations, c.storedKey.toString('hex'), c.serverKey.toString('hex')]),
      credentials.map((c) => [c.hash, c.salt.toString('hex'), c.iterations, c.storedKey.toString('hex'), c.serverKey.toString('hex')]),
    )
    assert.ok(Math.abs(account.createdAt.getTime() - Date.now()) < 60_000)
  })

  it('reads what a SCRAM login needs in one query: the hash asked for, the state and any plaintext', async (t) => {
    const {store} = open(t)
    const sha1 = credential('sha1', 5000)
    await store.createAccount('example.org', 'alice', {credentials: [sha1, credential('sha256')], plaintext: undefined})
    await store.createAccount('example.org', 'bob', {credentials: [], plaintext: 'pencil'})
    await store.setState('example.org', 'alice', 'disabled', 'left the company')

    const alice = await store.getLoginSecrets('example.org', 'alice', 'sha1')
    assert.equal(alice?.state, 'disabled')
    assert.equal(alice?.disabledReason, 'left the company')
    assert.equal(alice?.plaintext, undefined)
    assert.deepEqual(
      alice?.credentials && [alice.credentials.hash, alice.credentials.iterations, alice.credentials.salt.toString('hex'), alice.credentials.storedKey.toString('hex'), alice.credentials.serverKey.toString('hex')],
      ['sha1', 5000, sha1.salt.toString('hex'), sha1.storedKey.toString('hex'), sha1.serverKey.toString('hex')],
    )
    assert.equal((await store.getLoginSecrets('example.org', 'alice', 'sha512'))?.credentials, undefined, 'no row for a hash that is not stored')
    assert.deepEqual(await store.getLoginSecrets('example.org', 'bob', 'sha256'), {state: 'enabled', disabledReason: undefined, plaintext: 'pencil', credentials: undefined})
    assert.equal(await store.getLoginSecrets('example.org', 'carol', 'sha1'), undefined)
    assert.equal(await store.getLoginSecrets('example.net', 'alice', 'sha1'), undefined)
  })

  it('refuses to create an account twice and leaves the first untouched', async (t) => {
    const {store} = open(t)
    const first = credential('sha1')
    await store.createAccount('example.org', 'alice', {credentials: [first], plaintext: undefined})
    await assert.rejects(store.createAccount('example.org', 'alice', {credentials: [credential('sha256')], plaintext: 'x'}), AccountExistsError)
    const account = await store.getAccount('example.org', 'alice')
    assert.deepEqual(account?.credentials.map((c) => c.hash), ['sha1'])
    assert.equal(account?.plaintext, undefined)
  })

  it('writes an account and its credentials in one transaction', async (t) => {
    const {store} = open(t)
    const broken = {...credential('sha256'), iterations: 0} // violates the CHECK constraint after the account row is written
    await assert.rejects(store.createAccount('example.org', 'bob', {credentials: [credential('sha1'), broken], plaintext: undefined}))
    assert.equal(await store.accountExists('example.org', 'bob'), false)
    assert.equal(await store.countAccounts(), 0)
  })

  it('replaces all secrets at once, and not at all when a credential is bad', async (t) => {
    const {store} = open(t)
    await store.createAccount('example.org', 'alice', {credentials: [credential('sha1'), credential('sha256')], plaintext: undefined})
    assert.equal(await store.replaceSecrets('example.org', 'alice', {credentials: [credential('sha512', 20_000)], plaintext: undefined}), true)
    assert.deepEqual((await store.getAccount('example.org', 'alice'))?.credentials.map((c) => [c.hash, c.iterations]), [['sha512', 20_000]])
    await assert.rejects(store.replaceSecrets('example.org', 'alice', {credentials: [credential('sha1'), {...credential('sha256'), iterations: -1}], plaintext: undefined}))
    assert.deepEqual((await store.getAccount('example.org', 'alice'))?.credentials.map((c) => c.hash), ['sha512'])
    assert.equal(await store.replaceSecrets('example.org', 'nobody', {credentials: [], plaintext: 'x'}), false)
  })

  it('keeps accounts per host', async (t) => {
    const {store} = open(t)
    await store.createAccount('example.org', 'alice', {credentials: [], plaintext: 'one'})
    await store.createAccount('example.net', 'alice', {credentials: [], plaintext: 'two'})
    assert.equal((await store.getAccount('example.org', 'alice'))?.plaintext, 'one')
    assert.equal((await store.getAccount('example.net', 'alice'))?.plaintext, 'two')
    assert.equal(await store.countAccounts('example.net'), 1)
    assert.equal(await store.deleteAccount('example.net', 'alice'), true)
    assert.equal(await store.deleteAccount('example.net', 'alice'), false)
    assert.equal(await store.accountExists('example.org', 'alice'), true)
  })

  it('disables with a reason and enables again, clearing it', async (t) => {
    const {store} = open(t)
    await store.createAccount('example.org', 'mallory', {credentials: [credential('sha1')], plaintext: undefined})
    assert.equal(await store.setState('example.org', 'mallory', 'disabled', 'spam'), true)
    let account = await store.getAccount('example.org', 'mallory')
    assert.equal(account?.state, 'disabled')
    assert.equal(account?.disabledReason, 'spam')
    await store.setState('example.org', 'mallory', 'enabled')
    account = await store.getAccount('example.org', 'mallory')
    assert.equal(account?.state, 'enabled')
    assert.equal(account?.disabledReason, undefined)
    assert.equal(await store.setState('example.org', 'nobody', 'disabled'), false)
  })

  it('lists accounts in order across pages, without secrets', async (t) => {
    const {store} = open(t)
    const names = Array.from({length: 2503}, (_, index) => `user${String(index).padStart(5, '0')}`)
    for (const name of names) await store.createAccount('example.org', name, {credentials: [credential('sha256'), credential('sha1')], plaintext: undefined})
    await store.createAccount('example.net', 'zed', {credentials: [], plaintext: 'secret'})
    const listed: string[] = []
    for await (const summary of store.listAccounts('example.org')) {
      listed.push(summary.username)
      assert.deepEqual(summary.hashes, ['sha1', 'sha256'])
      assert.equal(summary.iterations, 4096)
      assert.equal('plaintext' in summary, false)
    }

    assert.deepEqual(listed, names)
    const all = []
    for await (const summary of store.listAccounts()) all.push(`${summary.username}@${summary.host}`)
    assert.equal(all.length, 2504)
    assert.equal(all[0], 'zed@example.net')
  })

  it('upgrades nothing and keeps data when reopened', async (t) => {
    const {store, dir} = open(t)
    await store.createAccount('example.org', 'alice', {credentials: [credential('sha1')], plaintext: undefined})
    await store.close()
    const again = SqliteAccountStore.open(dir)
    t.after(() => void again.close())
    assert.equal(await again.accountExists('example.org', 'alice'), true)
  })

  it('refuses a file that is not a database, and does not change it', (t) => {
    const dir = tempDir(t)
    const garbage = randomBytes(8192)
    writeFileSync(path.join(dir, STORE_FILE), garbage)
    assert.throws(() => SqliteAccountStore.open(dir), (error: unknown) => error instanceof StoreError && error.code === 'store-corrupt' && /is not a usable SQLite database/.test(error.message))
    assert.ok(existsSync(path.join(dir, STORE_FILE)))
  })

  it('refuses an existing empty (0-byte) store file instead of making it a new store, and leaves it as it was', (t) => {
    const dir = tempDir(t)
    writeFileSync(path.join(dir, STORE_FILE), '')
    assert.throws(
      () => SqliteAccountStore.open(dir),
      (error: unknown) =>
        error instanceof StoreError &&
        error.code === 'store-empty' &&
        error.exitCode === 2 &&
        error.message === `the account store ${path.join(dir, STORE_FILE)} is empty (0 bytes), not a store` &&
        /restore it from a backup/.test(error.hint ?? ''),
    )
    assert.equal(statSync(path.join(dir, STORE_FILE)).size, 0)
    assert.deepEqual(readdirSync(dir), [STORE_FILE])
  })

  it('creates a new store whole, leaving no temporary file behind', (t) => {
    const {store, dir} = open(t)
    void store
    assert.deepEqual(readdirSync(dir).filter((name) => !/^accounts\.sqlite(-wal|-shm)?$/.test(name)), [])
  })

  it('verify (server start) refuses a store whose pages are damaged, naming the file and a backup', async (t) => {
    const {store, dir} = open(t)
    const file = path.join(dir, STORE_FILE)
    // The new store's pages: the header and the schema, whose size grows with each migration.
    const schemaSize = statSync(file).size
    for (let index = 0; index < 200; index++) await store.createAccount('example.org', `user${index}`, {credentials: [credential('sha256')], plaintext: undefined})
    await store.close()
    damageAfter(file, schemaSize)
    assert.throws(
      () => SqliteAccountStore.open(dir, {verify: true}),
      (error: unknown) =>
        error instanceof StoreError && error.code === 'store-corrupt' && error.exitCode === 2 && error.message.startsWith(`the account store ${file} is damaged (`) && error.hint === 'restore it from a backup',
    )
  })

  it('verify (server start) refuses a store that lacks a table of its schema', async (t) => {
    const {store, dir} = open(t)
    await store.close()
    const db = new Database(path.join(dir, STORE_FILE))
    db.exec('DROP TABLE offline_messages')
    db.close()
    assert.throws(
      () => SqliteAccountStore.open(dir, {verify: true}),
      (error: unknown) => error instanceof StoreError && error.code === 'store-corrupt' && error.message === `the account store ${path.join(dir, STORE_FILE)} is damaged (no table offline_messages, which schema version ${SCHEMA_VERSION} has)`,
    )
  })

  it('verify passes a sound store and changes nothing in it', async (t) => {
    const {store, dir} = open(t)
    await store.createAccount('example.org', 'alice', {credentials: [credential('sha1')], plaintext: undefined})
    await store.close()
    const verified = SqliteAccountStore.open(dir, {verify: true})
    t.after(() => void verified.close())
    assert.equal(await verified.accountExists('example.org', 'alice'), true)
    const db = new Database(path.join(dir, STORE_FILE), {readonly: true})
    t.after(() => db.close())
    assert.equal(db.pragma('user_version', {simple: true}), SCHEMA_VERSION)
  })

  it("refuses another program's SQLite database", (t) => {
    const dir = tempDir(t)
    const db = new Database(path.join(dir, STORE_FILE))
    db.exec('CREATE TABLE photos (id INTEGER PRIMARY KEY)')
    db.close()
    assert.throws(() => SqliteAccountStore.open(dir), (error: unknown) => error instanceof StoreError && error.code === 'store-foreign')
  })

  it('refuses a store from a newer xmppctl', (t) => {
    const {dir} = open(t)
    const db = new Database(path.join(dir, STORE_FILE))
    db.pragma('user_version = 99')
    db.close()
    assert.throws(() => SqliteAccountStore.open(dir), (error: unknown) => error instanceof StoreError && error.code === 'store-too-new')
  })

  it('opens a new store from several processes at once without a schema race', async (t) => {
    const module = new URL('../../../src/store/sqlite/index.js', import.meta.url).href
    for (let round = 0; round < 3; round++) {
      const dir = tempDir(t)
      const script = `const {SqliteAccountStore} = await import(${JSON.stringify(module)}); const store = SqliteAccountStore.open(${JSON.stringify(dir)}); await store.close()`
      const results = await Promise.all(
        Array.from({length: 6}, () => new Promise<{status: number | null; stderr: string}>((resolve) => {
          const child = spawn(process.execPath, ['--input-type=module', '-e', script], {stdio: ['ignore', 'ignore', 'pipe']})
          let stderr = ''
          child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
          child.on('close', (status) => resolve({status, stderr}))
        })),
      )
      for (const result of results) assert.equal(result.status, 0, result.stderr)
    }
  })

  it('with create: false, refuses a missing store and creates nothing', (t) => {
    const dir = path.join(tempDir(t), 'data')
    assert.throws(() => SqliteAccountStore.open(dir, {create: false}), (error: unknown) => error instanceof StoreError && error.code === 'store-missing' && error.exitCode === 2)
    assert.equal(existsSync(dir), false)
  })

  it('reports a store locked past the busy timeout as unavailable (exit 3), not as a bug', async (t) => {
    const {store, dir} = open(t)
    const holder = new Database(path.join(dir, STORE_FILE), {timeout: 0})
    holder.prepare('BEGIN EXCLUSIVE').run()
    t.after(() => {
      holder.prepare('ROLLBACK').run()
      holder.close()
    })
    await assert.rejects(
      store.createAccount('example.org', 'alice', {credentials: [credential('sha1')], plaintext: undefined}),
      (error: unknown) => error instanceof StoreError && error.code === 'store-busy' && error.exitCode === 3,
    )
  })

  it('names the path when the data directory is a file', (t) => {
    const parent = tempDir(t)
    writeFileSync(path.join(parent, 'data'), '')
    assert.throws(() => SqliteAccountStore.open(path.join(parent, 'data')), (error: unknown) => error instanceof StoreError && error.code === 'store-unwritable' && error.message.includes(path.join(parent, 'data')))
  })
})
