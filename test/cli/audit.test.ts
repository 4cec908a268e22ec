import assert from 'node:assert/strict'
import {chmodSync, statSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {describe, it} from 'node:test'

import {loadConfig} from '../../src/config/index.js'
import {silentLogger} from '../../src/server/log.js'
import {runServer} from '../../src/server/process.js'
import {type CliResult, freePort, runCli, tempDir, writeConfig} from '../helpers.js'
import {startTestServer} from '../integration/server/helpers.js'
import {plain} from '../integration/server/sasl-attempts.js'

const GOOD = 'hosts: [example.org]\ntls: {ciphers: "ECDHE+AESGCM:ECDHE+CHACHA20"}\n'

async function setup(t: {after(fn: () => void): void}, config = GOOD) {
  const dir = tempDir(t)
  writeConfig(dir, config)
  chmodSync(path.join(dir, 'xmppctl.yml'), 0o600)
  const cli = (args: string[], stdin?: string): Promise<CliResult> => runCli(args, {cwd: dir, stdin})
  assert.equal((await cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'secret\n')).status, 0)
  return {dir, cli, store: path.join(dir, 'data', 'accounts.sqlite'), data: path.join(dir, 'data')}
}

describe('xmppctl audit', () => {
  it('prints findings grouped by subject with their fixes, and exits 1 at the default --fail-on warning', async (t) => {
    const {cli, store, data} = await setup(t)
    chmodSync(store, 0o644)
    chmodSync(data, 0o755)
    const result = await cli(['audit', '--only', 'files', '--only', 'credentials'])
    assert.equal(result.stderr, '')
    assert.equal(result.status, 1)
    assert.equal(
      result.stdout,
      [
        store,
        `  critical store-mode: the account store has mode 0644: every user on this machine can read it`,
        `    fix: chmod 0600 ${store}`,
        data,
        `  warning dir-mode: directory has mode 0755: every user on this machine can list and enter it`,
        `    fix: chmod 0750 ${data}`,
        '1 critical, 1 warning, 0 info',
        '',
      ].join('\n'),
    )
  })

  it('exits 0 when nothing reaches --fail-on', async (t) => {
    const {cli, data} = await setup(t)
    chmodSync(data, 0o755)
    const result = await cli(['audit', '--only', 'files', '--fail-on', 'critical'])
    assert.equal(result.status, 0)
    assert.match(result.stdout, /0 critical, 1 warning, 0 info\n$/)
  })

  it('--json returns the findings as data, with whether --fix can repair each', async (t) => {
    const {cli, store} = await setup(t)
    chmodSync(store, 0o640)
    const result = await cli(['audit', '--only', 'store-mode', '--json'])
    assert.equal(result.status, 1)
    const json = JSON.parse(result.stdout)
    assert.deepEqual(json.findings, [{id: 'store-mode', severity: 'warning', subject: store, message: 'the account store has mode 0640: its group can read it', fix: `chmod 0600 ${store}`, fixable: true}])
    assert.deepEqual([json.failOn, json.failed, json.checks, json.fixed], ['warning', true, ['files'], []])
  })

  it('--fix changes only modes, lists each change with the old value, and checks again', async (t) => {
    const {cli, store, data} = await setup(t)
    chmodSync(store, 0o666)
    const result = await cli(['audit', '--only', 'files', '--fix'])
    assert.equal(result.status, 0, result.stdout)
    assert.equal(result.stdout, `fixed:\n  chmod ${store}: 0666 → 0600 (store-mode)\n\n0 critical, 0 warnings, 0 info\n`)
    assert.equal(statSync(store).mode & 0o777, 0o600)
    assert.equal(statSync(data).mode & 0o777, 0o700)
  })

  it('passes a clean installation as a whole except what it reports about certificates', async (t) => {
    const {cli} = await setup(t)
    assert.equal((await cli(['cert', 'generate', 'example.org'])).status, 0)
    const result = await cli(['audit', '--json'])
    const json = JSON.parse(result.stdout)
    assert.deepEqual(json.findings.map((finding: {id: string}) => finding.id), ['cert-self-signed'])
    assert.deepEqual(json.checks, ['files', 'config-file', 'credentials', 'sql-config', 'sql-connection', 'auth-backends', 'tls-policy', 's2s-policy', 'certificates', 'auth-bans'])
  })

  const bad: Array<[string, string[], RegExp]> = [
    ['an unknown check', ['audit', '--only', 'nope'], /^error: unknown check or finding "nope" \(use one of the checks files, config-file, credentials, sql-config, sql-connection, auth-backends, tls-policy, s2s-policy, certificates/],
    ['an unknown user', ['audit', '--as', 'no-such-user-xyz'], /^error: no such user "no-such-user-xyz"/],
    ['an unknown severity', ['audit', '--fail-on', 'error'], /^error: Expected --fail-on=error to be one of: info, warning, critical, none/],
  ]
  for (const [what, args, expected] of bad) {
    it(`refuses ${what} with exit 2 and one line`, async (t) => {
      const dir = tempDir(t)
      writeConfig(dir, GOOD)
      const result = await runCli(args, {cwd: dir})
      assert.equal(result.status, 2)
      assert.equal(result.stdout, '')
      assert.match(result.stderr, expected)
      assert.equal(result.stderr.split('\n').length, 2)
    })
  }

  it('has help with examples', async (t) => {
    const result = await runCli(['audit', '--help'], {cwd: tempDir(t)})
    assert.equal(result.status, 0)
    assert.match(result.stdout, /EXAMPLES\n {2}\$ xmppctl audit\n/)
    assert.match(result.stdout, /--fix/)
  })
})

describe('xmppctl audit: failed-login bans of the running server', () => {
  it('reports a banned address as an info finding, as status shows it, with --json', async (t) => {
    const port = await freePort()
    // PLAIN without TLS keeps the failed logins cheap; two failures ban an address.
    const config = `hosts: [localhost]\nc2s_require_encryption: false\nallow_unencrypted_plain_auth: true\nc2s_max_auth_failures: 2\nc2s_auth_ban_lifetime: 600\nlisten:\n  - {port: ${port}, ip: 127.0.0.1, starttls: disabled}\n`
    const dir = tempDir(t)
    const file = writeConfig(dir, config)
    const cli = (args: string[], stdin?: string): Promise<CliResult> => runCli(args, {cwd: dir, stdin})
    assert.equal((await cli(['user', 'add', 'alice@localhost', '--password-stdin'], 'secret\n')).status, 0)
    const running = await runServer(loadConfig(file), {logger: silentLogger, configFile: file})
    t.after(() => running.stop())
    for (let attempt = 0; attempt < 2; attempt++) assert.equal(await plain(port, 'alice', 'wrong', '127.0.0.5'), 'not-authorized')
    assert.equal(await plain(port, 'alice', 'secret', '127.0.0.5'), 'temporary-auth-failure')

    const status = JSON.parse((await cli(['status', '--json'])).stdout) as {bans: Array<{address: string; failures: number; until: string}>}
    assert.deepEqual(status.bans.map(({address, failures}) => [address, failures]), [['127.0.0.5', 2]])
    const {until} = status.bans[0]
    const result = await cli(['audit', '--only', 'auth-bans', '--json'])
    assert.equal(result.status, 0, result.stderr)
    const json = JSON.parse(result.stdout)
    assert.deepEqual(json.findings, [
      {
        id: 'auth-ban',
        severity: 'info',
        subject: '127.0.0.5',
        message: `refused after 2 failed logins within c2s_auth_ban_lifetime (600 s), until ${until}`,
        fix: 'nothing, if these were guesses; if they are your own users (behind a NAT or a proxy, or a load test), add their network to c2s_auth_ban_exempt or raise c2s_max_auth_failures, then run "xmppctl reload": the ban is lifted',
        fixable: false,
      },
    ])
    assert.deepEqual([json.checks, json.skipped, json.failed], [['auth-bans'], [], false])

    // The network exempted in the file but not reloaded: a warning; after the reload, the ban is gone.
    writeConfig(dir, `${config}c2s_auth_ban_exempt: [127.0.0.0/24]\n`)
    const stale = await cli(['audit', '--only', 'auth-bans'])
    assert.equal(stale.status, 1)
    assert.equal(
      stale.stdout,
      `127.0.0.5\n  warning auth-ban-exempt: refused after 2 failed logins until ${until}, although c2s_auth_ban_exempt exempts it: the server runs with an older configuration\n    fix: run "xmppctl reload": the ban is lifted\n0 critical, 1 warning, 0 info\n`,
    )
    assert.equal((await cli(['reload'])).status, 0)
    assert.equal((await cli(['audit', '--only', 'auth-bans'])).stdout, '0 critical, 0 warnings, 0 info\n')
    assert.equal(await plain(port, 'alice', 'secret', '127.0.0.5'), 'success')
  })

  it('says it did not look when no server runs, and finds nothing', async (t) => {
    const {cli, data} = await setup(t)
    const human = await cli(['audit', '--only', 'auth-bans'])
    assert.equal(human.status, 0)
    assert.equal(human.stdout, `not checked: auth-bans (no server is running for data directory ${data})\n0 critical, 0 warnings, 0 info\n`)
    const json = JSON.parse((await cli(['audit', '--only', 'auth-bans', '--json'])).stdout)
    assert.deepEqual([json.findings, json.skipped], [[], [{check: 'auth-bans', reason: `no server is running for data directory ${data}`}]])
  })
})

describe('xmppctl audit remote', () => {
  it('prints the grade, every cap with its reason, and the findings; exits 1 on a warning', async (t) => {
    // CBC suites beside the AEAD ones: an A- and a warning.
    const server = await startTestServer(t, {settings: {tls: {min_version: 'TLSv1.2', ciphers: 'ECDHE+AESGCM:ECDHE+AES', dhparam: 'ffdhe3072'}}})
    const cert = path.join(server.dataDir, 'certs', 'localhost.crt')
    const result = await runCli(['audit', 'remote', `127.0.0.1:${server.starttlsPort}`, '--xmpp-domain', 'localhost', '--ca', cert], {cwd: tempDir(t)})
    assert.equal(result.stderr, '')
    assert.equal(result.status, 1)
    assert.match(result.stdout, /^localhost at 127\.0\.0\.1:\d+ \(STARTTLS\)\nbefore TLS: {3}STARTTLS offered, required; mechanisms: none\n/)
    assert.match(result.stdout, /\n {2}TLSv1\.1 {2}refused — tlsv1 alert protocol version \(alert 70\)\n/)
    assert.match(result.stdout, /\ngrade: A- — score 96 \(protocol 100, key exchange 100, cipher 90\)\n {2}cap A-: not every suite has authenticated encryption \([^)]*ECDHE-ECDSA-AES256-SHA384/)
    assert.match(result.stdout, /\n {2}SSLv3 {4}refused — alert 40\n/)
    assert.match(result.stdout, /\n {2}warning cipher-non-aead: the server accepts suites without authenticated encryption/)
    assert.match(result.stdout, /\n0 critical, 1 warning, 0 info\n$/)
  })

  it('--json carries the grade; --fail-on critical exits 0', async (t) => {
    const server = await startTestServer(t)
    const result = await runCli(['audit', 'remote', `127.0.0.1:${server.tlsPort}`, '--direct-tls', '--xmpp-domain', 'localhost', '--json', '--fail-on', 'critical'], {cwd: tempDir(t)})
    assert.equal(result.status, 0, result.stderr)
    const json = JSON.parse(result.stdout)
    assert.equal(json.grade.grade, 'T')
    assert.equal(json.grade.gradeIgnoringTrust, 'A')
    assert.equal(json.target.mode, 'direct-tls')
  })

  it('exits 3 with one line when nothing listens', async (t) => {
    const probe = net.createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const {port} = probe.address() as net.AddressInfo
    await new Promise((resolve) => probe.close(resolve))
    const result = await runCli(['audit', 'remote', `127.0.0.1:${port}`, '--xmpp-domain', 'localhost'], {cwd: tempDir(t)})
    assert.equal(result.status, 3)
    assert.equal(result.stdout, '')
    assert.match(result.stderr, new RegExp(`^error: cannot connect to 127\\.0\\.0\\.1:${port}: ECONNREFUSED`))
  })

  it('refuses an address without --xmpp-domain, and --starttls with --direct-tls', async (t) => {
    const first = await runCli(['audit', 'remote', '127.0.0.1'], {cwd: tempDir(t)})
    assert.equal(first.status, 2)
    assert.match(first.stderr, /^error: 127\.0\.0\.1 is an address, not a domain \(name the XMPP domain to ask for with --xmpp-domain\)/)
    const second = await runCli(['audit', 'remote', 'example.org', '--starttls', '--direct-tls'], {cwd: tempDir(t)})
    assert.equal(second.status, 2)
  })
})
