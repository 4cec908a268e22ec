/**
 * `xmppctl audit` of a PostgreSQL store (sql_type: pgsql, issue 18)
 * against a private PostgreSQL 15 cluster: the connection as the server
 * makes it, the role's privileges as an administrator grants them (and
 * the fix's own commands taking them away), the schema's state, and the
 * command's --json.
 */
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {before, describe, it} from 'node:test'

import type {AuditFinding} from '../../../src/audit/findings.js'
import {runAudit} from '../../../src/audit/local.js'
import {loadConfig} from '../../../src/config/index.js'
import {openAccountStore} from '../../../src/store/index.js'
import {SCHEMA_VERSION} from '../../../src/store/postgres/schema.js'
import {currentUser} from '../../../src/system.js'
import {runCli, tempDir, writeConfig} from '../../helpers.js'
import {type PostgresCluster, type PostgresDatabaseInfo, postgresMissing, startPostgres} from '../../postgres.js'

// CI must run these (CI=true fails rather than skips).
const skip = process.env.CI === 'true' ? false : (postgresMissing() ?? false)

const SQL_CHECKS = ['sql-config', 'sql-connection']

/** A configuration file as an operator writes one: the password in a 0600 file. */
function configFile(t: {after(fn: () => void): void}, database: PostgresDatabaseInfo, extra = ''): {dir: string; file: string} {
  const dir = tempDir(t)
  writeFileSync(path.join(dir, 'sql.password'), `${database.password}\n`, {mode: 0o600})
  const lines = ['hosts: [localhost]', 'sql_type: pgsql', `sql_server: ${database.host}`, `sql_port: ${database.port}`, `sql_database: ${database.database}`, `sql_username: ${database.user}`]
  // A key in `extra` replaces the one above (sql_password the file).
  const replaced = new Set([...extra.matchAll(/^(\w+):/gm)].map((match) => (match[1] === 'sql_password' ? 'sql_password_file' : match[1])))
  const kept = [...lines, 'sql_password_file: ./sql.password'].filter((line) => !replaced.has(line.split(':')[0]))
  const file = writeConfig(dir, [...kept, extra].join('\n'))
  return {dir, file}
}

async function audit(file: string, only = SQL_CHECKS) {
  return runAudit({config: loadConfig(file), user: currentUser(), only})
}

const summary = (findings: AuditFinding[]) => findings.map(({id, severity}) => [id, severity])

describe('audit of the PostgreSQL store', {skip}, () => {
  let cluster: PostgresCluster
  before(async () => {
    cluster = await startPostgres('exit')
  })

  /** Runs `sql` as the cluster's superuser in `database`. */
  async function admin(database: string, ...sql: string[]): Promise<void> {
    const client = await cluster.connect(database)
    try {
      for (const statement of sql) await client.query(statement)
    } finally {
      await client.end()
    }
  }

  it('passes a role and database set up as the README says, once the tables exist; an empty database is info', async (t) => {
    const database = await cluster.createDatabase()
    const {file} = configFile(t, database)
    const empty = await audit(file)
    assert.deepEqual([summary(empty.findings), empty.skipped], [[['sql-schema-pending', 'info']], []])
    assert.match(empty.findings[0].message, new RegExp(`^the database holds no tables yet: the server creates them \\(schema ${SCHEMA_VERSION}\\) when it starts$`))
    assert.equal(empty.findings[0].subject, `postgresql://${database.user}@127.0.0.1:${database.port}/${database.database}`)
    const store = await openAccountStore(loadConfig(file))
    await store.close()
    const current = await audit(file, [...SQL_CHECKS, 'credentials'])
    assert.deepEqual([current.findings, current.skipped], [[], []])
  })

  it('reports a role with more privileges than it needs, and the fix\'s commands take them away', async (t) => {
    const database = await cluster.createDatabase()
    const role = database.user
    const {file} = configFile(t, database)
    const store = await openAccountStore(loadConfig(file))
    await store.close()
    /** The one finding, after running the fix's SQL as the superuser: then nothing is left. */
    const privileged = async (): Promise<AuditFinding> => {
      const {findings} = await audit(file)
      assert.deepEqual(summary(findings), [['sql-role-privileged', 'warning']])
      return findings[0]
    }

    const fixWith = async (finding: AuditFinding) => {
      const statements = finding.fix.replace(/^as a superuser: /, '').split(/;\s*/).filter((statement) => statement !== '')
      await admin('postgres', ...statements)
    }

    await admin('postgres', `ALTER ROLE ${role} SUPERUSER`)
    let finding = await privileged()
    assert.match(finding.message, new RegExp(`^role ${role} has more privileges than the store needs \\(its own database and tables\\): SUPERUSER\\. Whoever takes over the server`))
    assert.equal(finding.fix, `as a superuser: ALTER ROLE ${role} NOSUPERUSER;`)
    await fixWith(finding)
    assert.deepEqual((await audit(file)).findings, [])

    await admin('postgres', `ALTER ROLE ${role} CREATEDB CREATEROLE BYPASSRLS`)
    finding = await privileged()
    assert.equal(finding.fix, `as a superuser: ALTER ROLE ${role} NOCREATEDB NOCREATEROLE NOBYPASSRLS;`)
    await fixWith(finding)
    assert.deepEqual((await audit(file)).findings, [])

    // Powers it has through other roles, and a database it owns besides its own.
    const admins = `${role}_admins`
    await admin('postgres', `CREATE ROLE ${admins} NOLOGIN SUPERUSER`, `GRANT ${admins} TO ${role}`, `GRANT pg_read_server_files TO ${role}`, `CREATE DATABASE ${role}_other OWNER ${role}`)
    t.after(() => admin('postgres', `DROP DATABASE IF EXISTS ${role}_other`, `DROP ROLE IF EXISTS ${admins}`))
    finding = await privileged()
    assert.match(finding.message, new RegExp(`: membership of pg_read_server_files, ${admins}; ownership of database ${role}_other\\.`))
    assert.equal(finding.fix, `as a superuser: REVOKE pg_read_server_files FROM ${role}; REVOKE ${admins} FROM ${role}; ALTER DATABASE ${role}_other OWNER TO postgres;`)
    await fixWith(finding)
    assert.deepEqual((await audit(file)).findings, [])

    // A table it owns in another database.
    await admin('postgres', `CREATE TABLE ${role}_leftover (id integer)`, `ALTER TABLE ${role}_leftover OWNER TO ${role}`)
    t.after(() => admin('postgres', `DROP TABLE IF EXISTS ${role}_leftover`))
    finding = await privileged()
    assert.match(finding.message, /: objects it owns in database postgres\./)
    assert.equal(finding.fix, 'as a superuser: and in postgres give its objects another owner (ALTER TABLE … OWNER TO …)')
    await admin('postgres', `ALTER TABLE ${role}_leftover OWNER TO postgres`)
    assert.deepEqual((await audit(file)).findings, [])
  })

  it('reports pending migrations without running them, a newer schema, and another program\'s tables', async (t) => {
    const database = await cluster.createDatabase()
    const {file} = configFile(t, database)
    const store = await openAccountStore(loadConfig(file))
    await store.close()
    const version = async () => {
      const client = await cluster.connect(database.database)
      try {
        return (await client.query<{version: number}>('SELECT version FROM xmppctl_schema')).rows[0].version
      } finally {
        await client.end()
      }
    }

    await admin(database.database, 'UPDATE xmppctl_schema SET version = 0')
    const outdated = await audit(file, [...SQL_CHECKS, 'credentials'])
    assert.deepEqual(summary(outdated.findings), [['sql-schema-pending', 'info']])
    assert.match(outdated.findings[0].message, new RegExp(`^schema version 0, this xmppctl's is ${SCHEMA_VERSION}: ${SCHEMA_VERSION} migrations? pending; the server applies them when it starts`))
    // An audit changes nothing: the accounts are left unread rather than the schema migrated.
    assert.equal(await version(), 0)
    // …and says so: not that update_sql_schema is false, which it is not here.
    assert.deepEqual(outdated.skipped, [
      {check: 'credentials', reason: `the accounts were not read: postgresql://${database.user}@127.0.0.1:${database.port}/${database.database} has schema version 0, and this xmppctl needs ${SCHEMA_VERSION} (an audit does not migrate it)`},
    ])
    const {file: refusing} = configFile(t, database, 'update_sql_schema: false')
    assert.deepEqual(summary((await audit(refusing)).findings), [['sql-schema-pending', 'warning']])

    await admin(database.database, `UPDATE xmppctl_schema SET version = ${SCHEMA_VERSION + 1}`)
    const newer = await audit(file)
    assert.deepEqual(summary(newer.findings), [['sql-schema-newer', 'warning']])
    assert.equal(newer.findings[0].message, `schema version ${SCHEMA_VERSION + 1} is newer than this xmppctl's (${SCHEMA_VERSION}): it refuses the store`)

    const foreign = await cluster.createDatabase()
    await admin(foreign.database, 'CREATE TABLE users (username text)', `ALTER TABLE users OWNER TO ${foreign.user}`)
    const {findings} = await audit(configFile(t, foreign).file)
    assert.deepEqual(summary(findings), [['sql-schema-unusable', 'critical']])
    assert.equal(findings[0].message, `postgresql://${foreign.user}@127.0.0.1:${foreign.port}/${foreign.database} holds tables of another program, not an xmppctl store (store-foreign)`)
  })

  it('reports why it cannot connect: a refused password, a missing database, TLS the server does not offer', async (t) => {
    const database = await cluster.createDatabase()
    const failure = async (extra: string) => {
      const {findings, skipped} = await audit(configFile(t, database, extra).file, ['sql-connection'])
      assert.deepEqual([summary(findings), skipped], [[['sql-connect-failed', 'critical']], []])
      return findings[0]
    }

    const refused = await failure('sql_password: wrong')
    assert.match(refused.message, /^PostgreSQL refused the login to postgresql:\/\/.*: password authentication failed for user "x[0-9a-f]+" \(store-auth\)$/)
    assert.equal(refused.fix, 'check sql_username and sql_password_file, and pg_hba.conf')
    assert.match((await failure('sql_database: absent')).message, /^the PostgreSQL database of .* does not exist \(store-missing\)$/)
    assert.match((await failure('sql_ssl: true')).message, /^TLS to the PostgreSQL store .*: The server does not support SSL connections \(store-tls\)$/)
  })

  it('xmppctl audit --json carries the findings, and the credentials check reads the PostgreSQL accounts', async (t) => {
    const database = await cluster.createDatabase()
    const {dir} = configFile(t, database, `sql_password: ${JSON.stringify(database.password)}\nauth_password_format: plain`)
    const cli = (args: string[], stdin?: string) => runCli(args, {cwd: dir, stdin})
    assert.equal((await cli(['user', 'add', 'alice@localhost', '--password-stdin'], 'secret\n')).status, 0)
    await admin('postgres', `ALTER ROLE ${database.user} CREATEDB`)
    const result = await cli(['audit', '--json', '--only', 'sql-config', '--only', 'sql-connection', '--only', 'credentials'])
    assert.equal(result.status, 1, result.stderr)
    const json = JSON.parse(result.stdout)
    assert.deepEqual(
      json.findings.map(({id, severity, fixable}: {id: string; severity: string; fixable: boolean}) => [id, severity, fixable]).sort(),
      [
        ['password-format-plain', 'warning', false],
        ['plaintext-accounts', 'warning', false],
        ['sql-password-inline', 'warning', false],
        ['sql-role-privileged', 'warning', false],
      ],
    )
    assert.deepEqual([json.checks, json.skipped], [['credentials', 'sql-config', 'sql-connection'], []])
    const privileged = json.findings.find((finding: {id: string}) => finding.id === 'sql-role-privileged')
    assert.equal(privileged.fix, `as a superuser: ALTER ROLE ${database.user} NOCREATEDB;`)
    assert.doesNotMatch(result.stdout, new RegExp(database.password.replace(/[^\w]/g, '.')))
  })
})
