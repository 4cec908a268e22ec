/**
 * `test-auth gssapi` against a real MIT KDC (test/integration/auth/kdc.ts):
 * a private realm on loopback, the server's keytab for xmpp/localhost, alice's
 * credential cache and password. Each diagnosis comes from a real
 * misconfiguration: a keytab the server's user cannot read, one holding the
 * wrong principal, one with a stale key, an unreachable KDC, a wrong password.
 */
import assert from 'node:assert/strict'
import {chmodSync, chownSync, copyFileSync, existsSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {before, describe, it} from 'node:test'

import {runCli, tempDir, writeConfig} from '../../helpers.js'
import {type Diagnosed, type Report, diagnosed, suiteDaemon} from './daemons.js'
import {ALICE_PASSWORD, type Kdc, REALM, kdcUnavailable, startKdc} from './kdc.js'

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'
const unavailable =
  kdcUnavailable() ||
  (process.env.CI === 'true' ? false : process.getuid?.() !== 0 ? 'needs root to chown the keytab' : existsSync(LIBFAKETIME) ? false : 'libfaketime is not installed (apt install faketime)')

describe('test-auth gssapi against a real MIT KDC', {skip: unavailable, concurrency: false}, () => {
  const daemon = suiteDaemon(startKdc)
  let kdc: Kdc
  before(() => {
    kdc = daemon()
  })

  async function testAuth(
    t: {after(fn: () => void): void},
    options: {keytab?: string; args?: string[]; stdin?: string; krb5Conf?: string; realm?: string; accounts?: string[]} = {},
  ): Promise<Diagnosed> {
    const dir = tempDir(t)
    writeConfig(dir, `hosts: [localhost]\ndata_dir: ./data\nauth_scram_iterations: 4096\ngssapi_keytab: ${options.keytab ?? kdc.keytab}\n${options.realm ? `gssapi_realm: ${options.realm}\n` : ''}`)
    // The server logs a principal in only to an account that exists: the exchange's step asks the same.
    for (const jid of options.accounts ?? ['alice@localhost']) assert.equal((await runCli(['user', 'add', jid, '--password-stdin'], {cwd: dir, stdin: 'unused\n'})).status, 0)
    return diagnosed(
      await runCli(['test-auth', 'gssapi', ...(options.args ?? ['--host', 'localhost']), '--json'], {
        cwd: dir,
        stdin: options.stdin,
        env: {KRB5_CONFIG: options.krb5Conf ?? kdc.krb5Conf, KRB5CCNAME: `FILE:${path.join(dir, 'none.ccache')}`},
      }),
    )
  }

  it('with alice\'s credential cache: keytab, principal, enctype, KDC and a full SASL GSSAPI exchange through the server\'s own mechanism', async (t) => {
    const result = await testAuth(t, {args: ['--host', 'localhost', '--ccache', kdc.aliceCache]})
    assert.deepEqual(result.report.steps.map((step) => `${step.id}:${step.status}`), ['configuration:ok', 'keytab:ok', 'principal:ok', 'enctype:ok', 'sasl:info', 'kdc:ok', 'exchange:ok'])
    assert.match(result.step('principal').detail, new RegExp(`holds xmpp/localhost@${REALM} \\(kvno \\d\\)`))
    assert.match(result.step('enctype').detail, /aes256-cts-hmac-sha1-96/)
    assert.equal(result.step('exchange').detail, `the server's SASL GSSAPI (target xmpp/localhost@${REALM}, RFC 4752 security layer included) logged in alice@localhost`)
    assert.equal(result.step('sasl').detail, 'auth_method (internal) does not list gssapi: the server does not offer GSSAPI')
    assert.equal(result.report.verdict, 'accepted')
    assert.equal(result.status, 0)
    // Kerberos says yes, and the server would still refuse: alice has no account there.
    const noAccount = await testAuth(t, {args: ['--host', 'localhost', '--ccache', kdc.aliceCache], accounts: []})
    assert.equal(noAccount.step('exchange').status, 'fail')
    assert.equal(noAccount.step('exchange').detail, `the server's SASL GSSAPI answers not-authorized: alice@${REALM} maps to alice@localhost, which has no account`)
    assert.equal(noAccount.report.verdict, 'rejected')
  })

  it('with a JID and password (":" and "€"): kinit on stdin, then the exchange; a wrong password is rejected', async (t) => {
    const good = await testAuth(t, {args: ['alice@localhost', '--password-stdin'], stdin: `${ALICE_PASSWORD}\n`})
    assert.equal(good.step('client-kinit').status, 'ok')
    assert.equal(good.report.verdict, 'accepted', good.stdout)
    assert.ok(!good.stdout.includes(ALICE_PASSWORD))
    const wrong = await testAuth(t, {args: ['alice@localhost', '--password-stdin'], stdin: 'wrong\n'})
    assert.equal(wrong.step('client-kinit').status, 'fail')
    assert.equal(wrong.report.verdict, 'rejected')
    assert.equal(wrong.status, 1)
  })

  it('a keytab the server\'s user cannot read: "add user nobody to group daemon"', async (t) => {
    const dir = tempDir(t)
    const keytab = path.join(dir, 'xmpp.keytab')
    chmodSync(dir, 0o755)
    copyFileSync(kdc.keytab, keytab)
    chownSync(keytab, 0, 1)
    chmodSync(keytab, 0o640)
    const result = await testAuth(t, {keytab, args: ['--host', 'localhost', '--as', 'nobody']})
    const step = result.step('keytab')
    assert.equal(step.status, 'fail')
    assert.equal(step.detail, `${keytab} is root:daemon mode 0640: nobody cannot read it`)
    assert.equal(step.fix, 'add user nobody to group daemon (adduser nobody daemon) and restart the server')
    assert.equal(result.status, 2)
  })

  it('a keytab holding the wrong principal', async (t) => {
    const dir = tempDir(t)
    const keytab = path.join(dir, 'other.keytab')
    kdc.kadmin(`addprinc -randkey xmpp/chat.example.org@${REALM}`)
    kdc.kadmin(`ktadd -k ${keytab} xmpp/chat.example.org@${REALM}`)
    const result = await testAuth(t, {keytab})
    const step = result.step('principal')
    assert.equal(step.status, 'fail')
    assert.equal(step.detail, `${keytab} holds xmpp/chat.example.org@${REALM}, not xmpp/localhost@REALM`)
    assert.match(step.cause ?? '', /wrong principal/)
    assert.match(step.fix ?? '', /addprinc -randkey xmpp\/localhost/)
    assert.equal(result.status, 2)
  })

  it('a keytab whose key the KDC no longer has (exported again since)', async (t) => {
    const dir = tempDir(t)
    const stale = path.join(dir, 'stale.keytab')
    const current = path.join(dir, 'current.keytab')
    kdc.kadmin(`addprinc -randkey xmpp/stale.example.org@${REALM}`)
    kdc.kadmin(`ktadd -k ${stale} xmpp/stale.example.org@${REALM}`)
    kdc.kadmin(`ktadd -k ${current} xmpp/stale.example.org@${REALM}`)
    const dirConfig = tempDir(t)
    writeConfig(dirConfig, `hosts: [stale.example.org]\ndata_dir: ./data\ngssapi_keytab: ${stale}\n`)
    const result = await runCli(['test-auth', 'gssapi', '--json'], {cwd: dirConfig, env: {KRB5_CONFIG: kdc.krb5Conf}})
    const report = JSON.parse(result.stdout) as Report
    const step = report.steps.find((candidate) => candidate.id === 'kdc')!
    assert.equal(step.status, 'fail', result.stdout)
    assert.match(step.cause ?? '', /the keytab's key for xmpp\/stale.example.org@EXAMPLE.ORG is not the KDC's/)
    assert.equal(result.status, 3)
  })

  it('clocks two hours apart (libfaketime moves test-auth\'s clock, the KDC keeps the real one)', async (t) => {
    const dir = tempDir(t)
    const keytab = path.join(dir, 'skew.keytab')
    // Pre-authentication carries the client's time, which the KDC checks (RFC 4120 §5.2.7.2).
    kdc.kadmin(`addprinc -randkey +requires_preauth xmpp/skew.example.org@${REALM}`)
    kdc.kadmin(`ktadd -k ${keytab} xmpp/skew.example.org@${REALM}`)
    const dirConfig = tempDir(t)
    writeConfig(dirConfig, `hosts: [skew.example.org]\ndata_dir: ./data\ngssapi_keytab: ${keytab}\n`)
    const result = await runCli(['test-auth', 'gssapi', '--json'], {cwd: dirConfig, env: {KRB5_CONFIG: kdc.krb5Conf, LD_PRELOAD: LIBFAKETIME, FAKETIME: '+2h'}})
    const report = JSON.parse(result.stdout) as Report
    const step = report.steps.find((candidate) => candidate.id === 'kdc')!
    assert.equal(step.status, 'fail', result.stdout)
    assert.match(step.detail, /Clock skew too great/)
    assert.match(step.fix ?? '', /synchronise the clocks/)
    assert.equal(result.status, 3)
  })

  it('an unreachable KDC', async (t) => {
    const dir = tempDir(t)
    const krb5Conf = path.join(dir, 'krb5.conf')
    writeFileSync(krb5Conf, `[libdefaults]\n default_realm = ${REALM}\n dns_lookup_kdc = false\n udp_preference_limit = 1\n[realms]\n ${REALM} = {\n  kdc = 127.0.0.1:1\n }\n`)
    const result = await testAuth(t, {krb5Conf})
    const step = result.step('kdc')
    assert.equal(step.status, 'fail')
    assert.match(step.detail, /Cannot contact any KDC for realm 'EXAMPLE.ORG'/)
    assert.equal(step.cause, 'the KDC of the realm is unreachable')
    assert.equal(result.report.verdict, 'unavailable')
    assert.equal(result.status, 3)
  })

  it('a missing keytab', async (t) => {
    const result = await testAuth(t, {keytab: '/nonexistent/xmpp.keytab'})
    assert.equal(result.step('keytab').detail, '/nonexistent/xmpp.keytab: ENOENT')
    assert.match(result.step('keytab').fix ?? '', /ktadd -k \/nonexistent\/xmpp.keytab xmpp\/localhost/)
    assert.equal(result.status, 2)
  })
})
