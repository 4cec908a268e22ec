import assert from 'node:assert/strict'
import {chmodSync, chownSync, mkdirSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {SaslauthdBackend, askSaslauthd} from '../../../src/auth/backends/saslauthd.js'
import {PamBackend} from '../../../src/auth/backends/pam.js'
import {silentAuthLog} from '../../../src/auth/index.js'
import {type CliResult, runCli, tempDir, writeConfig} from '../../helpers.js'
import {TLS13, authFixture} from '../../unit/auth/setup.js'
import {PASSWORD, pamService, startSaslauthd, systemTestsUnavailable} from './system.js'
import type {DiagnosticStep} from '../../../src/auth/diagnose/report.js'

const unavailable = systemTestsUnavailable()
const NOBODY = 65_534

type Step = DiagnosticStep

const report = (result: CliResult) => JSON.parse(result.stdout) as {verdict: string; steps: Step[]}
const step = (result: CliResult, id: string) => {
  const found = report(result).steps.find((candidate) => candidate.id === id)
  assert.ok(found, `no step ${id} in ${result.stdout}${result.stderr}`)
  return found
}

/** A configuration in a directory the unprivileged user can use too. */
function cliSetup(t: {after(fn: () => void): void}, yaml: string) {
  const dir = tempDir(t)
  chmodSync(dir, 0o755)
  writeConfig(dir, `hosts: [example.org]\ndata_dir: ./data\nauth_scram_iterations: 4096\n${yaml}`)
  mkdirSync(path.join(dir, 'data'), {mode: 0o700})
  const cli = (args: string[], stdin?: string, asNobody = false) => {
    if (asNobody) chownSync(path.join(dir, 'data'), NOBODY, NOBODY)
    return runCli(args, {cwd: dir, stdin, ...(asNobody ? {uid: NOBODY, gid: NOBODY} : {})})
  }

  return {dir, cli}
}

describe('the pam backend with a real PAM stack', {skip: unavailable, concurrency: true}, () => {
  it('accepts alice (":" and non-ASCII in the password) and rejects a wrong password', async (t) => {
    const service = pamService(t)
    const pam = new PamBackend({host: 'example.org', service: service.name, userinfotype: 'username', log: silentAuthLog})
    t.after(() => pam.close())
    assert.deepEqual(await pam.checkPassword('alice', PASSWORD), {result: 'accepted'})
    const wrong = await pam.checkPassword('alice', 'wrong')
    assert.equal(wrong.result, 'rejected')
    await assert.rejects(pam.createUser(), /the pam backend cannot create accounts/)
  })

  it('runs PAM conversations in parallel without blocking the event loop', async (t) => {
    const service = pamService(t)
    const pam = new PamBackend({host: 'example.org', service: service.name, userinfotype: 'username', log: silentAuthLog})
    t.after(() => pam.close())
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    const results = await Promise.all(Array.from({length: 8}, () => pam.checkPassword('alice', PASSWORD)))
    clearInterval(timer)
    assert.ok(results.every((outcome) => outcome.result === 'accepted'))
    assert.ok(ticks > 0)
  })

  it('logs in over PLAIN through the chain', async (t) => {
    const service = pamService(t)
    const fixture = authFixture(t, `hosts: [example.org]\nauth_method: [pam]\npam_service: ${service.name}\n`)
    assert.deepEqual(await fixture.auth.get('example.org')!.mechanisms(TLS13), ['PLAIN'])
    const session = (await fixture.auth.get('example.org')!.start('PLAIN', TLS13))!
    assert.deepEqual(await session.step(Buffer.from(`\0alice\0${PASSWORD}`)), {type: 'success', username: 'alice', method: 'pam'})
  })

  it('reports itself unavailable, with the fix, when the helper is not built', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\nauth_method: [pam]\n', {pamHelper: '/nonexistent/pam-helper'})
    const [offer] = await fixture.auth.get('example.org')!.capabilities()
    assert.match(offer.capabilities.unavailable!, /not built: install libpam0g-dev .*rebuild/)
    assert.deepEqual(await fixture.auth.get('example.org')!.mechanisms(TLS13), [])
  })

  it('test-auth pam: accepted, and an authentication failure', async (t) => {
    const service = pamService(t)
    const {cli} = cliSetup(t, `auth_method: [pam]\npam_service: ${service.name}\n`)
    const ok = await cli(['test-auth', 'pam', 'alice@example.org', '--password-stdin', '--json'], `${PASSWORD}\n`)
    assert.equal(ok.status, 0, ok.stdout + ok.stderr)
    assert.match(step(ok, 'service-file').detail, /exists; modules: pam_pwdfile\.so, pam_permit\.so/)
    const wrong = await cli(['test-auth', 'pam', 'alice@example.org', '--password-stdin', '--json'], 'wrong\n')
    assert.equal(wrong.status, 1)
    assert.match(step(wrong, 'exchange').detail, /^authentication failure: pam_authenticate returned PAM_AUTH_ERR/)
  })

  it('test-auth pam: an account failure (right password, account refused)', async (t) => {
    const service = pamService(t, {account: 'pam_deny.so'})
    const {cli} = cliSetup(t, `auth_method: [pam]\npam_service: ${service.name}\n`)
    const result = await cli(['test-auth', 'pam', 'alice@example.org', '--password-stdin', '--json'], `${PASSWORD}\n`)
    assert.equal(result.status, 1)
    assert.equal(report(result).verdict, 'disabled')
    assert.match(step(result, 'exchange').detail, /^account failure: the password is right, but pam_acct_mgmt returned/)
  })

  it('test-auth pam: a module error points at the system log', async (t) => {
    const service = pamService(t, {pwfile: '/nonexistent/passwords'})
    const {cli} = cliSetup(t, `auth_method: [pam]\npam_service: ${service.name}\n`)
    const result = await cli(['test-auth', 'pam', 'alice@example.org', '--password-stdin', '--json'], `${PASSWORD}\n`)
    assert.equal(result.status, 3)
    const found = step(result, 'exchange')
    assert.match(found.detail, /a module error: pam_authenticate returned PAM_AUTHINFO_UNAVAIL/)
    assert.match(found.fix!, /system log: journalctl .*\/var\/log\/auth\.log/)
  })

  it('test-auth pam: the service file is missing', async (t) => {
    const {cli} = cliSetup(t, 'auth_method: [pam]\npam_service: xmppctl-no-such-service\n')
    const result = await cli(['test-auth', 'pam', 'alice@example.org', '--password-stdin', '--json'], `${PASSWORD}\n`)
    const found = step(result, 'service-file')
    assert.equal(found.status, 'fail')
    assert.match(found.detail, /\/etc\/pam\.d\/xmppctl-no-such-service does not exist, so PAM uses \/etc\/pam\.d\/other/)
  })

  it('test-auth pam: with pam_unix, says whether this process can read /etc/shadow', async (t) => {
    const service = pamService(t, {auth: 'auth required pam_unix.so'})
    const {cli} = cliSetup(t, `auth_method: [pam]\npam_service: ${service.name}\n`)
    const asRoot = await cli(['test-auth', 'pam', '--json'])
    assert.equal(step(asRoot, 'shadow').status, 'ok')
    // A fresh directory: the root run above created a store only root may open.
    const other = cliSetup(t, `auth_method: [pam]\npam_service: ${service.name}\n`)
    const asNobody = await other.cli(['test-auth', 'pam', '--json'], '', true)
    const found = step(asNobody, 'shadow')
    assert.equal(found.status, 'warn')
    assert.match(found.detail, /cannot read \/etc\/shadow/)
    assert.match(found.fix!, /group shadow/)
  })
})

describe('the saslauthd backend with a real saslauthd', {skip: unavailable, concurrency: true}, () => {
  it('speaks the socket protocol: OK for alice, NO with saslauthd\'s text otherwise', async (t) => {
    const service = pamService(t)
    const daemon = await startSaslauthd(t)
    const right = await askSaslauthd(daemon.socket, {login: 'alice', password: PASSWORD, service: service.name, realm: ''}, 5000)
    assert.equal(right.ok, true)
    const wrong = await askSaslauthd(daemon.socket, {login: 'alice', password: 'wrong', service: service.name, realm: ''}, 5000)
    assert.equal(wrong.ok, false)
    assert.match(wrong.text, /authentication failed|PAM auth error/)
  })

  it('logs in over PLAIN through the chain, and honours cyrus_require_provisioning', async (t) => {
    const service = pamService(t)
    const daemon = await startSaslauthd(t)
    const fixture = authFixture(t, `hosts: [example.org]\nauth_method: [saslauthd]\nsaslauthd_socket: ${daemon.socket}\ncyrus_service_name: ${service.name}\n`)
    const session = (await fixture.auth.get('example.org')!.start('PLAIN', TLS13))!
    assert.equal((await session.step(Buffer.from(`\0alice\0${PASSWORD}`))).type, 'success')
    const provisioned = new SaslauthdBackend({host: 'example.org', socket: daemon.socket, service: service.name, realm: '', requireProvisioning: true, timeout: 5000, store: fixture.store})
    assert.equal((await provisioned.checkPassword('alice', PASSWORD)).result, 'rejected')
    await fixture.add('alice@example.org', 'other')
    assert.equal((await provisioned.checkPassword('alice', PASSWORD)).result, 'accepted')
  })

  it('refuses an account disabled in the store although saslauthd accepts its password, also from the cache', async (t) => {
    const service = pamService(t)
    const daemon = await startSaslauthd(t)
    const fixture = authFixture(t, `hosts: [example.org]\nauth_method: [saslauthd]\nsaslauthd_socket: ${daemon.socket}\ncyrus_service_name: ${service.name}\ncyrus_require_provisioning: true\n`)
    await fixture.add('alice@example.org', 'other')
    const host = fixture.auth.get('example.org')!
    assert.equal((await host.chain.checkPassword('alice', PASSWORD)).result, 'accepted')
    await fixture.store.setState('example.org', 'alice', 'disabled', 'spam')
    // The accepted answer above is cached: the store's state must still win.
    assert.deepEqual(await host.chain.checkPassword('alice', PASSWORD).then(({result, reason}: {result: string; reason?: string}) => ({result, reason})), {result: 'disabled', reason: 'spam'})
    const session = (await host.start('PLAIN', TLS13))!
    assert.equal((await session.step(Buffer.from(`\0alice\0${PASSWORD}`))).type, 'failure')
  })

  it('is unavailable, not rejected, when the socket is missing', async () => {
    const backend = new SaslauthdBackend({host: 'example.org', socket: '/nonexistent/mux', service: 'xmpp', realm: '', requireProvisioning: false, timeout: 1000, store: undefined as never})
    assert.equal((await backend.checkPassword('alice', PASSWORD)).result, 'unavailable')
  })

  it('test-auth saslauthd: accepted, and a NO reply with saslauthd\'s text', async (t) => {
    const service = pamService(t)
    const daemon = await startSaslauthd(t)
    const {cli} = cliSetup(t, `auth_method: [saslauthd]\nsaslauthd_socket: ${daemon.socket}\ncyrus_service_name: ${service.name}\n`)
    const ok = await cli(['test-auth', 'saslauthd', 'alice@example.org', '--password-stdin', '--json'], `${PASSWORD}\n`)
    assert.equal(ok.status, 0, ok.stdout + ok.stderr)
    assert.match(step(ok, 'exchange').detail, /saslauthd answered OK/)
    const wrong = await cli(['test-auth', 'saslauthd', 'alice@example.org', '--password-stdin', '--json'], 'wrong\n')
    assert.equal(wrong.status, 1)
    assert.match(step(wrong, 'verdict').detail, /saslauthd said NO: "(authentication failed|PAM auth error)"/)
  })

  it('test-auth saslauthd: hints at a wrong service name', async (t) => {
    const daemon = await startSaslauthd(t)
    const {cli} = cliSetup(t, `auth_method: [saslauthd]\nsaslauthd_socket: ${daemon.socket}\ncyrus_service_name: xmppctl-wrong-service\n`)
    const result = await cli(['test-auth', 'saslauthd', 'alice@example.org', '--password-stdin', '--json'], `${PASSWORD}\n`)
    const found = step(result, 'service-name')
    assert.match(found.detail, /uses the service name "xmppctl-wrong-service" as the PAM service, and \/etc\/pam\.d\/xmppctl-wrong-service does not exist/)
    assert.match(found.fix!, /set cyrus_service_name/)
  })

  it('test-auth saslauthd: the socket is missing (is saslauthd running? which -m?)', async (t) => {
    const empty = tempDir(t)
    const {cli} = cliSetup(t, `auth_method: [saslauthd]\nsaslauthd_socket: ${path.join(empty, 'mux')}\n`)
    const result = await cli(['test-auth', 'saslauthd', '--json'])
    assert.equal(result.status, 3)
    const found = step(result, 'socket')
    assert.match(found.detail, /mux does not exist/)
    assert.match(found.cause!, /is saslauthd running\? it creates mux in the directory given with -m/)
  })

  it('test-auth saslauthd: EACCES names owner, group and mode and the group to join', async (t) => {
    const daemon = await startSaslauthd(t)
    // As on Debian: root:sasl-like group, mode 0710; the unprivileged user is not in it.
    chmodSync(daemon.socketDir, 0o710)
    chownSync(daemon.socketDir, 0, 0)
    const {cli} = cliSetup(t, `auth_method: [saslauthd]\nsaslauthd_socket: ${daemon.socket}\n`)
    const result = await cli(['test-auth', 'saslauthd', '--json'], '', true)
    assert.equal(result.status, 3, result.stdout + result.stderr)
    const found = step(result, 'socket-permissions')
    assert.match(found.detail, /EACCES: the directory .* is root:root mode 0710; this process runs as nobody \(uid 65534\)/)
    assert.match(found.fix!, /add user nobody to group root/)
    assert.match(step(result, 'exchange').detail, /EACCES/)
  })
})

