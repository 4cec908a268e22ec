/**
 * The PostgreSQL store (sql_type: pgsql, issue 18) against a private
 * PostgreSQL 15 cluster: what the SQLite store guarantees, where a pool of
 * connections could break it (the order of one account's writes, limits
 * under concurrent writers), the errors an operator meets, the commands
 * (user, db, export and import) through a configuration with ejabberd's
 * sql_* keys, and a crash of both PostgreSQL and the server losing nothing
 * that was acknowledged.
 */
import assert from 'node:assert/strict'
import {chmodSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {before, describe, it} from 'node:test'

import {Configuration} from '../../../src/config/index.js'
import {defaultSettings, type Settings} from '../../../src/config/schema.js'
import {StoreError} from '../../../src/errors.js'
import {openAccountDataStore, openAccountStore, openArchiveStore, openPepStore, openRoomStore} from '../../../src/store/index.js'
import {PostgresDatabase, postgresIdentity, postgresOptions, sameIdentity} from '../../../src/store/postgres/database.js'
import {SCHEMA_VERSION} from '../../../src/store/postgres/schema.js'
import {freePort, runCli, tempDir} from '../../helpers.js'
import {type PostgresCluster, type PostgresDatabaseInfo, postgresMissing, startPostgres, writePostgresConfig} from '../../postgres.js'
import {loginRaw, sync} from '../server/helpers.js'

// CI must run these (CI=true fails rather than skips).
const skip = process.env.CI === 'true' ? false : (postgresMissing() ?? false)

const secrets = {credentials: [], plaintext: undefined}

function configFor(t: {after(fn: () => void): void}, database: PostgresDatabaseInfo, extra: Partial<Settings> = {}): Configuration {
  const dir = tempDir(t)
  const settings: Settings = {
    ...defaultSettings(),
    sql_type: 'pgsql',
    sql_server: database.host,
    sql_port: database.port,
    sql_database: database.database,
    sql_username: database.user,
    sql_password: database.password,
    ...extra,
  }
  return new Configuration(path.join(dir, 'xmppctl.yml'), settings)
}

/** A configuration file as an operator writes one: the password in a 0600 file. */
function configFile(t: {after(fn: () => void): void}, database: PostgresDatabaseInfo, extra = ''): string {
  const dir = tempDir(t)
  writePostgresConfig(dir, database, ['hosts: [localhost]', 'auth_scram_iterations: 4096', extra])
  return dir
}

describe('the PostgreSQL store', {skip}, () => {
  let cluster: PostgresCluster
  before(async () => {
    cluster = await startPostgres('exit')
  })

  it('creates its tables in an empty database and stores what the SQLite store stores', async (t) => {
    const config = configFor(t, await cluster.createDatabase())
    const accounts = await openAccountStore(config)
    t.after(() => accounts.close())
    await accounts.createAccount('example.org', 'alice', {credentials: [], plaintext: 'pw'})
    await assert.rejects(accounts.createAccount('example.org', 'alice', secrets), /exists/)
    assert.equal(accounts.location, `postgresql://${config.settings.sql_username}@127.0.0.1:${config.settings.sql_port}/${config.settings.sql_database}`)
    const listed = []
    for await (const account of accounts.listAccounts()) listed.push([account.username, account.hasPlaintext])
    assert.deepEqual(listed, [['alice', true]])
    const data = await openAccountDataStore(config)
    t.after(() => data.close())
    const limits = {items: 2, bytes: 10_000}
    const put = await data.putItem('example.org', 'alice', {contact: 'bob@example.org', name: 'Bob', subscription: 'both', ask: false, approved: false, groups: ['Friends']}, limits)
    assert.match(typeof put === 'object' ? put.version : put, /^1-[0-9a-f]{12}$/)
    assert.deepEqual(await data.getVersionedRoster('example.org', 'alice', typeof put === 'object' ? put.version : undefined), {version: (put as {version: string}).version, items: undefined})
    assert.equal(await data.putItem('example.org', 'nobody', {contact: 'bob@example.org', name: undefined, subscription: 'none', ask: false, approved: false, groups: []}, limits), 'no-account')
    assert.equal(await data.setVcard('example.org', 'alice', '<vCard xmlns="vcard-temp"><FN>Alice</FN></vCard>'), true)
    assert.equal(await data.setVcard('example.org', 'nobody', '<vCard xmlns="vcard-temp"/>'), false)
    assert.deepEqual(await data.countAccountData('example.org', 'alice'), {
      rosterItems: 1,
      subscriptionRequests: 0,
      offlineMessages: 0,
      vcard: 1,
      privateItems: 0,
      blockedJids: 0,
      lastActivity: 0,
      pepNodes: 0,
      pepItems: 0,
      archivedMessages: 0,
      archivePreferences: 0,
    })
    // Deleting the account takes its data with it (ON DELETE CASCADE), as on SQLite.
    assert.equal(await accounts.deleteAccount('example.org', 'alice'), true)
    assert.deepEqual(await data.getRoster('example.org', 'alice'), [])
    assert.equal(await data.getVcard('example.org', 'alice'), undefined)
  })

  it('keeps one account\'s offline messages in the order they were sent, however the pool runs them', async (t) => {
    const config = configFor(t, await cluster.createDatabase(), {sql_pool_size: 8})
    const accounts = await openAccountStore(config)
    t.after(() => accounts.close())
    await accounts.createAccount('example.org', 'bob', secrets)
    const data = await openAccountDataStore(config)
    t.after(() => data.close())
    // Not awaited one by one: as the server stores messages arriving for an offline user.
    const stored = await Promise.all(Array.from({length: 60}, (_, index) => data.storeOfflineMessage('example.org', 'bob', `<message id='m${index}'/>`, 50)))
    assert.deepEqual(stored, Array.from({length: 60}, (_, index) => index < 50))
    assert.deepEqual(
      (await data.getOfflineMessages('example.org', 'bob')).map((message) => message.stanza),
      Array.from({length: 50}, (_, index) => `<message id='m${index}'/>`),
    )
  })

  it('holds a limit against writers in other processes (the account\'s row is locked while it is checked)', async (t) => {
    const database = await cluster.createDatabase()
    const first = configFor(t, database)
    const accounts = await openAccountStore(first)
    t.after(() => accounts.close())
    await accounts.createAccount('example.org', 'alice', secrets)
    // Two pools, as two server processes would have: in-process ordering cannot help here.
    const pep = [await openPepStore(first), await openPepStore(configFor(t, database, {sql_pool_size: 3}))]
    t.after(() => Promise.all(pep.map((store) => store.close())))
    const config = {accessModel: 'presence' as const, persistItems: true, maxItems: 'max' as const, sendLastPublishedItem: 'on_sub_and_presence' as const}
    const limits = {nodes: 5, maxItems: 10, totalBytes: 1_000_000}
    const results = await Promise.all(Array.from({length: 20}, (_, index) => pep[index % 2].createNode('example.org', 'alice', `node${index}`, config, limits)))
    assert.equal(results.filter((result) => result === 'created').length, 5)
    assert.equal(results.filter((result) => result === 'too-many-nodes').length, 15)
    assert.equal((await pep[0].listNodes('example.org', 'alice')).length, 5)
  })

  it('names what is wrong: nothing listening, a refused password, a missing database, another program\'s tables, a newer schema', async (t) => {
    const database = await cluster.createDatabase()
    const refusal = async (extra: Partial<Settings>) => {
      try {
        const store = await openAccountStore(configFor(t, database, extra))
        await store.close()
      } catch (error) {
        assert.ok(error instanceof StoreError, String(error))
        return [error.code, error.message]
      }

      return ['opened']
    }

    const closedPort = await freePort()
    assert.deepEqual(await refusal({sql_port: closedPort}), ['store-unavailable', `cannot reach the PostgreSQL store postgresql://${database.user}@127.0.0.1:${closedPort}/${database.database}: ECONNREFUSED`])
    const [code, message] = await refusal({sql_password: 'wrong'})
    assert.equal(code, 'store-auth')
    assert.match(message, /PostgreSQL refused the login to .*: password authentication failed for user/)
    assert.equal((await refusal({sql_database: 'absent'}))[0], 'store-missing')
    const admin = await cluster.connect(database.database)
    await admin.query(`CREATE TABLE users (username text); ALTER TABLE users OWNER TO ${database.user}`)
    assert.deepEqual(await refusal({}), ['store-foreign', `postgresql://${database.user}@127.0.0.1:${database.port}/${database.database} holds tables of another program, not an xmppctl store`])
    await admin.query('DROP TABLE users')
    assert.deepEqual(await refusal({}), ['opened'])
    await admin.query('UPDATE xmppctl_schema SET version = version + 1')
    assert.equal((await refusal({}))[0], 'store-too-new')
    await admin.end()
  })

  it('deletes an account whose archive is too large for one statement within sql_query_timeout', async (t) => {
    const database = await cluster.createDatabase()
    // One DELETE of 200,000 entries (a trigger call each) takes seconds; a batch of 10,000 a tenth of one.
    const accounts = await openAccountStore(configFor(t, database, {sql_query_timeout: 1}))
    t.after(() => accounts.close())
    for (const user of ['bob', 'carol']) await accounts.createAccount('example.org', user, secrets)
    const admin = await cluster.connect(database.database)
    t.after(() => admin.end())
    await admin.query("INSERT INTO archive_owners (host, username) VALUES ('example.org', 'bob'), ('example.org', 'carol')")
    // 200,000 messages of bob's archive, the last 10 also in carol's.
    await admin.query("INSERT INTO archive_stanzas (id, stanza, refs) SELECT g, '<message/>', CASE WHEN g > 199990 THEN 2 ELSE 1 END FROM generate_series(1, 200000) g")
    await admin.query("INSERT INTO archive_entries (owner, id, with_jid) SELECT o.owner, g, 'alice@example.org' FROM archive_owners o, generate_series(1, 200000) g WHERE o.username = 'bob'")
    await admin.query("INSERT INTO archive_entries (owner, id, with_jid) SELECT o.owner, g, 'bob@example.org' FROM archive_owners o, generate_series(199991, 200000) g WHERE o.username = 'carol'")
    assert.equal(await accounts.deleteAccount('example.org', 'bob'), true)
    assert.equal(await accounts.getAccount('example.org', 'bob'), undefined)
    const left = await admin.query("SELECT (SELECT count(*)::int FROM archive_entries) AS entries, (SELECT count(*)::int FROM archive_stanzas WHERE refs = 1) AS stanzas, (SELECT string_agg(username, ',') FROM archive_owners) AS owners")
    assert.deepEqual(left.rows, [{entries: 10, stanzas: 10, owners: 'carol'}])
    assert.equal(await accounts.deleteAccount('example.org', 'bob'), false)
  })

  it('serves the commands: db migrate on an empty database, user add, list and export, import, db status', async (t) => {
    const dir = configFile(t, await cluster.createDatabase())
    const cli = (...args: string[]) => runCli(args, {cwd: dir, stdin: 'alice pw\n'})
    const empty = await cli('db', 'status', '--json')
    assert.deepEqual([empty.status, JSON.parse(empty.stdout).state, JSON.parse(empty.stdout).engine], [1, 'absent', 'postgresql'])
    const migrated = await cli('db', 'migrate')
    assert.equal(migrated.status, 0, migrated.stderr)
    assert.match(migrated.stdout, new RegExp(`^postgresql://.*: tables created at schema ${SCHEMA_VERSION}\\n$`))
    assert.equal((await cli('user', 'add', 'alice@localhost', '--password-stdin')).status, 0)
    assert.equal((await cli('user', 'add', 'bob@localhost', '--password-stdin')).status, 0)
    const listed = await cli('user', 'list', '--json')
    assert.deepEqual(
      JSON.parse(listed.stdout).map((account: {jid: string; hashes: string[]}) => [account.jid, account.hashes]),
      [
        ['alice@localhost', ['sha1', 'sha256']],
        ['bob@localhost', ['sha1', 'sha256']],
      ],
    )
    const exported = path.join(dir, 'export.xml')
    const exporting = await cli('user', 'export', exported, '--to', 'xep0227')
    assert.equal(exporting.status, 0, exporting.stderr)
    // Into a second database: what one PostgreSQL store wrote, another reads back whole.
    const other = configFile(t, await cluster.createDatabase())
    const imported = await runCli(['user', 'import', exported, '--from', 'xep0227', '--json'], {cwd: other})
    assert.equal(imported.status, 0, imported.stderr)
    assert.equal(JSON.parse(imported.stdout).counts.created, 2)
    const current = await runCli(['db', 'status'], {cwd: other})
    assert.match(current.stdout, new RegExp(`^postgresql postgresql://x[0-9a-f]+@127\\.0\\.0\\.1:\\d+/x[0-9a-f]+: schema ${SCHEMA_VERSION}, current\\n$`))
  })

  it('refuses a password file others may read, naming the chmod', async (t) => {
    const dir = configFile(t, await cluster.createDatabase())
    const file = path.join(dir, 'sql.password')
    chmodSync(file, 0o644)
    const result = await runCli(['user', 'list'], {cwd: dir})
    assert.equal(result.status, 2)
    assert.equal(result.stderr, `error: sql_password_file ${file} is mode 0644: others may read the PostgreSQL password (chmod 600 ${file})\n`)
  })

  it('loses no acknowledged message when PostgreSQL and the server are killed with -9', async (t) => {
    const port = await freePort()
    const dir = configFile(t, await cluster.createDatabase(), `listen:\n  - {port: ${port}, ip: 127.0.0.1}\n`)
    for (const user of ['alice', 'bob']) assert.equal((await runCli(['user', 'add', `${user}@localhost`, '--password-stdin'], {cwd: dir, stdin: `${user} pw\n`})).status, 0)
    let pid = 0
    // Kept here, not read back at the end: the data directory may be gone by then.
    t.after(() => {
      try {
        process.kill(pid)
      } catch {}
    })
    const start = async () => {
      const started = await runCli(['start'], {cwd: dir})
      assert.equal(started.status, 0, started.stderr)
      pid = Number(readFileSync(path.join(dir, 'data', 'xmppctl.pid'), 'utf8'))
    }

    await start()
    const alice = await loginRaw(t, port, 'alice', 'alice pw')
    for (let index = 0; index < 40; index++) alice.write(`<message to='bob@localhost' id='m${index}' type='chat'><body>${index}</body></message>`)
    // The server answers the ping after it handled every message before it: each is stored and committed.
    await sync(alice)
    process.kill(pid, 'SIGKILL')
    // A child that is slow to notice its postmaster died (a loaded machine) keeps the old shared memory, and a new
    // postmaster refuses to start beside it: the crash must take it too. Stopped, it would never notice.
    process.kill(cluster.children()[0]!, 'SIGSTOP')
    await cluster.stop('SIGKILL')
    await cluster.restart()
    await start()
    const bob = await loginRaw(t, port, 'bob', 'bob pw')
    const received = []
    for (let index = 0; index < 40; index++) received.push(Number(/id='m(\d+)'/.exec(await bob.until(/<message [\s\S]*?<\/message>/))?.[1]))
    assert.deepEqual(received, Array.from({length: 40}, (_, index) => index))
  })

  it('knows one database however it is reached, and tells two apart, with or without pg_control_system()', async (t) => {
    const [database, other] = [await cluster.createDatabase(), await cluster.createDatabase()]
    const identity = async (host: string, info = database) => {
      const db = await PostgresDatabase.acquire({...postgresOptions(configFor(t, info)), host})
      try {
        return await postgresIdentity(db)
      } finally {
        await db.release()
      }
    }

    const identities = async () => Promise.all([identity('127.0.0.1'), identity('localhost'), identity(cluster.socketDir), identity('127.0.0.1', other)])
    const [byAddress, byName, bySocket, another] = await identities()
    assert.match(byAddress.system ?? '', /^\d+$/)
    assert.deepEqual([sameIdentity(byAddress, byName), sameIdentity(byAddress, bySocket), sameIdentity(byAddress, another)], [true, true, false])
    // An administrator may take pg_control_system() away from ordinary roles: the server's start and port then tell it apart.
    // (Each database has its own pg_catalog functions and grants.)
    for (const info of [database, other]) {
      const admin = await cluster.connect(info.database)
      try {
        await admin.query('REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC')
      } finally {
        await admin.end()
      }
    }

    const [revokedAddress, revokedName, revokedSocket, revokedOther] = await identities()
    assert.equal(revokedAddress.system, undefined)
    assert.deepEqual([sameIdentity(revokedAddress, revokedName), sameIdentity(revokedAddress, bySocket), sameIdentity(revokedAddress, revokedSocket), sameIdentity(revokedAddress, revokedOther)], [true, true, true, false])
  })
})

describe('the PostgreSQL store\'s triggers under concurrency and other collations', {skip}, () => {
  let cluster: PostgresCluster
  before(async () => {
    cluster = await startPostgres('exit')
  })

  it('takes a deleted account\'s full-JID PEP subscriptions with it in a database whose collation sorts past punctuation (ICU en-US, punctuation ignored as glibc en_US.UTF-8 does)', async (t) => {
    const database = await cluster.createDatabase()
    const admin = await cluster.connect('postgres')
    // A database of its own with ICU's English collation, punctuation shifted (alternate=shifted, as glibc's en_US.UTF-8 sorts), where "alice@example.org/phone" sorts as if the punctuation were not there.
    await admin.query(`CREATE DATABASE ${database.database}_icu OWNER ${database.user} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US-u-ka-shifted' LOCALE 'C'`)
    await admin.end()
    const config = configFor(t, {...database, database: `${database.database}_icu`})
    const accounts = await openAccountStore(config)
    t.after(() => accounts.close())
    for (const user of ['alice', 'bob']) await accounts.createAccount('example.org', user, secrets)
    const pep = await openPepStore(config)
    t.after(() => pep.close())
    const node = {accessModel: 'presence' as const, persistItems: true, maxItems: 'max' as const, sendLastPublishedItem: 'on_sub_and_presence' as const}
    assert.equal(await pep.createNode('example.org', 'bob', 'urn:xmpp:geoloc', node, {nodes: 10, maxItems: 10, totalBytes: 100_000}), 'created')
    for (const subscriber of ['alice@example.org', 'alice@example.org/phone', 'alice@example.org/1', 'alice@example.org.evil/x', 'alicea@example.org']) {
      assert.equal(await pep.subscribe('example.org', 'bob', 'urn:xmpp:geoloc', subscriber, 100), 'subscribed')
    }

    assert.equal(await accounts.deleteAccount('example.org', 'alice'), true)
    assert.deepEqual((await pep.getSubscribers('example.org', 'bob', 'urn:xmpp:geoloc')).sort(), ['alice@example.org.evil/x', 'alicea@example.org'])
  })

  it('survives PostgreSQL ending a connection in the middle of a transaction: the transaction fails, the process goes on', async (t) => {
    const database = await cluster.createDatabase()
    const db = await PostgresDatabase.acquire(postgresOptions(configFor(t, database)))
    t.after(() => db.release())
    const admin = await cluster.connect('postgres')
    t.after(() => admin.end())
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query('SELECT 1')
        // As a restart or pg_terminate_backend does: the backend goes while the transaction is open.
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()', [database.user])
        await new Promise((resolve) => setTimeout(resolve, 100))
        await tx.query('SELECT 1')
      }),
    )
    assert.deepEqual((await db.query<{one: number}>('SELECT 1 AS one')).rows, [{one: 1}])
  })

  it('gives two processes archiving into one database at the same moment ids that never collide', async (t) => {
    const database = await cluster.createDatabase()
    const config = configFor(t, database)
    const accounts = await openAccountStore(config)
    t.after(() => accounts.close())
    await accounts.createAccount('example.org', 'bob', secrets)
    // Two pools, as two server nodes have: each claims a slot of its own.
    const errors: unknown[] = []
    const onWriteError = (error: unknown) => errors.push(error)
    const archives = [await openArchiveStore(config, {onWriteError}), await openArchiveStore(configFor(t, database, {sql_pool_size: 3}), {onWriteError})]
    t.after(() => Promise.all(archives.map((archive) => archive.close())))
    const ids: string[] = []
    for (let round = 0; round < 50; round++) {
      for (const archive of archives) {
        ids.push(archive.add(`<message id='m${ids.length}'><body>${ids.length}</body></message>`, [{host: 'example.org', username: 'bob', with: 'alice@example.org', withResource: ''}]))
      }
    }

    assert.equal(new Set(ids).size, 100)
    assert.deepEqual(new Set(ids.map((id) => Number(id) % 16)).size, 2)
    // A query waits for what its store has queued: after both, every batch is written or reported lost.
    await archives[1].query('example.org', 'bob', {}, {max: 1})
    const all = await archives[0].query('example.org', 'bob', {}, {max: 250})
    assert.deepEqual(errors, [])
    assert.equal(all?.count, 100)
    // Purged in batches, and each message goes with its last entry.
    assert.equal(await archives[0].purge({before: new Date(Date.now() + 60_000), dryRun: true}), 100)
    assert.equal(await archives[0].purge({before: new Date(Date.now() + 60_000)}), 100)
    const admin = await cluster.connect(database.database)
    t.after(() => admin.end())
    assert.deepEqual((await admin.query('SELECT count(*)::int AS n FROM archive_stanzas')).rows, [{n: 0}])
  })

  it('never gives a live message the id an import gave for a time the clock has yet to reach', async (t) => {
    const database = await cluster.createDatabase()
    const config = configFor(t, database)
    const accounts = await openAccountStore(config)
    t.after(() => accounts.close())
    await accounts.createAccount('example.org', 'alice', secrets)
    const lost: unknown[] = []
    const archive = await openArchiveStore(config, {onWriteError: (error) => lost.push(error)})
    t.after(() => archive.close())
    // A message stamped an hour ahead (a clock that was wrong), imported while the server runs; then its clock gets there.
    // An even millisecond: its first microsecond is ≡ 0 (mod 16), where a process in slot 0 handed out ids.
    const ahead = (Math.floor(Date.now() / 2) + 1_800_000) * 2
    const imported = {stanza: '<message>imported</message>', at: new Date(ahead), with: 'alice@example.org', withResource: ''}
    const data = {roster: [], subscriptionRequests: [], vcard: undefined, offline: [], private: [], pep: [], archive: [imported]}
    assert.deepEqual(await accounts.importAccounts([{host: 'example.org', username: 'bob', secrets, overwrite: false, data}]), ['created'])
    t.mock.timers.enable({apis: ['Date'], now: ahead})
    const live = archive.add('<message>live</message>', [{host: 'example.org', username: 'alice', with: 'bob@example.org', withResource: ''}])
    assert.deepEqual((await archive.query('example.org', 'alice', {}, {max: 10}))?.messages.map((message) => [message.id, message.stanza]), [[live, '<message>live</message>']])
    assert.deepEqual(lost, [])
    const bob = await archive.query('example.org', 'bob', {}, {max: 10})
    assert.deepEqual(bob?.messages.map((message) => message.stanza), ['<message>imported</message>'])
    assert.notEqual(bob?.messages[0].id, live)
  })

  it('purges the archives of persistent rooms, room by room, of what is older than the date, and counts under dryRun', async (t) => {
    const database = await cluster.createDatabase()
    const config = configFor(t, database)
    const accounts = await openAccountStore(config)
    t.after(() => accounts.close())
    const rooms = await openRoomStore(config)
    t.after(() => rooms.close())
    const sql = await cluster.connect(database.database, database.user, database.password)
    t.after(() => sql.end())
    const cut = Date.UTC(2026, 0, 1) * 1000
    for (const name of ['tea', 'coffee']) {
      await sql.query("INSERT INTO muc_rooms (service, name, config, created_at) VALUES ('conference.example.org', $1, '{}', 0)", [name])
      // Two messages before the cut, one after.
      for (const id of [cut - 2, cut - 1, cut + 1]) await sql.query("INSERT INTO muc_archive (service, name, id, nick, stanza) VALUES ('conference.example.org', $1, $2, 'Nick', '<message/>')", [name, id])
    }

    const before = new Date(cut / 1000)
    assert.equal(await rooms.purgeArchive({before, dryRun: true}), 4)
    assert.equal(await rooms.purgeArchive({before, room: {service: 'conference.example.org', name: 'tea'}}), 2)
    const progress: Array<[number, number]> = []
    assert.equal(await rooms.purgeArchive({before, onProgress: (removed, total) => progress.push([removed, total])}), 2)
    assert.deepEqual(progress, [[2, 2]])
    assert.deepEqual((await sql.query('SELECT name, id FROM muc_archive ORDER BY name, id')).rows.map((row: {name: string; id: string}) => [row.name, Number(row.id)]), [['coffee', cut + 1], ['tea', cut + 1]])
  })

  it('releases one archived message from two archives deleted at once', async (t) => {
    const database = await cluster.createDatabase()
    const config = configFor(t, database)
    const accounts = await openAccountStore(config)
    t.after(() => accounts.close())
    for (const user of ['bob', 'carol']) await accounts.createAccount('example.org', user, secrets)
    const archive = await openArchiveStore(config)
    t.after(() => archive.close())
    const id = archive.add("<message from='bob@example.org' to='carol@example.org' type='chat'><body>hi</body></message>", [
      {host: 'example.org', username: 'bob', with: 'carol@example.org', withResource: ''},
      {host: 'example.org', username: 'carol', with: 'bob@example.org', withResource: ''},
    ])
    await archive.query('example.org', 'bob', {}, {max: 1})
    // The first transaction releases bob's entry and holds the message's row; the second, carol's, waits for it.
    const [first, second] = [await cluster.connect(database.database, database.user, database.password), await cluster.connect(database.database, database.user, database.password)]
    t.after(() => Promise.all([first.end(), second.end()]))
    await first.query('BEGIN')
    await first.query("DELETE FROM archive_entries WHERE owner = (SELECT owner FROM archive_owners WHERE username = 'bob')")
    const waiting = second.query("DELETE FROM archive_entries WHERE owner = (SELECT owner FROM archive_owners WHERE username = 'carol')")
    await new Promise((resolve) => setTimeout(resolve, 200))
    await first.query('COMMIT')
    assert.equal((await waiting).rowCount, 1)
    assert.deepEqual((await second.query('SELECT id FROM archive_stanzas WHERE id = $1', [Number(id)])).rows, [])
  })
})
