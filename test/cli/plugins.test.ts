/**
 * `xmppctl plugins install|uninstall|list` with the example HTTP auth plugin,
 * installed from its directory and from an `npm pack` tarball into a
 * private oclif data directory; `config check` and `test-auth` through it
 * against a real HTTP(S) service; and a broken plugin that is reported but
 * stops nothing.
 */
import assert from 'node:assert/strict'
import {rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {type CliResult, tempDir, writeConfig} from '../helpers.js'
import {EXAMPLE_PLUGIN, brokenPlugin, cliIn, packExample, startAuthService} from '../integration/plugins/helpers.js'
import type {DiagnosticStep} from '../../src/auth/diagnose/report.js'

const PASSWORD = 'pässwörd: with spaces'

interface Listed {
  name: string
  version: string | null
  source: string
  backends: Array<{method: string; keys: string[]}>
  error?: string
}

const listed = (result: CliResult) => (JSON.parse(result.stdout) as {plugins: Listed[]}).plugins

type Step = DiagnosticStep

const steps = (result: CliResult) => (JSON.parse(result.stdout) as {steps: Step[]}).steps
const step = (result: CliResult, id: string) => {
  const found = steps(result).find((candidate) => candidate.id === id)
  assert.ok(found, `no step ${id} in ${result.stdout}`)
  return found
}

/** A directory with the example plugin installed from its directory. */
async function withPlugin(t: {after(fn: () => void): void}) {
  const dir = tempDir(t, 'xmppctl-plugins-')
  const cli = cliIn(dir)
  const installed = await cli(['plugins', 'install', EXAMPLE_PLUGIN, '--json'])
  assert.equal(installed.status, 0, installed.stdout + installed.stderr)
  return {dir, cli, installed}
}

describe('plugins install, list and uninstall', () => {
  it('installs the example plugin from a directory and lists it with its source and backends', async (t) => {
    const {cli, installed} = await withPlugin(t)
    const result = JSON.parse(installed.stdout)
    assert.equal(result.name, 'xmppctl-auth-http')
    assert.equal(result.version, '0.1.0')
    assert.equal(result.kind, 'path')
    assert.deepEqual(result.backends.map((backend: {method: string}) => backend.method), ['http'])
    assert.equal(result.error, undefined)

    const list = await cli(['plugins', 'list'])
    assert.equal(list.status, 0, list.stderr)
    assert.match(list.stdout, /^NAME +VERSION +SOURCE +BACKENDS\n/)
    assert.match(list.stdout, new RegExp(`\\nxmppctl-auth-http +0\\.1\\.0 +path ${EXAMPLE_PLUGIN.replaceAll('/', '\\/')} +http\\n?$`))
    const [plugin] = listed(await cli(['plugins', 'list', '--json']))
    assert.equal(plugin.name, 'xmppctl-auth-http')
    assert.deepEqual(plugin.backends[0].keys.sort(), ['http_auth_ca_file', 'http_auth_timeout', 'http_auth_tls_verify', 'http_auth_token_file', 'http_auth_url'])
  })

  it('installs from an npm pack tarball, and uninstalls', async (t) => {
    const dir = tempDir(t, 'xmppctl-plugins-')
    const tarball = packExample(dir)
    const cli = cliIn(dir)
    const installed = await cli(['plugins', 'install', `./${path.basename(tarball)}`])
    assert.equal(installed.status, 0, installed.stdout + installed.stderr)
    assert.match(installed.stdout, /^installed xmppctl-auth-http 0\.1\.0 from tarball .*xmppctl-auth-http-0\.1\.0\.tgz; auth_method: http\n$/)
    const [plugin] = listed(await cli(['plugins', 'list', '--json']))
    assert.equal(plugin.source, `tarball ${tarball}`)
    assert.deepEqual(plugin.backends.map((backend) => backend.method), ['http'])

    const removed = await cli(['plugins', 'uninstall', 'xmppctl-auth-http', '--json'])
    assert.equal(removed.status, 0, removed.stderr)
    assert.deepEqual(JSON.parse(removed.stdout), {name: 'xmppctl-auth-http', backends: ['http']})
    assert.deepEqual(listed(await cli(['plugins', 'list', '--json'])), [])
    // The configuration that used it is now an error naming the package to install.
    writeConfig(dir, 'hosts: [example.org]\nauth_method: [http]\nhttp_auth_url: http://127.0.0.1:9/\n')
    const check = await cli(['config', 'check'])
    assert.equal(check.status, 2)
    assert.match(check.stderr, /xmppctl\.yml:2:15: auth_method\[0\] is http, which the auth plugin xmppctl-auth-http provides, and it is not loaded \(install the auth plugin that provides it: xmppctl plugins install xmppctl-auth-http\)/)
  })

  it('refuses a path that does not exist, and uninstalling what is not installed', async (t) => {
    const dir = tempDir(t, 'xmppctl-plugins-')
    const cli = cliIn(dir)
    const missing = await cli(['plugins', 'install', './nowhere.tgz'])
    assert.equal(missing.status, 2)
    assert.equal(missing.stderr, 'error: ./nowhere.tgz: no such directory or tarball (give a package name, a plugin directory, or a tarball made with "npm pack")\n')
    const absent = await cli(['plugins', 'uninstall', 'xmppctl-auth-http', '--json'])
    assert.equal(absent.status, 2)
    assert.equal(JSON.parse(absent.stdout).error.code, 'plugin-not-installed')
  })
})

describe('config check with auth plugins', () => {
  it('validates plugin keys with file:line:col, did-you-mean and the plugin\'s own checks', async (t) => {
    const {dir, cli} = await withPlugin(t)
    writeConfig(dir, 'hosts: [example.org]\nauth_method: [internal, http]\nhttp_auth_url: ftp://auth.example.org/\nhttp_auth_timout: 3\nhttp_auth_timeout: 0\n')
    const result = await cli(['config', 'check'])
    assert.equal(result.status, 2)
    assert.equal(
      result.stderr,
      'error: xmppctl.yml:3:16: http_auth_url must be an http:// or https:// URL, not ftp:\n' +
        'error: xmppctl.yml:4:1: unknown key http_auth_timout (did you mean http_auth_timeout?)\n' +
        'error: xmppctl.yml:5:20: http_auth_timeout must be an integer ≥ 1 and ≤ 300, not 0\n',
    )
  })

  it('says which keys a configured plugin backend needs, per host', async (t) => {
    const {dir, cli} = await withPlugin(t)
    writeConfig(dir, 'hosts: [example.org, example.net]\nhost_config:\n  example.net:\n    auth_method: [http]\n')
    const result = await cli(['config', 'check'])
    assert.equal(result.status, 2)
    assert.match(result.stderr, /^error: xmppctl\.yml:4:18: auth_method http of example\.net needs http_auth_url, which is not set \(set http_auth_url, .*; the auth plugin xmppctl-auth-http reads it\)\n$/)
  })

  it('accepts a valid plugin configuration and names the plugin', async (t) => {
    const {dir, cli} = await withPlugin(t)
    writeConfig(dir, 'hosts: [example.org]\nauth_method: [http]\nhttp_auth_url: https://auth.example.org/xmpp\nhost_config:\n  example.org: {http_auth_timeout: 2}\n')
    const result = await cli(['config', 'check', '--json'])
    assert.equal(result.status, 0, result.stderr)
    const json = JSON.parse(result.stdout)
    assert.deepEqual(json.plugins, [{method: 'http', plugin: 'xmppctl-auth-http', version: '0.1.0'}])
    assert.equal(json.hosts['example.org'].http_auth_timeout, 2)
    assert.equal(json.hosts['example.org'].http_auth_tls_verify, true)
  })

  it('names the package to install for a method no installed plugin provides', async (t) => {
    const dir = tempDir(t, 'xmppctl-plugins-')
    writeConfig(dir, 'hosts: [example.org]\nauth_method: [internal, http]\nhttp_auth_url: https://auth.example.org/\n')
    const result = await cliIn(dir)(['config', 'check', '--json'])
    assert.equal(result.status, 2)
    const {problems} = JSON.parse(result.stdout).error
    assert.deepEqual(problems[0], {
      location: 'xmppctl.yml:2:25',
      message: 'auth_method[1] is http, which the auth plugin xmppctl-auth-http provides, and it is not loaded',
      hint: 'install the auth plugin that provides it: xmppctl plugins install xmppctl-auth-http',
    })
    assert.equal(problems[1].message, 'unknown key http_auth_url: it belongs to the auth plugin xmppctl-auth-http, which is not loaded')
  })
})

describe('test-auth through the http plugin', () => {
  it('accepts the right password, rejects a wrong one, and never puts the password in the URL', async (t) => {
    const {dir, cli} = await withPlugin(t)
    const service = await startAuthService(t, {users: {alice: PASSWORD}})
    writeConfig(dir, `hosts: [example.org]\ndata_dir: ./data\nauth_method: [http]\nhttp_auth_url: ${service.url}\n`)
    const ok = await cli(['test-auth', 'http', 'alice@example.org', '--password-stdin'], `${PASSWORD}\n`)
    assert.equal(ok.status, 0, ok.stdout + ok.stderr)
    assert.match(ok.stdout, /^test-auth http on example\.org for alice@example\.org\n/)
    assert.match(ok.stdout, /\n {2}ok {4}plugin +provided by xmppctl-auth-http 0\.1\.0/)
    assert.match(ok.stdout, /\n {2}ok {4}service answers +http:\/\/127\.0\.0\.1:\d+\/xmpp\/auth answered in \d+ ms \(HTTP 404\)/)
    assert.match(ok.stdout, /\n {2}ok {4}password +alice@example\.org is accepted/)
    assert.match(ok.stdout, /\nverdict: accepted in /)
    assert.ok(!ok.stdout.includes(PASSWORD))

    const check = service.requests.find((request) => request.json.action === 'check_password')
    assert.ok(check)
    assert.equal(check.method, 'POST')
    assert.equal(check.url, '/xmpp/auth')
    assert.equal(check.headers['content-type'], 'application/json')
    assert.deepEqual(check.json, {action: 'check_password', username: 'alice', host: 'example.org', password: PASSWORD})

    const wrong = await cli(['test-auth', 'http', 'alice@example.org', '--password-stdin', '--json'], 'nope\n')
    assert.equal(wrong.status, 1)
    assert.equal(JSON.parse(wrong.stdout).verdict, 'rejected')
    assert.equal(step(wrong, 'check-password').status, 'fail')
    assert.equal(step(wrong, 'user-exists').detail, 'alice@example.org exists')
  })

  it('says unavailable, with cause and fix, when nothing listens or the service is too slow', async (t) => {
    const {dir, cli} = await withPlugin(t)
    const slow = await startAuthService(t, {users: {alice: PASSWORD}, delayMs: 6000})
    writeConfig(dir, 'hosts: [example.org]\ndata_dir: ./data\nauth_method: [http]\nhttp_auth_url: http://127.0.0.1:9/auth\n')
    const refused = await cli(['test-auth', 'http', '--json'])
    assert.equal(refused.status, 3)
    assert.equal(step(refused, 'reachable').detail, 'connection refused by 127.0.0.1:9: nothing listens there')
    assert.equal(step(refused, 'reachable').fix, 'start the auth service, or correct the port in http_auth_url')

    writeConfig(dir, `hosts: [example.org]\ndata_dir: ./data\nauth_method: [http]\nhttp_auth_url: ${slow.url}\nhttp_auth_timeout: 1\n`)
    const started = Date.now()
    const timedOut = await cli(['test-auth', 'http', 'alice@example.org', '--password-stdin', '--json'], `${PASSWORD}\n`)
    assert.equal(timedOut.status, 3, timedOut.stdout)
    assert.match(step(timedOut, 'reachable').detail, /^no answer from http:\/\/127\.0\.0\.1:\d+\/xmpp\/auth within 1 s$/)
    // Well before the service's 6 s answer, with room for a CLI start on a loaded machine.
    assert.ok(Date.now() - started < 5500, 'the timeout was not applied')
  })

  it('verifies TLS by default, trusts http_auth_ca_file, and warns when verification is off', async (t) => {
    const {dir, cli} = await withPlugin(t)
    const service = await startAuthService(t, {users: {alice: PASSWORD}, tls: {dir}, token: 's3cret-token'})
    writeFileSync(path.join(dir, 'ca.pem'), service.certificate!)
    writeFileSync(path.join(dir, 'token'), 's3cret-token\n')
    const base = `hosts: [example.org]\ndata_dir: ./data\nauth_method: [http]\nhttp_auth_url: ${service.url}\nhttp_auth_token_file: ./token\n`

    writeConfig(dir, base)
    const untrusted = await cli(['test-auth', 'http', 'alice@example.org', '--password-stdin', '--json'], `${PASSWORD}\n`)
    assert.equal(untrusted.status, 3, untrusted.stdout)
    assert.match(step(untrusted, 'reachable').detail, /certificate of localhost:\d+ is not trusted: .*\((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\)/)
    assert.match(step(untrusted, 'reachable').fix!, /http_auth_ca_file/)

    writeConfig(dir, `${base}http_auth_ca_file: ./ca.pem\n`)
    const trusted = await cli(['test-auth', 'http', 'alice@example.org', '--password-stdin', '--json'], `${PASSWORD}\n`)
    assert.equal(trusted.status, 0, trusted.stdout)
    assert.equal(step(trusted, 'tls-verify').detail, 'on, trusting the CA in http_auth_ca_file')
    assert.equal(service.requests.at(-1)?.headers.authorization, 'Bearer s3cret-token')
    assert.ok(!trusted.stdout.includes('s3cret-token'))

    writeConfig(dir, `${base}http_auth_tls_verify: false\n`)
    const unverified = await cli(['test-auth', 'http', 'alice@example.org', '--password-stdin', '--json'], `${PASSWORD}\n`)
    assert.equal(unverified.status, 0, unverified.stdout)
    assert.equal(step(unverified, 'tls-verify').status, 'warn')
  })

  it('names the plugin to install for test-auth http without it, and suggests a method for a typo', async (t) => {
    const dir = tempDir(t, 'xmppctl-plugins-')
    const cli = cliIn(dir)
    const missing = await cli(['test-auth', 'http'])
    assert.equal(missing.status, 2)
    assert.equal(missing.stderr, 'error: the http backend is provided by the auth plugin xmppctl-auth-http, which is not loaded (install the auth plugin that provides it: xmppctl plugins install xmppctl-auth-http)\n')
    const typo = await cli(['test-auth', 'externel'])
    assert.equal(typo.status, 2)
    assert.match(typo.stderr, /^error: unknown backend externel \(known: .*\) \(did you mean external\?\)\n$/)
  })
})

describe('a plugin that fails to load', () => {
  it('is listed with its error, and config check and test-auth still run', async (t) => {
    const {dir, cli} = await withPlugin(t)
    const broken = brokenPlugin(dir)
    const installed = await cli(['plugins', 'install', broken, '--json'])
    assert.equal(installed.status, 0, installed.stdout + installed.stderr)
    assert.match(JSON.parse(installed.stdout).error, /broken on purpose/)

    const list = await cli(['plugins', 'list', '--json'])
    assert.equal(list.status, 0)
    const plugins = listed(list)
    assert.deepEqual(plugins.map((plugin) => plugin.name), ['xmppctl-auth-broken', 'xmppctl-auth-http'])
    assert.match(plugins[0].error!, /^broken on purpose: cannot reach the plugin's own configuration$/)
    assert.deepEqual(plugins[1].backends.map((backend) => backend.method), ['http'])
    const table = await cli(['plugins', 'list'])
    assert.match(table.stdout, /\nxmppctl-auth-broken +1\.0\.0 +path .* +FAILED\n/)
    assert.match(table.stderr, /^error: xmppctl-auth-broken failed to load: broken on purpose/)

    const service = await startAuthService(t, {users: {alice: PASSWORD}})
    writeConfig(dir, `hosts: [example.org]\ndata_dir: ./data\nauth_method: [http]\nhttp_auth_url: ${service.url}\n`)
    const check = await cli(['config', 'check'])
    assert.equal(check.status, 0, check.stderr)
    const auth = await cli(['test-auth', 'http', 'alice@example.org', '--password-stdin', '--json'], `${PASSWORD}\n`)
    assert.equal(auth.status, 0, auth.stdout + auth.stderr)
    assert.equal(JSON.parse(auth.stdout).verdict, 'accepted')
  })

  it('is reported when its files are gone, and the rest of the CLI works', async (t) => {
    const {dir, cli} = await withPlugin(t)
    const broken = brokenPlugin(dir, 'xmppctl-auth-gone')
    assert.equal((await cli(['plugins', 'install', broken])).status, 0)
    rmSync(broken, {recursive: true, force: true})
    const list = await cli(['plugins', 'list', '--json'])
    assert.equal(list.status, 0, list.stderr)
    const gone = listed(list).find((plugin) => plugin.name === 'xmppctl-auth-gone')
    assert.equal(gone?.error, `its files are missing (installed from ${broken}): reinstall it, or remove it with "xmppctl plugins uninstall xmppctl-auth-gone"`, list.stdout)
    writeConfig(dir, 'hosts: [example.org]\n')
    assert.equal((await cli(['config', 'check'])).status, 0)
  })
})
