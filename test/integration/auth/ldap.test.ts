/**
 * The ldap backend and `test-auth ldap` against a real slapd (test/integration/auth/slapd.ts):
 * plain LDAP, StartTLS and LDAPS with a test CA; users whose passwords hold
 * ":", "€" and 200 bytes; and each diagnosis produced by a real misconfiguration.
 */
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import path from 'node:path'
import {before, describe, it} from 'node:test'

import {LdapBackend, type LdapOptions} from '../../../src/auth/backends/ldap.js'
import {runCli, tempDir, writeConfig} from '../../helpers.js'
import {TLS12, TLS13, authFixture} from '../../unit/auth/setup.js'
import {type Diagnosed, type Report, diagnosed, suiteDaemon} from './daemons.js'
import {BASE, SERVICE_DN, SERVICE_PASSWORD, type Slapd, USERS, slapdUnavailable, startSlapd} from './slapd.js'

const unavailable = slapdUnavailable()
const PEOPLE = `ou=people,${BASE}`

function options(slapd: Slapd, overrides: Partial<LdapOptions> = {}): LdapOptions {
  return {
    host: 'example.org',
    servers: ['127.0.0.1'],
    port: slapd.port,
    encrypt: 'none',
    tlsVerify: 'hard',
    caFile: slapd.caFile,
    rootDn: SERVICE_DN,
    password: {value: SERVICE_PASSWORD},
    base: BASE,
    uids: [{attribute: 'uid', pattern: '%u'}],
    derefAliases: 'never',
    poolSize: 2,
    timeout: 5000,
    connectTimeout: 5000,
    ...overrides,
  }
}

/** slapd's configuration keys in YAML, with overrides (a value of undefined drops the key). */
function ldapYaml(slapd: Slapd, overrides: Record<string, unknown> = {}): string {
  const keys: Record<string, unknown> = {
    auth_method: ['ldap'],
    ldap_servers: ['127.0.0.1'],
    ldap_port: slapd.port,
    ldap_encrypt: 'none',
    ldap_tls_cacertfile: slapd.caFile,
    ldap_rootdn: SERVICE_DN,
    ldap_password: SERVICE_PASSWORD,
    ldap_base: BASE,
    ldap_timeout: 2,
    ldap_connect_timeout: 2,
    ...overrides,
  }
  return Object.entries(keys)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}: ${JSON.stringify(value)}\n`)
    .join('')
}

async function testAuth(t: {after(fn: () => void): void}, yaml: string, jid?: string, password?: string): Promise<Diagnosed> {
  const dir = tempDir(t)
  writeConfig(dir, `hosts: [example.org]\ndata_dir: ./data\n${yaml}`)
  return diagnosed(await runCli(['test-auth', 'ldap', ...(jid ? [jid] : []), ...(password === undefined ? [] : ['--password-stdin']), '--json'], {cwd: dir, stdin: password === undefined ? undefined : `${password}\n`}))
}

describe('the ldap backend against a real slapd', {skip: unavailable, concurrency: false}, () => {
  const daemon = suiteDaemon(startSlapd)
  let slapd: Slapd
  before(() => {
    slapd = daemon()
  })

  for (const encrypt of ['none', 'starttls', 'tls'] as const) {
    it(`checks passwords with ":", "€" and 200 bytes (ldap_encrypt ${encrypt}), and refuses wrong, empty and ambiguous ones`, async () => {
      const backend = new LdapBackend(options(slapd, {encrypt, port: encrypt === 'tls' ? slapd.ldapsPort : slapd.port}))
      try {
        assert.equal(Buffer.byteLength(USERS.bob), 200)
        assert.deepEqual(await backend.checkPassword('alice', USERS.alice), {result: 'accepted'})
        assert.deepEqual(await backend.checkPassword('bob', USERS.bob), {result: 'accepted'})
        assert.match(JSON.stringify(await backend.checkPassword('alice', 'pa:ss wörd')), /"rejected".*invalid credentials/)
        // RFC 4513 §5.1.2: an empty password would be an unauthenticated bind, which slapd accepts.
        assert.equal((await backend.checkPassword('alice', '')).result, 'rejected')
        assert.match(JSON.stringify(await backend.checkPassword('twin', 'twin-password')), /more than one entry/)
        assert.match(JSON.stringify(await backend.checkPassword('nobody', USERS.alice)), /no entry under dc=example,dc=org matches \(uid=nobody\)/)
        assert.equal(await backend.userExists('alice'), true)
        assert.equal(await backend.userExists('nobody'), false)
      } finally {
        await backend.close()
      }
    })
  }

  it('escapes the user name in the filter (RFC 4515): "*" and "alice)(uid=*" match nobody', async () => {
    const backend = new LdapBackend(options(slapd))
    try {
      const star = await backend.checkPassword('*', USERS.alice)
      assert.match(JSON.stringify(star), /"rejected".*\(uid=\\\\2a\)/)
      assert.equal(await backend.userExists('*'), false)
      assert.equal(await backend.userExists('alice)(uid=*'), false)
    } finally {
      await backend.close()
    }
  })

  it('applies ldap_filter, ldap_uids patterns and ldap_dn_filter', async () => {
    const staff = new LdapBackend(options(slapd, {filter: '(employeeType=staff)'}))
    const mail = new LdapBackend(options(slapd, {uids: [{attribute: 'mail', pattern: '%u@%d'}]}))
    const dnFilter = new LdapBackend(options(slapd, {dnFilter: {filter: '(&(uid=%u)(employeeType=staff))', attributes: ['uid']}}))
    try {
      assert.deepEqual(await staff.checkPassword('alice', USERS.alice), {result: 'accepted'})
      assert.equal((await staff.checkPassword('carol', USERS.carol)).result, 'rejected')
      assert.deepEqual(await mail.checkPassword('carol', USERS.carol), {result: 'accepted'})
      assert.deepEqual(await dnFilter.checkPassword('alice', USERS.alice), {result: 'accepted'})
      assert.equal((await dnFilter.checkPassword('carol', USERS.carol)).result, 'rejected')
    } finally {
      await Promise.all([staff.close(), mail.close(), dnFilter.close()])
    }
  })

  it('is unavailable, not rejecting, when slapd cannot be reached or the service password is wrong; the next of ldap_servers serves', async (t) => {
    const down = new LdapBackend(options(slapd, {port: 1}))
    const wrong = new LdapBackend(options(slapd, {password: {value: 'wrong'}}))
    try {
      assert.match(JSON.stringify(await down.checkPassword('alice', USERS.alice)), /"unavailable".*no LDAP server of example.org could be reached.*ECONNREFUSED/)
      assert.match(JSON.stringify(await wrong.checkPassword('alice', USERS.alice)), /"unavailable".*refused the service bind as cn=xmpp/)
      await assert.rejects(wrong.userExists('alice'), /service bind/)
      // ldap_servers are tried in order: slapd listens on 127.0.0.1 only.
      const failover = new LdapBackend(options(slapd, {servers: ['127.0.0.2', '127.0.0.1']}))
      t.after(() => failover.close())
      assert.deepEqual(await failover.checkPassword('alice', USERS.alice), {result: 'accepted'})
    } finally {
      await Promise.all([down.close(), wrong.close()])
    }
  })

  it('offers PLAIN over TLS only, never SCRAM, and logs in through the chain and its cache', async (t) => {
    const fixture = authFixture(t, `hosts: [example.org]\n${ldapYaml(slapd, {ldap_encrypt: 'tls', ldap_port: slapd.ldapsPort})}`)
    const host = fixture.auth.get('example.org')!
    assert.deepEqual(await host.mechanisms(TLS13), ['PLAIN'])
    assert.deepEqual(await host.mechanisms(TLS12), ['PLAIN'])
    assert.deepEqual(await host.mechanisms({encrypted: false, channelBindings: {}}), [])
    const scram = (await host.decisions(TLS13)).find((decision) => decision.mechanism === 'SCRAM-SHA-256')!
    assert.match(scram.why, /the ldap backend has no SCRAM-SHA-256 credentials \(it checks a password by binding to the directory with it: PLAIN over TLS only\)/)
    const session = (await host.start('PLAIN', TLS13))!
    assert.deepEqual(await session.step(Buffer.from(`\0alice\0${USERS.alice}`)), {type: 'success', username: 'alice', method: 'ldap'})
    const hits = host.chain.cache.hits
    const again = (await host.start('PLAIN', TLS13))!
    assert.deepEqual(await again.step(Buffer.from(`\0alice\0${USERS.alice}`)), {type: 'success', username: 'alice', method: 'ldap'})
    assert.equal(host.chain.cache.hits, hits + 1)
  })

  it('test-auth ldap over LDAPS: every step timed and ok, verdict accepted', async (t) => {
    const result = await testAuth(t, ldapYaml(slapd, {ldap_encrypt: 'tls', ldap_port: slapd.ldapsPort}), 'bob@example.org', USERS.bob)
    assert.equal(result.report.verdict, 'accepted', result.stdout)
    assert.deepEqual(result.report.steps.map((step) => `${step.id}:${step.status}`), ['configuration:ok', 'connect:ok', 'tls:ok', 'open:ok', 'service-bind:ok', 'base:ok', 'search:ok', 'user-bind:ok', 'backend:ok'])
    assert.match(result.step('tls').detail, /TLSv1\.3, certificate of localhost issued by test-ca: verified/)
    assert.equal(result.step('search').detail, `(uid=bob) found uid=bob,${PEOPLE}`)
    assert.ok(result.report.steps.every((step) => typeof step.ms === 'number'))
    assert.ok(!result.stdout.includes(USERS.bob) && !result.stderr.includes(USERS.bob), 'the password is never printed')
    assert.equal(result.status, 0)
  })

  it('test-auth all: the ldap host is offered PLAIN over TLS and nothing without, and says why SCRAM is not', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, `hosts: [example.org]\ndata_dir: ./data\n${ldapYaml(slapd, {ldap_encrypt: 'tls', ldap_port: slapd.ldapsPort})}`)
    const result = await runCli(['test-auth', 'all', '--json'], {cwd: dir})
    const {hosts} = JSON.parse(result.stdout) as {hosts: Array<{backends: Report[]; offers: Array<{connection: string; mechanisms: string[]; decisions: Array<{mechanism: string; why: string}>}>}>}
    assert.equal(hosts[0].backends[0].verdict, 'reachable', result.stdout)
    assert.deepEqual(hosts[0].offers.map(({connection, mechanisms}) => [connection, mechanisms]), [['TLS 1.3', ['PLAIN']], ['TLS 1.2', ['PLAIN']], ['no TLS', []]])
    assert.equal(
      hosts[0].offers[0].decisions.find(({mechanism}) => mechanism === 'SCRAM-SHA-1')!.why,
      'the ldap backend has no SCRAM-SHA-1 credentials (it checks a password by binding to the directory with it: PLAIN over TLS only)',
    )
    assert.equal(result.status, 0)
  })

  it('test-auth ldap over StartTLS: accepted, with a warning that plain LDAP would send passwords in clear', async (t) => {
    const starttls = await testAuth(t, ldapYaml(slapd, {ldap_encrypt: 'starttls'}), 'alice@example.org', USERS.alice)
    assert.equal(starttls.report.verdict, 'accepted', starttls.stdout)
    assert.match(starttls.step('open').detail, /StartTLS done, certificate verified/)
    const plain = await testAuth(t, ldapYaml(slapd), 'alice@example.org', USERS.alice)
    assert.equal(plain.report.verdict, 'accepted')
    assert.match(plain.step('encryption').detail, /ldap_encrypt is none: users' passwords cross the network to 127.0.0.1 in clear/)
  })

  it('test-auth ldap: the server unreachable', async (t) => {
    const result = await testAuth(t, ldapYaml(slapd, {ldap_port: 1}), 'alice@example.org', USERS.alice)
    const step = result.step('connect')
    assert.equal(step.status, 'fail')
    assert.equal(step.detail, 'ldap://127.0.0.1:1: connection refused')
    assert.equal(step.cause, 'nothing listens on 127.0.0.1 port 1')
    assert.equal(result.report.verdict, 'unavailable')
    assert.equal(result.status, 3)
  })

  it('test-auth ldap: LDAPS with a certificate from another CA is untrusted; with StartTLS too', async (t) => {
    const ldaps = await testAuth(t, ldapYaml(slapd, {ldap_encrypt: 'tls', ldap_port: slapd.ldapsPort, ldap_tls_cacertfile: slapd.otherCaFile}))
    assert.equal(ldaps.step('tls').status, 'fail')
    assert.match(ldaps.step('tls').detail, /certificate of localhost issued by test-ca: not trusted \(SELF_SIGNED_CERT_IN_CHAIN\)/)
    assert.equal(ldaps.step('tls').fix, `check that ${slapd.otherCaFile} holds the CA that signed the LDAP server's certificate`)
    assert.equal(ldaps.status, 3)
    const starttls = await testAuth(t, ldapYaml(slapd, {ldap_encrypt: 'starttls', ldap_tls_cacertfile: slapd.otherCaFile}))
    assert.equal(starttls.step('open').status, 'fail')
    assert.match(starttls.step('open').detail, /StartTLS: the certificate is not trusted/)
  })

  it('test-auth ldap: TLS refused (ldap_encrypt tls on the plain LDAP port)', async (t) => {
    const result = await testAuth(t, ldapYaml(slapd, {ldap_encrypt: 'tls'}))
    const step = result.step('tls')
    assert.equal(step.status, 'fail')
    assert.match(step.detail, /the TLS handshake failed|no TLS handshake/)
    assert.match(step.fix ?? '', /starttls/)
    assert.equal(result.status, 3)
  })

  it('test-auth ldap: wrong service credentials', async (t) => {
    const result = await testAuth(t, ldapYaml(slapd, {ldap_password: 'not-the-password'}), 'alice@example.org', USERS.alice)
    const step = result.step('service-bind')
    assert.equal(step.status, 'fail')
    assert.equal(step.detail, `bind as ${SERVICE_DN}: invalid credentials (49)`)
    assert.match(step.cause ?? '', /wrong service credentials/)
    assert.equal(result.status, 3)
  })

  it('test-auth ldap: the service password from a file, refused when others may read it', async (t) => {
    const dir = tempDir(t)
    const file = path.join(dir, 'ldap.secret')
    writeFileSync(file, `${SERVICE_PASSWORD}\n`, {mode: 0o644})
    const open = await testAuth(t, ldapYaml(slapd, {ldap_password: undefined, ldap_password_file: file}))
    assert.equal(open.step('service-password').detail, `ldap_password_file ${file} is mode 0644: others may read the LDAP service password`)
    assert.equal(open.step('service-password').fix, `chmod 600 ${file}`)
    assert.equal(open.status, 2)
    writeFileSync(path.join(dir, 'ok.secret'), `${SERVICE_PASSWORD}\n`, {mode: 0o600})
    const good = await testAuth(t, ldapYaml(slapd, {ldap_password: undefined, ldap_password_file: path.join(dir, 'ok.secret')}), 'alice@example.org', USERS.alice)
    assert.equal(good.report.verdict, 'accepted', good.stdout)
  })

  it('test-auth ldap: a base DN that does not exist', async (t) => {
    const result = await testAuth(t, ldapYaml(slapd, {ldap_base: 'ou=staff,dc=example,dc=org'}), 'alice@example.org', USERS.alice)
    const step = result.step('base')
    assert.equal(step.status, 'fail')
    assert.equal(step.detail, 'ou=staff,dc=example,dc=org: no such object (32)')
    assert.match(step.fix ?? '', /correct ldap_base/)
    assert.equal(result.status, 2)
  })

  it('test-auth ldap: a filter matching no entry, and one matching two', async (t) => {
    const none = await testAuth(t, ldapYaml(slapd, {ldap_filter: '(employeeType=contractor)'}), 'alice@example.org', USERS.alice)
    assert.equal(none.step('search').detail, '(&(uid=alice)(employeeType=contractor)) under dc=example,dc=org matches no entry')
    assert.equal(none.report.verdict, 'rejected')
    assert.equal(none.status, 1)
    const two = await testAuth(t, ldapYaml(slapd), 'twin@example.org', 'twin-password')
    assert.equal(two.step('search').detail, `(uid=twin) under dc=example,dc=org matches 2 entries: uid=twin,ou=people,${BASE}; uid=twin,ou=former,${BASE}`)
    assert.match(two.step('search').cause ?? '', /ambiguous/)
    assert.equal(two.status, 1)
  })

  it('test-auth ldap: the user\'s bind refused', async (t) => {
    const result = await testAuth(t, ldapYaml(slapd), 'alice@example.org', 'wrong password')
    const step = result.step('user-bind')
    assert.equal(step.status, 'fail')
    assert.equal(step.detail, `bind as uid=alice,${PEOPLE}: invalid credentials (49)`)
    assert.match(step.cause ?? '', /the user's bind was refused/)
    assert.equal(result.report.verdict, 'rejected')
    assert.equal(result.status, 1)
  })

  it('test-auth ldap: a timeout (a port that accepts and never answers)', async (t) => {
    const silent = createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    t.after(() => silent.close())
    const {port} = silent.address() as {port: number}
    const started = Date.now()
    const result = await testAuth(t, ldapYaml(slapd, {ldap_port: port, ldap_timeout: 1, ldap_connect_timeout: 1}), 'alice@example.org', USERS.alice)
    const step = result.step('service-bind')
    assert.equal(step.status, 'fail')
    assert.match(step.cause ?? '', /did not answer within ldap_timeout \(1 s\)/)
    assert.ok(Date.now() - started < 20_000)
    assert.equal(result.status, 3)
  })
})
