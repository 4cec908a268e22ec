import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'

import {COPY_TABLES, parseStoreAddress} from '../../../src/store/copy.js'
import {SqliteAccountStore} from '../../../src/store/sqlite/index.js'
import Database from '../../../src/store/sqlite/driver.js'
import {tempDir} from '../../helpers.js'

describe('db copy: store addresses and tables', () => {
  it('reads sqlite: as a data directory or its accounts.sqlite, relative to the working directory', () => {
    assert.deepEqual(parseStoreAddress('sqlite:data', '/srv'), {engine: 'sqlite', dataDir: '/srv/data', file: '/srv/data/accounts.sqlite'})
    assert.deepEqual(parseStoreAddress('sqlite:/var/lib/xmppctl/accounts.sqlite'), {engine: 'sqlite', dataDir: '/var/lib/xmppctl', file: '/var/lib/xmppctl/accounts.sqlite'})
    assert.throws(() => parseStoreAddress('sqlite:/tmp/other.db'), {message: 'sqlite:/tmp/other.db: a SQLite store is a data directory or its accounts.sqlite file'})
  })

  it('reads a PostgreSQL URL with its port, TLS mode and a socket directory, the password only from PGPASSWORD', () => {
    const saved = process.env.PGPASSWORD
    process.env.PGPASSWORD = 'from the environment'
    try {
      const address = parseStoreAddress('postgresql://xmpp@db.example.org:6543/chat?sslmode=verify-full')
      assert.deepEqual(address.engine === 'postgresql' && [address.options.host, address.options.port, address.options.database, address.options.user, address.options.ssl, address.options.password], [
        'db.example.org',
        6543,
        'chat',
        'xmpp',
        {verify: true},
        {value: 'from the environment'},
      ])
      const socket = parseStoreAddress('postgres://xmpp@%2Fvar%2Frun%2Fpostgresql/chat')
      assert.deepEqual(socket.engine === 'postgresql' && [socket.options.host, socket.options.port, socket.options.ssl], ['/var/run/postgresql', 5432, false])
    } finally {
      if (saved === undefined) delete process.env.PGPASSWORD
      else process.env.PGPASSWORD = saved
    }

    assert.throws(() => parseStoreAddress('postgresql://xmpp:hunter2@db/chat'), (error: Error) => !error.message.includes('hunter2') && /a password in the PostgreSQL URL/.test(error.message))
    // A malformed URL is named without what may be its password, even one with a slash in it.
    assert.throws(() => parseStoreAddress('postgresql://xmpp:pa/ss@db:port/chat'), {message: 'postgresql://***@db:port/chat is not a valid PostgreSQL URL'})
    assert.throws(() => parseStoreAddress('postgresql://db/chat'), {message: 'postgresql://db/chat: the URL names no user or no database'})
    assert.throws(() => parseStoreAddress('postgresql://xmpp@db/chat?sslmode=prefer'), {message: 'postgresql://xmpp@db/chat?sslmode=prefer: sslmode=prefer is not one of disable, require, verify-full'})
    assert.throws(() => parseStoreAddress('postgresql://xmpp@db/chat?application_name=x'), {message: 'postgresql://xmpp@db/chat?application_name=x: unknown parameter application_name'})
    assert.throws(() => parseStoreAddress('./data'), {message: './data names no store'})
  })

  it('copies every table a SQLite store has, in an order where each table comes after those it refers to', async (t) => {
    const dir = tempDir(t)
    await SqliteAccountStore.open(dir).close()
    const db = new Database(path.join(dir, 'accounts.sqlite'), {readonly: true})
    t.after(() => db.close())
    const tables = db.prepare<[], {name: string}>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all().map((row) => row.name)
    assert.deepEqual([...tables].sort(), [...COPY_TABLES].sort())
    for (const table of COPY_TABLES) {
      for (const reference of db.prepare<[], {table: string}>(`SELECT "table" FROM pragma_foreign_key_list('${table}')`).all()) {
        assert.ok(COPY_TABLES.indexOf(reference.table) < COPY_TABLES.indexOf(table), `${table} refers to ${reference.table}, copied after it`)
      }
    }
  })
})
