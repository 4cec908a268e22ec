import assert from 'node:assert/strict'
import {chmodSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {inlinePasswordFindings, isLocalServer, type RolePrivileges, roleFindings, schemaFindings, transportFindings} from '../../../src/audit/checks/sql-store.js'
import {runAudit} from '../../../src/audit/local.js'
import type {SchemaStatus} from '../../../src/store/index.js'
import {currentUser, resolveUser} from '../../../src/system.js'
import {freePort} from '../../helpers.js'
import {setup} from './fixtures.js'

const LOCATION = 'postgresql://xmppctl@db.example.org:5432/xmppctl'
const SQL_CHECKS = ['sql-config', 'sql-connection']
const summary = (findings: Array<{id: string; severity: string; subject: string}>) => findings.map(({id, severity, subject}) => [id, severity, subject])

describe('audit sql-config: the settings alone', () => {
  it('counts Unix socket directories, localhost and loopback addresses as this machine, nothing else', () => {
    for (const server of ['/var/run/postgresql', 'localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '::1', '[::1]', '::ffff:127.0.0.1']) assert.equal(isLocalServer(server), true, server)
    for (const server of ['db.example.org', '10.0.0.5', '192.168.1.10', '::2', 'fe80::1', 'localhost.example.org', '128.0.0.1']) assert.equal(isLocalServer(server), false, server)
  })

  const cases: Array<[string, boolean, boolean, Array<[string, string]>]> = [
    ['db.example.org', false, false, [['sql-ssl-off', 'critical']]],
    ['10.0.0.5', false, true, [['sql-ssl-off', 'critical']]],
    ['db.example.org', true, false, [['sql-ssl-unverified', 'warning']]],
    ['db.example.org', true, true, []],
    ['localhost', false, false, []],
    ['127.0.0.1', true, false, []],
    ['::1', false, false, []],
    ['/var/run/postgresql', false, false, []],
  ]
  for (const [server, ssl, verify, expected] of cases) {
    it(`${server} with sql_ssl ${ssl} and sql_ssl_verify ${verify}: ${expected.map(([id]) => id).join(', ') || 'nothing'}`, () => {
      const findings = transportFindings({sql_server: server, sql_ssl: ssl, sql_ssl_verify: verify}, LOCATION)
      assert.deepEqual(findings.map(({id, severity}) => [id, severity]), expected)
      for (const finding of findings) assert.equal(finding.subject, LOCATION)
    })
  }

  it('says why TLS off to another machine is critical and how to fix it', () => {
    const [off] = transportFindings({sql_server: 'db.example.org', sql_ssl: false, sql_ssl_verify: false}, LOCATION)
    assert.match(off.message, /sql_server db\.example\.org is another machine: every message, roster and stored credential .* crosses the network in clear/)
    assert.match(off.fix, /^set sql_ssl: true and sql_ssl_verify: true/)
    const [unverified] = transportFindings({sql_server: 'db.example.org', sql_ssl: true, sql_ssl_verify: false}, LOCATION)
    assert.match(unverified.message, /a man in the middle between here and db\.example\.org can pose as it/)
  })

  it('warns about sql_password in the configuration file, and about one left beside sql_password_file', () => {
    assert.deepEqual(inlinePasswordFindings({sql_username: 'xmppctl'}, '/etc/xmppctl/xmppctl.yml'), [])
    assert.deepEqual(inlinePasswordFindings({sql_username: 'xmppctl', sql_password_file: '/etc/xmppctl/sql-password'}, '/etc/xmppctl/xmppctl.yml'), [])
    const [inline] = inlinePasswordFindings({sql_username: 'xmppctl', sql_password: 's3cret'}, '/etc/xmppctl/xmppctl.yml')
    assert.deepEqual([inline.id, inline.severity, inline.subject], ['sql-password-inline', 'warning', '/etc/xmppctl/xmppctl.yml'])
    assert.match(inline.fix, /^move it into a file only the server's user can read \(install -m 0600 .*set sql_password_file to that file and remove sql_password$/)
    assert.doesNotMatch(JSON.stringify(inline), /s3cret/)
    const [both] = inlinePasswordFindings({sql_username: 'xmppctl', sql_password: 's3cret', sql_password_file: '/etc/xmppctl/sql-password'}, '/etc/xmppctl/xmppctl.yml')
    assert.deepEqual([both.id, both.severity], ['sql-password-inline', 'warning'])
    assert.match(both.fix, /^remove sql_password/)
  })
})

describe('audit sql-connection: what it makes of the role and the schema', () => {
  const plain: RolePrivileges = {name: 'xmppctl', bootstrap: false, attributes: [], roles: [], databases: [], objectsIn: []}

  it('passes a role that only owns its database', () => {
    assert.deepEqual(roleFindings(plain, 'xmppctl', LOCATION), [])
  })

  it('names each privilege too many and the commands that take it away', () => {
    const [finding] = roleFindings({...plain, attributes: ['SUPERUSER', 'CREATEDB', 'CREATEROLE'], databases: ['other'], objectsIn: ['legacy']}, 'xmppctl', LOCATION)
    assert.deepEqual([finding.id, finding.severity, finding.subject], ['sql-role-privileged', 'warning', LOCATION])
    assert.match(finding.message, /^role xmppctl has more privileges than the store needs \(its own database and tables\): SUPERUSER, CREATEDB, CREATEROLE; ownership of database other; objects it owns in database legacy\./)
    assert.equal(finding.fix, 'as a superuser: ALTER ROLE xmppctl NOSUPERUSER NOCREATEDB NOCREATEROLE; ALTER DATABASE other OWNER TO postgres; and in legacy give its objects another owner (ALTER TABLE … OWNER TO …)')
    const [member] = roleFindings({...plain, name: 'Xmpp', roles: ['pg_read_server_files']}, 'xmppctl', LOCATION)
    assert.equal(member.fix, 'as a superuser: REVOKE pg_read_server_files FROM "Xmpp";')
  })

  it('tells the bootstrap superuser to make way for a role of its own', () => {
    const [finding] = roleFindings({...plain, name: 'postgres', bootstrap: true, attributes: ['SUPERUSER', 'CREATEDB', 'CREATEROLE', 'REPLICATION', 'BYPASSRLS']}, 'xmppctl', LOCATION)
    assert.match(finding.fix, /^postgres is the cluster's bootstrap superuser, which cannot lose SUPERUSER: give xmppctl a role of its own/)
  })

  const status = (state: SchemaStatus['state'], version: number | null, migratesOnOpen = true): SchemaStatus => ({
    engine: 'postgresql',
    location: LOCATION,
    state,
    version,
    expected: 3,
    pending: version === null || version >= 3 ? [] : Array.from({length: 3 - version}, (_, index) => ({version: version + index + 1, creates: []})),
    migratesOnOpen,
  })
  it('reports pending migrations as info, a warning when the server will refuse them, and a newer schema as a warning', () => {
    assert.deepEqual(schemaFindings(status('current', 3)), [])
    assert.deepEqual(summary(schemaFindings(status('absent', null))), [['sql-schema-pending', 'info', LOCATION]])
    const [pending] = schemaFindings(status('outdated', 1))
    assert.deepEqual([pending.id, pending.severity], ['sql-schema-pending', 'info'])
    assert.equal(pending.message, 'schema version 1, this xmppctl\'s is 3: 2 migrations pending; the server applies them when it starts (update_sql_schema)')
    const [refused] = schemaFindings(status('outdated', 2, false))
    assert.deepEqual([refused.severity, refused.message], ['warning', 'schema version 2, this xmppctl\'s is 3: 1 migration pending; the server refuses the store until they run (update_sql_schema is false)'])
    assert.deepEqual(summary(schemaFindings(status('newer', 4))), [['sql-schema-newer', 'warning', LOCATION]])
  })
})

describe('audit of a PostgreSQL configuration, without a PostgreSQL server', () => {
  const pgsql = (port: number, extra = '') => `hosts: [example.org]\nsql_type: pgsql\nsql_server: 127.0.0.1\nsql_port: ${port}\nsql_connect_timeout: 2\n${extra}`

  it('finds nothing about a SQLite store, whatever sql_* keys say', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\nsql_server: db.example.org\nsql_password: s3cret\n')
    const result = await runAudit({config: config(), user: currentUser(), only: SQL_CHECKS})
    assert.deepEqual([result.findings, result.skipped, result.checks], [[], [], SQL_CHECKS])
  })

  it('reports a password file others may read, repairs it with --fix, and does not connect with it', async (t) => {
    const port = await freePort()
    const {dir, config} = setup(t, pgsql(port, 'sql_password_file: ./sql.password\n'))
    const file = path.join(dir, 'sql.password')
    writeFileSync(file, 'pw\n', {mode: 0o600})
    chmodSync(file, 0o640)
    const result = await runAudit({config: config(), user: currentUser(), only: [...SQL_CHECKS, 'credentials']})
    assert.deepEqual(summary(result.findings), [['sql-password-file-readable', 'critical', file]])
    assert.match(result.findings[0].message, /^sql_password_file has mode 0640 \([^)]+\): group \S+ may read the PostgreSQL password, and xmppctl refuses the file, so the server cannot open the store$/)
    assert.deepEqual(result.findings[0].repair, {kind: 'chmod', path: file, mode: 0o600})
    assert.deepEqual(result.skipped, [
      {check: 'credentials', reason: `the accounts were not read: sql_password_file ${file} is mode 0640: others may read the PostgreSQL password`},
      {check: 'sql-connection', reason: `cannot connect: sql_password_file ${file} is mode 0640: others may read the PostgreSQL password`},
    ])
    chmodSync(file, 0o604)
    assert.match((await runAudit({config: config(), user: currentUser(), only: ['sql-password-file-readable']})).findings[0].message, /every user on this machine may read/)
    const fixed = await runAudit({config: config(), user: currentUser(), only: ['sql-config'], fix: true})
    assert.deepEqual(fixed.fixed, [{path: file, action: 'chmod', from: '0604', to: '0600', finding: 'sql-password-file-readable'}])
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.deepEqual(fixed.findings, [])
  })

  it('reports a password file that is missing, and one the server\'s user cannot read', {skip: process.getuid?.() === 0 ? false : 'needs root for --as'}, async (t) => {
    const {dir, config} = setup(t, pgsql(await freePort(), 'sql_password_file: ./sql.password\n'))
    const file = path.join(dir, 'sql.password')
    assert.deepEqual(summary((await runAudit({config: config(), user: currentUser(), only: ['sql-config']})).findings), [['sql-password-file-missing', 'critical', file]])
    writeFileSync(file, 'pw\n', {mode: 0o600})
    assert.deepEqual((await runAudit({config: config(), user: currentUser(), only: ['sql-config']})).findings, [])
    const {findings} = await runAudit({config: config(), user: resolveUser('nobody'), only: ['sql-config']})
    assert.deepEqual(summary(findings), [['sql-password-file-unreadable', 'critical', file]])
    assert.match(findings[0].fix, /^chown nobody /)
  })

  it('warns about sql_password in the configuration file', async (t) => {
    const {file, config} = setup(t, pgsql(await freePort(), 'sql_password: s3cret\n'))
    assert.deepEqual(summary((await runAudit({config: config(), user: currentUser(), only: ['sql-config']})).findings), [['sql-password-inline', 'warning', file]])
  })

  it('reports a server it cannot reach in the store\'s words, and reads no accounts', async (t) => {
    const port = await freePort()
    const {config} = setup(t, pgsql(port, 'sql_password: pw\n'))
    const location = `postgresql://xmppctl@127.0.0.1:${port}/xmppctl`
    const result = await runAudit({config: config(), user: currentUser(), only: ['sql-connection', 'credentials']})
    assert.deepEqual(result.findings, [
      {
        id: 'sql-connect-failed',
        severity: 'critical',
        subject: location,
        message: `cannot reach the PostgreSQL store ${location}: ECONNREFUSED (store-unavailable)`,
        fix: 'check that PostgreSQL runs and sql_server, sql_port and the firewall let this host in',
      },
    ])
    assert.deepEqual(result.skipped, [{check: 'credentials', reason: `the accounts were not read: cannot reach the PostgreSQL store ${location}: ECONNREFUSED`}])
  })

  it('reports an sql_ssl_cafile it cannot read as a TLS failure', async (t) => {
    const port = await freePort()
    const {dir, config} = setup(t, pgsql(port, 'sql_password: pw\nsql_ssl: true\nsql_ssl_verify: true\nsql_ssl_cafile: ./ca.pem\n'))
    const {findings} = await runAudit({config: config(), user: currentUser(), only: ['sql-connection']})
    assert.deepEqual(summary(findings), [['sql-connect-failed', 'critical', `postgresql://xmppctl@127.0.0.1:${port}/xmppctl`]])
    assert.equal(findings[0].message, `TLS to the PostgreSQL store postgresql://xmppctl@127.0.0.1:${port}/xmppctl cannot be set up: sql_ssl_cafile ${path.join(dir, 'ca.pem')} cannot be read: ENOENT (store-tls)`)
  })
})
