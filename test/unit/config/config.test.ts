import assert from 'node:assert/strict'
import {truncateSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {loadConfig, parseConfig} from '../../../src/config/index.js'
import {didYouMean} from '../../../src/suggest.js'
import {UnknownHostError} from '../../../src/errors.js'
import {tempDir, writeConfig} from '../../helpers.js'
import {problemsOf} from './problems.js'

describe('configuration', () => {
  it('uses the built-in defaults when no file is named and ./xmppctl.yml is absent', (t) => {
    const dir = tempDir(t)
    const previous = process.cwd()
    process.chdir(dir)
    try {
      const config = loadConfig(undefined, {})
      assert.equal(config.file, undefined)
      assert.deepEqual(config.hosts, ['localhost'])
      assert.equal(config.dataDir, path.join(dir, 'data'))
    } finally {
      process.chdir(previous)
    }
  })

  it('has the documented defaults', () => {
    const config = parseConfig('', '/x/xmppctl.yml')
    assert.deepEqual(config.hosts, ['localhost'])
    assert.equal(config.settings.data_dir, './data')
    assert.equal(config.dataDir, '/x/data')
    const host = config.forHost('localhost')
    assert.deepEqual(host.auth_method, ['internal'])
    assert.equal(host.auth_password_format, 'scram')
    assert.deepEqual(host.auth_scram_hash, ['sha1', 'sha256'])
    assert.equal(host.auth_scram_iterations, 10_000)
  })

  it('merges host_config over the global settings, per host', () => {
    const config = parseConfig(
      'hosts: [example.org, Example.NET.]\nauth_scram_hash: [sha256]\nhost_config:\n  example.net:\n    auth_scram_hash: [sha512]\n    auth_password_format: plain\n',
      '/x/xmppctl.yml',
    )
    assert.deepEqual(config.hosts, ['example.org', 'example.net'])
    assert.deepEqual(config.forHost('example.org').auth_scram_hash, ['sha256'])
    assert.deepEqual(config.forHost('example.net').auth_scram_hash, ['sha512'])
    assert.equal(config.forHost('EXAMPLE.net').auth_password_format, 'plain')
    assert.equal(config.forHost('example.org').auth_password_format, 'scram')
  })

  it('reports an unknown key with its line and column and a did-you-mean', () => {
    const [problem] = problemsOf('hosts: [example.org]\nauth_scram_hashes: [sha1]\n')
    assert.equal(problem.location, '/etc/xmppctl.yml:2:1')
    assert.match(problem.message, /unknown key auth_scram_hashes/)
    assert.equal(problem.hint, 'did you mean auth_scram_hash?')
  })

  it('reports a value outside the allowed ones, listing them', () => {
    const [problem] = problemsOf('auth_password_format: scarm\n')
    assert.equal(problem.location, '/etc/xmppctl.yml:1:23')
    assert.match(problem.message, /auth_password_format must be one of scram, plain, not "scarm"/)
    assert.equal(problem.hint, 'did you mean scram?')
  })

  it('takes gssapi with its keytab, realm and principal map, per host', () => {
    const config = parseConfig(
      'hosts: [a.org, b.org]\nauth_method: [internal, gssapi]\ngssapi_keytab: /etc/xmpp.keytab\ngssapi_realm: A.ORG\nhost_config:\n  b.org: {gssapi_principal_map: {"bob/admin@A.ORG": bob}}\n',
      '/etc/xmppctl.yml',
    )
    const [a, b] = [config.forHost('a.org'), config.forHost('b.org')]
    assert.deepEqual([a.auth_method, a.gssapi_keytab, a.gssapi_service_name, a.gssapi_realm, a.gssapi_principal_map], [['internal', 'gssapi'], '/etc/xmpp.keytab', 'xmpp', 'A.ORG', {}])
    assert.deepEqual(b.gssapi_principal_map, {'bob/admin@A.ORG': 'bob'})
    const [problem] = problemsOf('gssapi_principal_map: {"bob/admin@A.ORG": [bob]}\n')
    assert.match(problem.message, /gssapi_principal_map/)
  })

  it('takes ldap with ejabberd\'s option names, per host, and ldap_tls_verify: false as ejabberd writes it', () => {
    const config = parseConfig(
      'hosts: [a.org, b.org]\nauth_method: [ldap]\nldap_servers: [ldap.example.org]\nldap_encrypt: tls\nldap_tls_verify: false\nldap_base: "ou=people,dc=example,dc=org"\nldap_uids: {mail: "%u@example.org"}\nldap_dn_filter: {"(memberUid=%u)": [uid]}\nhost_config:\n  b.org: {ldap_base: "ou=b,dc=example,dc=org", ldap_pool_size: 4}\n',
      '/etc/xmppctl.yml',
    )
    const a = config.forHost('a.org')
    assert.deepEqual([a.auth_method, a.ldap_encrypt, a.ldap_tls_verify, a.ldap_uids, a.ldap_dn_filter, a.ldap_pool_size], [['ldap'], 'tls', 'false', {mail: '%u@example.org'}, {'(memberUid=%u)': ['uid']}, 2])
    assert.deepEqual([config.forHost('b.org').ldap_base, config.forHost('b.org').ldap_pool_size], ['ou=b,dc=example,dc=org', 4])
    const [encrypt] = problemsOf('ldap_encrypt: ssl\n')
    assert.match(encrypt.message, /ldap_encrypt must be one of none, starttls, tls, not "ssl"/)
    const [verify] = problemsOf('ldap_tls_verify: true\n')
    assert.match(verify.message, /ldap_tls_verify must be one of hard, soft, false/)
  })

  it('reports every problem, not only the first', () => {
    const problems = problemsOf('auth_scram_iterations: 12\nauth_use_cache: maybe\nauth_scram_hash: [sha1, md5]\nhosts: []\n')
    assert.deepEqual(
      problems.map((problem) => problem.location),
      ['/etc/xmppctl.yml:1:24', '/etc/xmppctl.yml:2:17', '/etc/xmppctl.yml:3:25', '/etc/xmppctl.yml:4:8'],
    )
    assert.match(problems[0].message, /auth_scram_iterations must be an integer ≥ 4096 and ≤ 10000000, not 12/)
    assert.match(problems[1].message, /true or false/)
    assert.match(problems[2].message, /one of sha1, sha256, sha512, not "md5"/)
    assert.match(problems[3].message, /hosts must not be empty/)
  })

  it('refuses host_config for a host that is not served, and keys that are not per host', () => {
    const problems = problemsOf('hosts: [example.org]\nhost_config:\n  example.com: {auth_method: [pam]}\n  example.org: {data_dir: /tmp}\n')
    assert.equal(problems.length, 2)
    assert.match(problems[0].message, /unknown key host_config\.example\.org\.data_dir/)
    assert.match(problems[1].message, /host_config names example\.com, which is not in hosts/)
  })

  it('keeps the valid top-level values when another key is invalid, so host_config is checked against the real hosts', () => {
    const problems = problemsOf('hosts: [example.org]\nauth_scram_iterations: 100\nhost_config: {example.org: {pam_service: x}}\n')
    assert.deepEqual(
      problems.map((problem) => `${problem.location} ${problem.message}`),
      ['/etc/xmppctl.yml:2:24 auth_scram_iterations must be an integer ≥ 4096 and ≤ 10000000, not 100'],
    )
  })

  it('reports a duplicate host even when another key is invalid', () => {
    const problems = problemsOf('hosts: [Example.ORG, example.org.]\nauth_use_cache: maybe\n')
    assert.deepEqual(
      problems.map((problem) => `${problem.location} ${problem.message}`),
      ['/etc/xmppctl.yml:2:17 auth_use_cache must be true or false, not "maybe"', '/etc/xmppctl.yml:1:22 hosts lists example.org twice'],
    )
  })

  it('does not check host_config against the default hosts when hosts itself is invalid', () => {
    const problems = problemsOf('hosts: [example.org, 5]\nhost_config: {example.org: {auth_password_format: plain}}\n')
    assert.deepEqual(
      problems.map((problem) => `${problem.location} ${problem.message}`),
      ['/etc/xmppctl.yml:1:22 hosts[1] must be a string that is not empty, not 5'],
    )
  })

  it('reports an out-of-range value once, never as missing', () => {
    const problems = problemsOf('listen: [{port: 70000}]\n')
    assert.deepEqual(
      problems.map((problem) => `${problem.location} ${problem.message}`),
      ['/etc/xmppctl.yml:1:17 listen[0].port must be an integer ≥ 1 and ≤ 65535, not 70000'],
    )
  })

  it('still reports a required key that is absent', () => {
    const problems = problemsOf('listen: [{ip: "::1"}]\n')
    assert.deepEqual(problems.map((problem) => problem.message), ['listen[0].port is required'])
  })

  it('reports host_config entries that name the same host in another case, with both locations', () => {
    const problems = problemsOf(
      'hosts: [example.org]\nhost_config:\n  Example.org: {auth_password_format: plain}\n  example.org.: {auth_scram_iterations: 5000}\n',
    )
    assert.deepEqual(
      problems.map((problem) => `${problem.location} ${problem.message}`),
      [
        '/etc/xmppctl.yml:4:3 host_config names example.org twice: as "Example.org" at /etc/xmppctl.yml:3:3 and as "example.org." at /etc/xmppctl.yml:4:3',
      ],
    )
    assert.equal(problems[0].hint, 'merge the two entries into one')
  })

  it('reports YAML syntax errors with a position', () => {
    const [problem] = problemsOf('hosts: [example.org\nauth_method: internal\n')
    assert.match(problem.location, /^\/etc\/xmppctl\.yml:\d+:\d+$/)
    assert.match(problem.message, /YAML syntax error/)
  })

  it('refuses invalid host names', () => {
    const [problem] = problemsOf('hosts: ["exa mple.org"]\n')
    assert.equal(problem.location, '/etc/xmppctl.yml:1:9')
    assert.match(problem.message, /not a valid domain/)
  })

  it('fills listener defaults and accepts a single value where a list is expected', () => {
    const config = parseConfig('listen:\n  - {port: 5322}\nauth_method: internal\n', '/x/xmppctl.yml')
    assert.deepEqual(config.settings.listen, [{port: 5322, ip: '::', module: 'c2s', starttls: 'required', tls: false}])
    assert.deepEqual(config.settings.auth_method, ['internal'])
  })

  it('names the configured hosts when asked for another', () => {
    const config = parseConfig('hosts: [example.org, example.net]\n', '/x/xmppctl.yml')
    assert.throws(() => config.forHost('example.com'), (error: unknown) => {
      assert.ok(error instanceof UnknownHostError)
      assert.equal(error.message, 'host example.com is not configured (configured: example.org, example.net)')
      return true
    })
  })

  it('reads the file named by XMPPCTL_CONFIG and resolves data_dir next to it', (t) => {
    const dir = tempDir(t)
    const file = writeConfig(dir, 'hosts: [example.org]\ndata_dir: store\n')
    const config = loadConfig(undefined, {XMPPCTL_CONFIG: file})
    assert.equal(config.file, file)
    assert.equal(config.dataDir, path.join(dir, 'store'))
  })

  it('fails clearly when an explicit file is missing', (t) => {
    const dir = tempDir(t)
    assert.throws(() => loadConfig(path.join(dir, 'nope.yml'), {}), /cannot read configuration file .*nope\.yml: ENOENT/)
  })

  it('refuses a file over 1 MiB from its size, without reading it', (t) => {
    const dir = tempDir(t)
    const file = writeConfig(dir, 'hosts: [example.org]\n')
    // Sparse: 3 GiB that take no space, and more than readFileSync could even hold in a string.
    truncateSync(file, 3 * 1024 ** 3)
    assert.throws(() => loadConfig(file, {}), (error: unknown) => {
      assert.ok(error instanceof Error)
      assert.match(error.message, /^configuration file .*xmppctl\.yml is larger than 1 MiB$/)
      return true
    })
  })

  it('refuses a file just over 1 MiB and reads one just under', (t) => {
    const dir = tempDir(t)
    const big = path.join(dir, 'big.yml')
    writeFileSync(big, `# ${'x'.repeat(1024 * 1024)}\n`)
    assert.throws(() => loadConfig(big, {}), /is larger than 1 MiB/)
    const small = path.join(dir, 'small.yml')
    writeFileSync(small, `# ${'x'.repeat(1024 * 1024 - 100)}\nhosts: [example.org]\n`)
    assert.deepEqual(loadConfig(small, {}).hosts, ['example.org'])
  })

  it('suggests the nearest key only when it is near', () => {
    assert.equal(didYouMean('auth_metod', ['auth_method', 'hosts']), 'auth_method')
    assert.equal(didYouMean('completely_different', ['auth_method', 'hosts']), undefined)
  })
})
