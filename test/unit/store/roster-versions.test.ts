/**
 * Roster versions (RFC 6121 §2.6) and pre-approvals (§3.4) in the SQLite
 * roster store: a new version with every change, in the change's own
 * transaction, never one seen before for the account.
 */
import assert from 'node:assert/strict'
import {mkdirSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import Database from '../../../src/store/sqlite/driver.js'

import type {RosterItem} from '../../../src/store/roster-store.js'
import {STORE_FILE, SqliteAccountStore} from '../../../src/store/sqlite/index.js'
import {SqliteAccountDataStore} from '../../../src/store/sqlite/account-data.js'
import {APPLICATION_ID, MIGRATIONS} from '../../../src/store/sqlite/schema.js'
import {tempDir} from '../../helpers.js'

const LIMITS = {items: 100, bytes: 100_000}

function item(contact: string, extra: Partial<RosterItem> = {}): RosterItem {
  return {contact, name: undefined, subscription: 'none', ask: false, approved: false, groups: [], ...extra}
}

function openStores(t: {after(fn: () => void): void}, dir = path.join(tempDir(t), 'data')): {accounts: SqliteAccountStore; rosters: SqliteAccountDataStore; dir: string} {
  const accounts = SqliteAccountStore.open(dir)
  const rosters = SqliteAccountDataStore.open(dir)
  t.after(() => {
    void rosters.close()
    void accounts.close()
  })
  return {accounts, rosters, dir}
}

async function createAccount(accounts: SqliteAccountStore, username: string): Promise<void> {
  await accounts.createAccount('example.org', username, {credentials: [], plaintext: 'pw'})
}

function stored(result: Awaited<ReturnType<SqliteAccountDataStore['putItem']>>): string {
  assert.equal(typeof result, 'object', `not stored: ${String(result)}`)
  return (result as {version: string}).version
}

describe('SQLite roster versions', () => {
  it('moves to a new version with every put and removal, and tells the current one from a stale one', async (t) => {
    const {accounts, rosters} = openStores(t)
    await createAccount(accounts, 'alice')
    assert.deepEqual(await rosters.getVersionedRoster('example.org', 'alice', undefined), {version: '0', items: []})
    const versions = [
      stored(await rosters.putItem('example.org', 'alice', item('bob@example.org'), LIMITS)),
      stored(await rosters.putItem('example.org', 'alice', item('bob@example.org'), LIMITS)),
      (await rosters.removeItem('example.org', 'alice', 'bob@example.org'))!,
      stored(await rosters.putItem('example.org', 'alice', item('bob@example.org', {approved: true}), LIMITS)),
    ]
    assert.equal(new Set(versions).size, 4, versions.join(' '))
    assert.equal(await rosters.removeItem('example.org', 'alice', 'nobody@example.org'), undefined)
    assert.equal(await rosters.getRosterVersion('example.org', 'alice'), versions[3])
    assert.deepEqual(await rosters.getVersionedRoster('example.org', 'alice', versions[3]), {version: versions[3], items: undefined})
    assert.deepEqual(await rosters.getVersionedRoster('example.org', 'alice', versions[2]), {version: versions[3], items: [item('bob@example.org', {approved: true})]})
  })

  it('a refused put leaves the version as it was', async (t) => {
    const {accounts, rosters} = openStores(t)
    await createAccount(accounts, 'alice')
    const version = stored(await rosters.putItem('example.org', 'alice', item('bob@example.org'), LIMITS))
    assert.equal(await rosters.putItem('example.org', 'alice', item('carol@example.org'), {items: 1, bytes: LIMITS.bytes}), 'roster-full')
    assert.equal(await rosters.putItem('example.org', 'nobody', item('carol@example.org'), LIMITS), 'no-account')
    assert.equal(await rosters.getRosterVersion('example.org', 'alice'), version)
    assert.equal(await rosters.getRosterVersion('example.org', 'nobody'), '0')
  })

  it('an account deleted and created again never repeats a version of the old one', async (t) => {
    const {accounts, rosters} = openStores(t)
    const seen = new Set<string>()
    for (let round = 0; round < 3; round++) {
      await createAccount(accounts, 'alice')
      for (let change = 0; change < 3; change++) {
        const version = stored(await rosters.putItem('example.org', 'alice', item(`c${change}@example.org`), LIMITS))
        assert.ok(!seen.has(version), `version ${version} seen before`)
        seen.add(version)
      }

      assert.ok(await accounts.deleteAccount('example.org', 'alice'))
    }
  })

  it('the migration gives rosters stored before it a version, and their items no pre-approval', async (t) => {
    const dir = path.join(tempDir(t), 'data')
    // A store as the migrations before roster versioning left it (found by content: migrations are renumbered at merges).
    const before = MIGRATIONS.findIndex((migration) => migration.includes('CREATE TABLE roster_versions'))
    assert.ok(before > 0)
    mkdirSync(dir, {mode: 0o700})
    const db = new Database(path.join(dir, STORE_FILE))
    for (const migration of MIGRATIONS.slice(0, before)) db.exec(migration)
    db.pragma(`application_id = ${APPLICATION_ID}`)
    for (const username of ['alice', 'bob']) db.prepare("INSERT INTO accounts (host, username, created_at, plaintext) VALUES ('example.org', ?, 0, 'pw')").run(username)
    db.prepare("INSERT INTO roster_items (host, username, contact, subscription) VALUES ('example.org', 'alice', 'carol@example.org', 'both'), ('example.org', 'alice', 'dave@example.org', 'none')").run()
    db.pragma(`user_version = ${before}`)
    db.close()

    const {rosters} = openStores(t, dir)
    const alice = await rosters.getVersionedRoster('example.org', 'alice', '0')
    assert.match(alice.version, /^1-[0-9a-f]{12}$/)
    assert.deepEqual(alice.items, [item('carol@example.org', {subscription: 'both'}), item('dave@example.org')])
    assert.equal(await rosters.getRosterVersion('example.org', 'bob'), '0')
  })
})
