/**
 * Every command that reads or writes the store, run against PostgreSQL
 * (sql_type: pgsql) as an operator would: accounts, passwords, SCRAM
 * conversion, rosters, offline messages, the archive, rooms, export and
 * import, each answered from the database (issue 18: "every user, scram,
 * import, export and audit command works against either store").
 */
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import {type Socket, createServer} from 'node:net'
import path from 'node:path'
import {before, describe, it} from 'node:test'

import {runCli, tempDir, writeConfig} from '../../helpers.js'
import {type PostgresCluster, postgresMissing, startPostgres, writePostgresConfig} from '../../postgres.js'

// CI must run these (CI=true fails rather than skips).
const skip = process.env.CI === 'true' ? false : (postgresMissing() ?? false)

describe('the commands on a PostgreSQL store', {skip}, () => {
  let cluster: PostgresCluster
  before(async () => {
    cluster = await startPostgres('exit')
  })

  it('manage accounts, credentials, rosters, offline messages, the archive and rooms in the database', async (t) => {
    const database = await cluster.createDatabase()
    const dir = tempDir(t)
    writePostgresConfig(dir, database, ['hosts: [localhost]', 'auth_scram_iterations: 4096', 'auth_password_format: plain'])
    const cli = async (args: string[], stdin = '', expected = 0) => {
      const result = await runCli(args, {cwd: dir, stdin})
      assert.equal(result.status, expected, `${args.join(' ')}: ${result.stderr}`)
      return result
    }

    const json = async (args: string[], stdin = '') => JSON.parse((await cli([...args, '--json'], stdin)).stdout) as Record<string, unknown>

    await cli(['user', 'add', 'alice@localhost', '--password-stdin'], 'alice pw\n')
    await cli(['user', 'add', 'bob@localhost', '--password-stdin'], 'bob pw\n')
    await cli(['user', 'exists', 'alice@localhost'])
    await cli(['user', 'exists', 'nobody@localhost'], '', 1)
    await cli(['user', 'check', 'alice@localhost', '--password-stdin'], 'alice pw\n')
    await cli(['user', 'check', 'alice@localhost', '--password-stdin'], 'wrong\n', 1)
    // Plaintext stored (auth_password_format: plain) until scram convert turns it into credentials.
    assert.deepEqual(await json(['user', 'info', 'alice@localhost']).then((account) => [account.plaintext, account.hashes]), [true, []])
    const converted = await json(['scram', 'convert', '--yes'])
    assert.equal(converted.converted, 2)
    const info = await json(['user', 'info', 'alice@localhost'])
    assert.deepEqual([info.plaintext, info.hashes, info.iterations], [false, ['sha1', 'sha256'], 4096])
    await cli(['user', 'check', 'alice@localhost', '--password-stdin'], 'alice pw\n')
    await cli(['user', 'passwd', 'alice@localhost', '--password-stdin'], 'new pw\nnew pw\n')
    await cli(['user', 'check', 'alice@localhost', '--password-stdin'], 'new pw\n')
    await cli(['user', 'disable', 'bob@localhost', '--reason', 'on holiday'])
    assert.equal((await json(['user', 'info', 'bob@localhost'])).state, 'disabled')
    await cli(['user', 'enable', 'bob@localhost'])

    await cli(['roster', 'add', 'alice@localhost', 'bob@localhost', '--name', 'Bob', '--group', 'Friends', '--subscription', 'both'])
    const roster = (await cli(['roster', 'list', 'alice@localhost', '--json'])).stdout
    assert.deepEqual(
      (JSON.parse(roster) as {items: Array<{contact: string; name: string; subscription: string; groups: string[]}>}).items.map((item) => [item.contact, item.name, item.subscription, item.groups]),
      [['bob@localhost', 'Bob', 'both', ['Friends']]],
    )
    assert.deepEqual((await json(['offline', 'list', 'alice@localhost'])).messages, [])
    assert.equal((await json(['offline', 'purge', '--older-than', '1d'])).removed, 0)
    assert.equal((await json(['mam', 'purge', '--older-than', '1d'])).messages, 0)

    await cli(['muc', 'create', 'lounge@conference.localhost', '--owner', 'alice@localhost', '--name', 'Lounge'])
    await cli(['muc', 'affiliation', 'lounge@conference.localhost', 'bob@localhost', 'member'])
    const room = await json(['muc', 'info', 'lounge@conference.localhost'])
    assert.deepEqual(room.affiliations, [
      {jid: 'alice@localhost', affiliation: 'owner', reason: ''},
      {jid: 'bob@localhost', affiliation: 'member', reason: ''},
    ])
    assert.deepEqual(((await json(['muc', 'list'])).rooms as Array<{jid: string}>).map((listed) => listed.jid), ['lounge@conference.localhost'])

    // Export, then import into a second database: the accounts and the roster arrive.
    const exported = path.join(dir, 'export.xml')
    await cli(['user', 'export', exported, '--to', 'xep0227'])
    const other = tempDir(t)
    const otherDatabase = await cluster.createDatabase()
    writePostgresConfig(other, otherDatabase, ['hosts: [localhost]'])
    const imported = await runCli(['user', 'import', exported, '--from', 'xep0227', '--json'], {cwd: other})
    assert.equal(imported.status, 0, imported.stderr)
    assert.equal((JSON.parse(imported.stdout) as {counts: {created: number}}).counts.created, 2)
    // The import leaves the planner's statistics current: a server started at once plans on them, not on empty tables'.
    const superuser = await cluster.connect(otherDatabase.database)
    t.after(() => superuser.end())
    const analyzed = await superuser.query<{relname: string}>("SELECT relname FROM pg_stat_user_tables WHERE relname IN ('accounts', 'scram_credentials', 'roster_items') AND last_analyze IS NOT NULL ORDER BY relname")
    assert.deepEqual(analyzed.rows.map((row) => row.relname), ['accounts', 'roster_items', 'scram_credentials'])
    const importedRoster = await runCli(['roster', 'list', 'alice@localhost', '--json'], {cwd: other})
    assert.equal((JSON.parse(importedRoster.stdout) as {items: Array<{contact: string}>}).items[0]?.contact, 'bob@localhost')
    assert.equal((await runCli(['user', 'check', 'alice@localhost', '--password-stdin'], {cwd: other, stdin: 'new pw\n'})).status, 0)

    await cli(['muc', 'destroy', 'lounge@conference.localhost'])
    await cli(['user', 'delete', 'bob@localhost', '--force'])
    await cli(['user', 'exists', 'bob@localhost'], '', 1)
    assert.deepEqual(((await json(['user', 'list'])) as unknown as Array<{jid: string}>).map((account) => account.jid), ['alice@localhost'])
  })
})

describe('audit of a PostgreSQL store out of reach', () => {
  it('connects once for every check that reads the store, and says why it could not', async (t) => {
    // A port that accepts and never answers, as a server behind a stalled network: each attempt waits sql_connect_timeout.
    const sockets: Socket[] = []
    const listener = createServer((socket) => sockets.push(socket))
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
    t.after(() => {
      for (const socket of sockets) socket.destroy()
      listener.close()
    })
    const {port} = listener.address() as {port: number}
    const dir = tempDir(t)
    writeFileSync(path.join(dir, 'sql.password'), 'secret\n', {mode: 0o600})
    writeConfig(dir, ['hosts: [localhost]', 'sql_type: pgsql', 'sql_server: 127.0.0.1', `sql_port: ${port}`, 'sql_database: xmppctl', 'sql_username: xmppctl', 'sql_password_file: ./sql.password', 'sql_connect_timeout: 1'].join('\n'))
    const result = await runCli(['audit', '--only', 'credentials', '--only', 'sql-connection'], {cwd: dir})
    assert.equal(result.status, 1, result.stderr)
    assert.equal(sockets.length, 1, `${sockets.length} connections:\n${result.stdout}`)
    const location = `postgresql://xmppctl@127.0.0.1:${port}/xmppctl`
    assert.match(result.stdout, new RegExp(`^  critical sql-connect-failed: cannot reach the PostgreSQL store ${location}: Connection terminated due to connection timeout \\(store-unavailable\\)$`, 'm'))
    assert.match(result.stdout, new RegExp(`^not checked: credentials \\(the accounts were not read: cannot reach the PostgreSQL store ${location}: Connection terminated due to connection timeout\\)$`, 'm'))
    assert.doesNotMatch(result.stdout, /update_sql_schema/)
  })
})
