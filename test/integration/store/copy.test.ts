/**
 * `xmppctl db copy` between SQLite and a private PostgreSQL 15 cluster:
 * a store holding every kind of data goes to PostgreSQL and back, and
 * comes back row for row; a copy that dies part way (thrown, and killed
 * with -9) resumes to the same end; the target refuses to open until then;
 * the commands refuse what would lose data.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {copyFileSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {before, describe, it} from 'node:test'

import type pg from 'pg'

import {loadConfig} from '../../../src/config/index.js'
import {COPY_TABLES, copyStore, parseStoreAddress} from '../../../src/store/copy.js'
import {openAccountDataStore, openAccountStore, openArchiveStore, openPepStore, openRoomStore} from '../../../src/store/index.js'
import Database from '../../../src/store/sqlite/driver.js'
import {BIN, PROJECT_ROOT, freePort, runCli, tempDir, writeConfig} from '../../helpers.js'
import {type PostgresCluster, type PostgresDatabaseInfo, postgresMissing, startPostgres, writePostgresConfig} from '../../postgres.js'

// CI must run these (CI=true fails rather than skips).
const skip = process.env.CI === 'true' ? false : (postgresMissing() ?? false)

const FIXTURES = path.join(PROJECT_ROOT, 'test', 'fixtures', 'migrate')

type Dump = Record<string, string[]>

/** Every row of every table, as comparable text (bytes in hex), sorted: the engines' collations may order keys differently. */
function normalised(rows: Array<Record<string, unknown>>): string[] {
  return rows
    .map((row) => JSON.stringify(Object.keys(row).sort().map((column) => [column, Buffer.isBuffer(row[column]) ? `hex:${(row[column] as Buffer).toString('hex')}` : row[column]])))
    .sort()
}

function dumpSqlite(dataDir: string): Dump {
  const db = new Database(path.join(dataDir, 'accounts.sqlite'), {readonly: true})
  try {
    return Object.fromEntries(COPY_TABLES.map((table) => [table, normalised(db.prepare(`SELECT * FROM ${table}`).all() as Array<Record<string, unknown>>)]))
  } finally {
    db.close()
  }
}

async function dumpPostgres(cluster: PostgresCluster, database: PostgresDatabaseInfo): Promise<Dump> {
  const client: pg.Client = await cluster.connect(database.database)
  try {
    const dump: Dump = {}
    for (const table of COPY_TABLES) {
      // int8 as numbers, as the store reads them (every one fits: ids are microseconds).
      const {rows} = await client.query({text: `SELECT * FROM ${table}`, types: {getTypeParser: (oid: number, format?: string) => (oid === 20 ? Number : (client as unknown as {getTypeParser: typeof client.getTypeParser}).getTypeParser(oid, format as 'text'))}} as pg.QueryConfig)
      dump[table] = normalised(rows as Array<Record<string, unknown>>)
    }

    return dump
  } finally {
    await client.end()
  }
}

/** A SQLite store with every kind of row: two imports (rosters, vCards, offline, private XML, PEP, archive), then rooms, blocking, last activity, preferences, a PEP subscription. */
async function filledStore(t: {after(fn: () => unknown): void}): Promise<string> {
  const dir = tempDir(t)
  writeConfig(dir, 'hosts: [localhost, example.net]\nauth_scram_iterations: 4096\n')
  // The same fixture's accounts a second time, on another host: both fixtures have an alice@localhost.
  writeFileSync(path.join(dir, 'user-data.xml'), readFileSync(path.join(FIXTURES, 'user-data.xml'), 'utf8').replace("<host jid='localhost'>", "<host jid='example.net'>"))
  for (const source of [path.join(FIXTURES, 'pep-archive.xml'), path.join(dir, 'user-data.xml')]) {
    const imported = await runCli(['user', 'import', source, '--from', 'xep0227', '--allow-partial'], {cwd: dir})
    assert.equal(imported.status, 0, imported.stderr)
  }

  for (const args of [
    ['muc', 'create', 'lounge@conference.localhost', '--owner', 'alice@localhost', '--name', 'Lounge'],
    ['muc', 'affiliation', 'lounge@conference.localhost', 'bob@example.net', 'outcast', '--reason', 'spam'],
  ]) {
    const result = await runCli(args, {cwd: dir})
    assert.equal(result.status, 0, result.stderr)
  }

  const config = loadConfig(path.join(dir, 'xmppctl.yml'))
  const accounts = await openAccountStore(config)
  const data = await openAccountDataStore(config)
  const pep = await openPepStore(config)
  const rooms = await openRoomStore(config)
  const archive = await openArchiveStore(config)
  try {
    assert.deepEqual(await data.addToBlocklist('example.net', 'alice', ['spammer@example.org', 'example.com'], 100), 'stored')
    await data.setLastActivity('example.net', 'bob', new Date(1_700_000_000_000), 'gone fishing')
    assert.equal(await archive.setPrefs('localhost', 'alice', {mode: 'roster', always: ['carol@example.org'], never: ['mallory@example.org']}), true)
    const [node] = await pep.listNodes('localhost', 'alice')
    assert.equal(await pep.subscribe('localhost', 'alice', node.node, 'alice@example.net/phone', 100), 'subscribed')
    assert.match((await rooms.archiveMessage('conference.localhost', 'lounge', 'alice', "<message type='groupchat'><body>hello room</body></message>")) ?? '', /^\d+$/)
  } finally {
    await Promise.all([archive.close(), rooms.close(), pep.close(), data.close(), accounts.close()])
  }

  return dir
}

function pgConfig(dir: string, database: PostgresDatabaseInfo, extra = ''): void {
  writePostgresConfig(dir, database, ['hosts: [localhost, example.net]', extra])
}

describe('db copy between SQLite and PostgreSQL', {skip}, () => {
  let cluster: PostgresCluster
  before(async () => {
    cluster = await startPostgres('exit')
  })

  it('moves every row to PostgreSQL and back unchanged, and the copies serve', async (t) => {
    const source = await filledStore(t)
    const original = dumpSqlite(path.join(source, 'data'))
    for (const table of COPY_TABLES.filter((name) => !['roster_versions'].includes(name))) assert.ok(original[table].length > 0, `the fixture store has no ${table} rows`)
    const database = await cluster.createDatabase()
    const site = tempDir(t)
    pgConfig(site, database)
    const there = await runCli(['db', 'copy', '--from', `sqlite:${path.join(source, 'data')}`, '--json'], {cwd: site})
    assert.equal(there.status, 0, there.stderr)
    const result = JSON.parse(there.stdout) as {resumed: boolean; rows: number; tables: Array<{table: string; rows: number}>}
    assert.equal(result.resumed, false)
    assert.deepEqual(result.tables, COPY_TABLES.map((table) => ({table, rows: original[table].length})))
    assert.deepEqual(await dumpPostgres(cluster, database), original)

    // The PostgreSQL copy serves: a new offline message and PEP item get ids past the copied ones.
    const config = loadConfig(path.join(site, 'xmppctl.yml'))
    const accounts = await openAccountStore(config)
    t.after(() => accounts.close())
    const data = await openAccountDataStore(config)
    t.after(() => data.close())
    const before = (await data.getOfflineMessages('example.net', 'alice')).length
    assert.equal(await data.storeOfflineMessage('example.net', 'alice', "<message id='after-copy'/>", 1000), true)
    const offline = await data.getOfflineMessages('example.net', 'alice')
    assert.deepEqual([offline.length, offline.at(-1)?.stanza], [before + 1, "<message id='after-copy'/>"])

    const back = tempDir(t)
    const home = await runCli(['db', 'copy', '--to', `sqlite:${path.join(back, 'data')}`], {cwd: site})
    assert.equal(home.status, 0, home.stderr)
    assert.match(home.stdout, /^copied \d+ rows from postgresql:\/\/\S+ to \S+accounts\.sqlite; every table's row count matches\n$/m)
    const returned = dumpSqlite(path.join(back, 'data'))
    assert.equal(returned.offline_messages.length, original.offline_messages.length + 1)
    returned.offline_messages = returned.offline_messages.filter((row) => !row.includes('after-copy'))
    assert.deepEqual(returned, original)
  })

  it('resumes a copy that died part way, and the target refuses to open until it is done', async (t) => {
    const source = await filledStore(t)
    const original = dumpSqlite(path.join(source, 'data'))
    const database = await cluster.createDatabase()
    process.env.PGPASSWORD = database.password
    t.after(() => delete process.env.PGPASSWORD)
    const from = parseStoreAddress(`sqlite:${path.join(source, 'data')}`)
    const to = parseStoreAddress(`postgresql://${database.user}@127.0.0.1:${database.port}/${database.database}`)
    class Crash extends Error {}
    // Batches of 3 rows; the copy dies after the first batch past row 20 is committed.
    await assert.rejects(
      copyStore(from, to, {
        batchRows: 3,
        onProgress: (done) => {
          if (done > 20) throw new Crash()
        },
      }),
      Crash,
    )
    const site = tempDir(t)
    pgConfig(site, database)
    const refused = await runCli(['user', 'list'], {cwd: site})
    assert.equal(refused.status, 2)
    assert.match(refused.stderr, /^error: postgresql:\/\/\S+ is the target of an unfinished "xmppctl db copy" \(rerun the same "xmppctl db copy" to finish it\)\n$/)
    // The same rows from another place are another source: the copy will not mix two.
    const other = tempDir(t)
    mkdirSync(path.join(other, 'data'))
    copyFileSync(path.join(source, 'data', 'accounts.sqlite'), path.join(other, 'data', 'accounts.sqlite'))
    await assert.rejects(copyStore(parseStoreAddress(`sqlite:${path.join(other, 'data')}`), to), (error: Error & {code?: string}) => {
      assert.equal(error.code, 'copy-other-source')
      assert.equal(error.message, `postgresql://${database.user}@127.0.0.1:${database.port}/${database.database} holds an unfinished copy from ${path.join(source, 'data', 'accounts.sqlite')}, not from ${path.join(other, 'data', 'accounts.sqlite')}`)
      return true
    })

    // A row already copied changes in the source before the rerun: the counts still agree, the rows do not.
    const sourceDb = new Database(path.join(source, 'data', 'accounts.sqlite'))
    t.after(() => sourceDb.close())
    const firstAccount = sourceDb.prepare<[], {host: string; username: string}>('SELECT host, username FROM accounts ORDER BY host, username LIMIT 1').get()!
    sourceDb.prepare("UPDATE accounts SET disabled_reason = 'changed' WHERE host = ? AND username = ?").run(firstAccount.host, firstAccount.username)
    await assert.rejects(copyStore(from, to, {batchRows: 3}), {
      code: 'copy-incomplete',
      message: `rows of accounts differ between ${path.join(source, 'data', 'accounts.sqlite')} and postgresql://${database.user}@127.0.0.1:${database.port}/${database.database}: the source changed between the runs of this copy`,
    })
    sourceDb.prepare('UPDATE accounts SET disabled_reason = NULL WHERE host = ? AND username = ?').run(firstAccount.host, firstAccount.username)
    const finished = await copyStore(from, to, {batchRows: 3})
    assert.equal(finished.resumed, true)
    assert.deepEqual(await dumpPostgres(cluster, database), original)
    assert.equal((await runCli(['user', 'list'], {cwd: site})).status, 0)
  })

  it('survives kill -9 of the copying process', async (t) => {
    const source = await filledStore(t)
    // Enough rows that the copy is still running when it is killed: 3,000 offline messages.
    const db = new Database(path.join(source, 'data', 'accounts.sqlite'))
    const insert = db.prepare("INSERT INTO offline_messages (host, username, stanza, created_at) VALUES ('localhost', 'alice', ?, 1700000000000)")
    db.transaction(() => {
      for (let index = 0; index < 3000; index++) insert.run(`<message id='bulk${index}'><body>${'x'.repeat(2000)}</body></message>`)
    })()
    db.close()
    const original = dumpSqlite(path.join(source, 'data'))
    const database = await cluster.createDatabase()
    const site = tempDir(t)
    pgConfig(site, database)
    const args = [BIN, 'db', 'copy', '--from', `sqlite:${path.join(source, 'data')}`]
    // Killed once the target shows rows (bounded: 200 polls of 10 ms), wherever the copy then is.
    const child = spawn(process.execPath, args, {cwd: site, stdio: 'ignore'})
    const exited = new Promise((resolve) => child.on('exit', resolve))
    const admin = await cluster.connect(database.database)
    t.after(() => admin.end())
    for (let poll = 0; poll < 200; poll++) {
      const marker = await admin.query("SELECT to_regclass('xmppctl_copy_progress') AS marker")
      if (marker.rows[0].marker && (await admin.query('SELECT count(*)::int AS n FROM xmppctl_copy_progress')).rows[0].n > 1) break
      await new Promise((resolve) => setTimeout(resolve, 10))
    }

    child.kill('SIGKILL')
    await exited
    // Killed part way: the target still carries the copy's progress, and holds only some of the rows.
    assert.ok((await admin.query("SELECT to_regclass('xmppctl_copy_progress') AS marker")).rows[0].marker, 'the copy finished before it was killed')
    assert.ok((await admin.query('SELECT count(*)::int AS n FROM offline_messages')).rows[0].n < original.offline_messages.length)
    const rerun = await runCli(args.slice(1), {cwd: site})
    assert.equal(rerun.status, 0, rerun.stderr)
    assert.deepEqual(await dumpPostgres(cluster, database), original)
  })

  it('refuses what would lose data or leak a password', async (t) => {
    const source = await filledStore(t)
    const database = await cluster.createDatabase()
    const site = tempDir(t)
    const port = await freePort()
    pgConfig(site, database, `listen:\n  - {port: ${port}, ip: 127.0.0.1}\n`)
    const cases: Array<[string[], RegExp]> = [
      [['db', 'copy'], /^error: db copy needs --from or --to \(the other side is the configuration's store; for example: xmppctl db copy --from sqlite:\.\/data\)\n$/],
      [['db', 'copy', '--to', 'postgresql://x:secret@127.0.0.1/x'], /^error: a password in the PostgreSQL URL would be visible to every user of this machine \(ps\) \(remove it from the URL and set PGPASSWORD, or keep it in ~\/\.pgpass\)\n$/],
      [['db', 'copy', '--to', 'mysql://x@127.0.0.1/x'], /^error: mysql:\/\/x@127\.0\.0\.1\/x names no store \(give sqlite:DATA_DIR or postgresql:\/\/USER@HOST:PORT\/DATABASE\)\n$/],
      [['db', 'copy', '--from', `sqlite:${path.join(source, 'data')}`, '--to', `sqlite:${path.join(source, 'data', 'accounts.sqlite')}`], /^error: --from and --to are the same store/],
    ]
    for (const [args, expected] of cases) {
      const result = await runCli(args, {cwd: site})
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`)
      assert.match(result.stderr, expected)
      assert.doesNotMatch(result.stderr, /secret/)
    }

    // One database however it is reached: localhost or 127.0.0.1, TCP or the Unix socket.
    const byName = `postgresql://${database.user}@localhost:${database.port}/${database.database}`
    const bySocket = `postgresql://${database.user}@${encodeURIComponent(cluster.socketDir)}:${database.port}/${database.database}`
    const byAddress = `postgresql://${database.user}@127.0.0.1:${database.port}/${database.database}`
    const env = {PGPASSWORD: database.password}
    for (const [from, to] of [[byName, byAddress], [bySocket, byName]]) {
      const same = await runCli(['db', 'copy', '--from', from, '--to', to], {cwd: site, env})
      assert.equal(same.status, 2, same.stderr)
      assert.match(same.stderr, /^error: --from and --to are the same store, postgresql:\/\/\S+ \(also reached as postgresql:\/\/\S+\) \(copy into another data directory or database\)\n$/)
    }

    // A target that holds data is never written to.
    assert.equal((await runCli(['user', 'add', 'zed@localhost', '--password-stdin'], {cwd: site, stdin: 'zed pw\n'})).status, 0)
    const full = await runCli(['db', 'copy', '--from', `sqlite:${path.join(source, 'data')}`], {cwd: site})
    assert.equal(full.status, 2)
    assert.match(full.stderr, /^error: postgresql:\/\/\S+ already holds data \(1 row in accounts\) \(copy into an empty store: a new data directory, or a new database\)\n$/)

    // The server running on the source: refused, unless --live.
    const started = await runCli(['start'], {cwd: site})
    assert.equal(started.status, 0, started.stderr)
    // Stopped by its pid: the hooks that remove the test's directories run first.
    const pid = Number(readFileSync(path.join(site, 'data', 'xmppctl.pid'), 'utf8'))
    t.after(() => {
      try {
        process.kill(pid)
      } catch {}
    })
    const target = tempDir(t)
    const running = await runCli(['db', 'copy', '--to', `sqlite:${target}`], {cwd: site})
    assert.equal(running.status, 2)
    assert.match(running.stderr, /^error: the server is running on postgresql:\/\/\S+: what it writes after the copy starts would not be copied \(stop it first with "xmppctl stop", or pass --live to copy the store as it is now\)\n$/)
    // The server's store spelled otherwise is still its store: as the source (refused unless --live), and as the target.
    for (const from of [byName, bySocket]) {
      const spelled = await runCli(['db', 'copy', '--from', from, '--to', `sqlite:${target}`], {cwd: site, env})
      assert.equal(spelled.status, 2, spelled.stderr)
      assert.match(spelled.stderr, /^error: the server is running on postgresql:\/\/\S+: what it writes after the copy starts would not be copied/)
    }

    const into = await runCli(['db', 'copy', '--from', `sqlite:${path.join(source, 'data')}`, '--to', byName, '--live'], {cwd: site, env})
    assert.equal(into.status, 2, into.stderr)
    assert.match(into.stderr, /^error: the server is running on postgresql:\/\/\S+@localhost:\d+\/\w+, the copy's target \(stop it first: xmppctl stop\)\n$/)
    const live = await runCli(['db', 'copy', '--to', `sqlite:${target}`, '--live', '--json'], {cwd: site})
    assert.equal(live.status, 0, live.stderr)
    assert.equal((JSON.parse(live.stdout) as {tables: Array<{table: string; rows: number}>}).tables[0].rows, 1)
  })
})
