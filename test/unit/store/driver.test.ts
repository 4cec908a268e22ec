import assert from 'node:assert/strict'
import {createRequire} from 'node:module'
import {describe, it} from 'node:test'
import v8 from 'node:v8'
import vm from 'node:vm'
import Database from '../../../src/store/sqlite/driver.js'

// src/store/sqlite/driver.ts: better-sqlite3 12 aborts Node 24 when a statement is collected; 13 crashes Node 20.
describe('the SQLite driver', () => {
  const require = createRequire(import.meta.url)
  const major = Number(process.versions.node.split('.')[0])

  it(`is better-sqlite3 ${major >= 22 ? '13 (Node-API)' : '12'} on Node ${major}`, () => {
    assert.equal(Database, require(major >= 22 ? 'better-sqlite3-napi' : 'better-sqlite3'))
  })

  it('survives statements collected while the database is open and after it closed', () => {
    const db = new Database(':memory:')
    for (let index = 0; index < 1000; index++) db.prepare(`SELECT ${index} AS n`).get()
    db.close()
    // Where better-sqlite3 12 aborted Node 24 in the suites (statement destructors run by a collection);
    // this file alone does not always reproduce it, the test above is what tells the versions apart.
    v8.setFlagsFromString('--expose-gc')
    ;(vm.runInNewContext('gc') as () => void)()
    assert.equal(new Database(':memory:').prepare('SELECT sqlite_version() AS v').get() !== undefined, true)
  })
})
