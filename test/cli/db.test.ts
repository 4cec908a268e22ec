/**
 * `xmppctl db status|migrate` and update_sql_schema (issue 18): the store's
 * schema version read without change, pending migrations run on request in
 * one transaction, a store from a newer xmppctl refused.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'

import Database from '../../src/store/sqlite/driver.js'
import {SCHEMA_VERSION} from '../../src/store/sqlite/schema.js'
import {runCli, tempDir, writeConfig} from '../helpers.js'

function setup(t: {after(fn: () => void): void}, extra = '') {
  const dir = tempDir(t)
  writeConfig(dir, `hosts: [example.org]\nauth_scram_iterations: 4096\n${extra}`)
  const store = path.join(dir, 'data', 'accounts.sqlite')
  return {dir, store, cli: (...args: string[]) => runCli(args, {cwd: dir, stdin: 'pw\n'})}
}

/** The store as the xmppctl before migration 12 left it. */
function rollBackTo11(file: string): void {
  const db = new Database(file)
  db.exec('DROP TRIGGER pep_subscriptions_of_deleted_account; DROP TABLE pep_subscriptions; PRAGMA user_version = 11')
  db.close()
}

const json = (result: {stdout: string}) => JSON.parse(result.stdout)

describe('db status and db migrate', () => {
  it('reports no store, then a current one, and migrate creates nothing', async (t) => {
    const {cli} = setup(t)
    const absent = await cli('db', 'status')
    assert.deepEqual([absent.status, absent.stdout], [1, `sqlite data/accounts.sqlite: no store yet (the first "xmppctl user add" or "xmppctl start" creates it at schema ${SCHEMA_VERSION})\n`])
    const nothing = await cli('db', 'migrate')
    assert.equal(nothing.status, 2)
    assert.match(nothing.stderr, /^error: there is no account store at .*accounts\.sqlite \(check data_dir and --config; "xmppctl user add" creates the store\)\n$/)
    assert.equal((await cli('user', 'add', 'alice@example.org', '--password-stdin')).status, 0)
    const current = await cli('db', 'status', '--json')
    assert.equal(current.status, 0)
    assert.deepEqual({...json(current), location: path.basename(json(current).location)}, {engine: 'sqlite', location: 'accounts.sqlite', state: 'current', version: SCHEMA_VERSION, expected: SCHEMA_VERSION, pending: [], migratesOnOpen: true})
    assert.equal((await cli('db', 'migrate')).stdout, `data/accounts.sqlite: schema ${SCHEMA_VERSION}, current: nothing to migrate\n`)
  })

  it('with update_sql_schema: false, an outdated store is refused until db migrate runs the pending migrations', async (t) => {
    const {cli, store} = setup(t, 'update_sql_schema: false\n')
    assert.equal((await cli('user', 'add', 'alice@example.org', '--password-stdin')).status, 0)
    rollBackTo11(store)
    const pending = await cli('db', 'status')
    assert.deepEqual([pending.status, pending.stdout], [
      1,
      'sqlite data/accounts.sqlite: schema 11, this xmppctl needs 12; pending:\n  12: creates pep_subscriptions\nupdate_sql_schema is false: run "xmppctl db migrate" (after a backup)\n',
    ])
    const refused = await cli('user', 'list')
    assert.equal(refused.status, 2)
    assert.match(refused.stderr, /^error: .*accounts\.sqlite has schema version 11, and this xmppctl needs 12 \(update_sql_schema is false\) \(back the store up, then run "xmppctl db migrate"; or set update_sql_schema: true to migrate at start\)\n$/)
    const db = new Database(store, {readonly: true})
    assert.equal(db.pragma('user_version', {simple: true}), 11, 'a refused open changes nothing')
    db.close()

    const migrated = await cli('db', 'migrate', '--json')
    assert.equal(migrated.status, 0, migrated.stderr)
    assert.deepEqual({...json(migrated), location: undefined}, {location: undefined, from: 11, to: 12, applied: [{version: 12, creates: ['pep_subscriptions']}]})
    assert.equal((await cli('db', 'status')).status, 0)
    assert.equal((await cli('user', 'list')).stdout, 'alice@example.org\n')
  })

  it('migrates at the next open by default, and refuses a store from a newer xmppctl', async (t) => {
    const {cli, store} = setup(t)
    assert.equal((await cli('user', 'add', 'alice@example.org', '--password-stdin')).status, 0)
    rollBackTo11(store)
    assert.equal((await cli('user', 'list')).stdout, 'alice@example.org\n')
    assert.equal(json(await cli('db', 'status', '--json')).state, 'current')

    const db = new Database(store)
    db.pragma('user_version = 99')
    db.close()
    const newer = await cli('db', 'status')
    assert.deepEqual([newer.status, newer.stdout], [2, 'sqlite data/accounts.sqlite: schema 99, newer than this xmppctl understands (12): upgrade xmppctl\n'])
    const refused = await cli('db', 'migrate')
    assert.equal(refused.status, 2)
    assert.match(refused.stderr, /has schema version 99, newer than this xmppctl understands \(12\) \(upgrade xmppctl\)\n$/)
  })
})
