/**
 * SASL GSSAPI (RFC 4752) end to end (issue 16): a private MIT KDC
 * (test/integration/auth/kdc.ts), `xmppctl start` with auth_method
 * [gssapi, internal] and the keytab of xmpp/localhost, and slixmpp (its
 * GSSAPI mechanism over python3-kerberos) logging alice in from her
 * credential cache. Refusals are checked on the wire with tokens the npm
 * kerberos binding makes from a client cache: a principal with no account,
 * an instance principal, a replayed token, another account's authzid; and
 * slixmpp with its clock 10 minutes ahead (libfaketime) is refused for clock
 * skew. Keytabs the server must not use
 * (RC4 only, the wrong principal, mode 0644 owned by another user) make it
 * not offer GSSAPI, and `test-auth` and `audit` say why.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {chmodSync, chownSync, copyFileSync, existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {freePort, runCli, tempDir, writeConfig} from '../helpers.js'
import {diagnosed} from '../integration/auth/daemons.js'
import {RawClient, header} from '../integration/server/helpers.js'
import {KINIT, type Kdc, REALM, kdcUnavailable, startKdc} from '../integration/auth/kdc.js'
import {startPython, slixmppAvailable} from './clients.js'

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'
const SLIXMPP_CLIENT = path.join(import.meta.dirname, '..', '..', '..', 'test', 'interop', 'slixmpp', 'client.py')
const skip =
  kdcUnavailable() ||
  (process.env.CI === 'true' ? false : !slixmppAvailable ? 'python3-slixmpp is not installed' : existsSync(LIBFAKETIME) ? false : 'libfaketime is not installed (apt install faketime)')
const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
const KVNO = '/usr/bin/kvno'

describe('SASL GSSAPI in xmppctl start against a real MIT KDC', {skip, concurrency: false}, () => {
  let kdc: Kdc
  let dir: string
  let port: number
  let pid = 0
  const cleanups: Array<() => unknown> = []
  const holder = {after: (fn: () => unknown) => cleanups.push(fn)}
  const caches: Record<string, string> = {}

  before(async () => {
    kdc = await startKdc(holder)
    // bob has a principal and no account; carol/admin is an instance principal.
    for (const principal of ['bob', 'carol/admin']) {
      kdc.kadmin(`addprinc -randkey ${principal}@${REALM}`)
      const keytab = path.join(kdc.dir, `${principal.replace('/', '_')}.keytab`)
      kdc.kadmin(`ktadd -k ${keytab} ${principal}@${REALM}`)
      caches[principal] = path.join(kdc.dir, `${principal.replace('/', '_')}.ccache`)
      execFileSync(KINIT, ['-k', '-t', keytab, '-c', `FILE:${caches[principal]}`, `${principal}@${REALM}`], {env: kdc.env})
    }

    caches.alice = kdc.aliceCache
    dir = tempDir(holder)
    port = await freePort()
    writeConfig(dir, `hosts: [localhost]\ndata_dir: ./data\nlisten:\n  - {port: ${port}, ip: 127.0.0.1, tls: true}\nauth_method: [gssapi, internal]\ngssapi_keytab: ${kdc.keytab}\ngssapi_realm: ${REALM}\n`)
    for (const user of ['alice', 'carol']) {
      const added = await runCli(['user', 'add', `${user}@localhost`, '--password-stdin'], {cwd: dir, stdin: `${user} password\n`})
      assert.equal(added.status, 0, added.stderr)
    }

    const started = await runCli(['start', '--json'], {cwd: dir, env: {KRB5_CONFIG: kdc.krb5Conf}})
    assert.equal(started.status, 0, started.stdout + started.stderr)
    pid = (JSON.parse(started.stdout) as {pid: number}).pid
    assert.match(serverLog(), new RegExp(`info +auth localhost: GSSAPI offered: ${kdc.keytab} holds xmpp/localhost@${REALM} \\(aes256-cts-hmac-sha1-96`))
  })

  after(async () => {
    if (pid) {
      try {
        process.kill(pid)
      } catch {}
    }

    for (const fn of cleanups.reverse()) await fn()
  })

  /** A raw client over direct TLS, up to the mechanisms. */
  async function stream(t: {after(fn: () => unknown): void}): Promise<{client: RawClient; mechanisms: string[]}> {
    const client = await RawClient.connect(port, {tls: true})
    t.after(() => client.socket.destroy())
    client.write(header())
    const features = await client.until(/<\/stream:features>/)
    return {client, mechanisms: [...features.matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((match) => match[1])}
  }

  type GssClient = {step(challenge: string): Promise<string>; unwrap(challenge: string): Promise<string>; wrap(challenge: string, options: {user?: string}): Promise<string>}

  /** A GSS-API initiator for `principal` toward xmpp/localhost, from that principal's cache (the npm kerberos binding). */
  async function initiator(principal: string): Promise<{token: string; gss: GssClient}> {
    process.env.KRB5_CONFIG = kdc.krb5Conf
    process.env.KRB5CCNAME = `FILE:${caches[principal]}`
    const kerberos = (await import('kerberos')).default
    const gss = (await kerberos.initializeClient('xmpp@localhost', {})) as unknown as GssClient
    return {token: await gss.step(''), gss}
  }

  const challenge = async (client: RawClient) => /^<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>([^<]*)<\/challenge>$/.exec(await client.until(/<\/challenge>/))![1]

  /**
   * RFC 4752 §3.1 on the wire: the initiator's token; the AP-REP (mutual
   * authentication) answered empty; the wrapped security-layer offer,
   * answered with "no security layer" and `authzid`. Returns the verdict.
   */
  async function exchange(t: {after(fn: () => unknown): void}, principal: string, authzid: string): Promise<string> {
    const {client} = await stream(t)
    const {token, gss} = await initiator(principal)
    client.write(`<auth xmlns='${SASL}' mechanism='GSSAPI'>${token}</auth>`)
    await gss.step(await challenge(client))
    client.write(`<response xmlns='${SASL}'/>`)
    const offer = await gss.unwrap(await challenge(client))
    assert.deepEqual([...Buffer.from(offer, 'base64')], [1, 0, 0, 0], 'only "no security layer", no buffer size')
    // The binding's wrap keeps the 4 octets it is given and appends the user as the authzid (pykerberos' rule, as slixmpp uses it).
    client.write(`<response xmlns='${SASL}'>${await gss.wrap(offer, authzid === '' ? {} : {user: authzid})}</response>`)
    return client.until(/<success[^>]*\/>|<\/failure>/)
  }

  const serverLog = () => readFileSync(path.join(dir, 'data', 'server.log'), 'utf8')

  it('offers GSSAPI beside SCRAM, and slixmpp logs alice in with her ticket', async (t) => {
    const {mechanisms} = await stream(t)
    assert.ok(mechanisms.includes('GSSAPI'), mechanisms.join(' '))
    const run = startPython(t, SLIXMPP_CLIENT, {jid: 'alice@localhost', password: 'unused', mechanism: 'GSSAPI', port, direct_tls: true, service_name: 'localhost', timeout: 10}, undefined, {
      KRB5_CONFIG: kdc.krb5Conf,
      KRB5CCNAME: `FILE:${kdc.aliceCache}`,
    })
    const events = await run.finished
    const session = events.find((event) => event.event === 'session')
    assert.ok(session, JSON.stringify(events))
    assert.equal(session.mechanism, 'GSSAPI')
    assert.match(String(session.jid), /^alice@localhost\/.+/)
    assert.match(readFileSync(path.join(dir, 'data', 'server.log'), 'utf8'), /authenticated alice@localhost with GSSAPI/)
  })

  it('alice over the raw protocol: success; an authzid naming another account is refused; a replayed token is refused', async (t) => {
    assert.equal(await exchange(t, 'alice', 'alice@localhost'), `<success xmlns='${SASL}'/>`)
    assert.equal(await exchange(t, 'alice', 'carol@localhost'), `<failure xmlns='${SASL}'><invalid-authzid/></failure>`)
    assert.match(serverLog(), new RegExp(`GSSAPI failed: invalid-authzid: alice@${REALM} maps to alice@localhost and may not act as "carol@localhost"`))

    const {client} = await stream(t)
    const {token} = await initiator('alice')
    client.write(`<auth xmlns='${SASL}' mechanism='GSSAPI'>${token}</auth>`)
    await challenge(client)
    const again = (await stream(t)).client
    again.write(`<auth xmlns='${SASL}' mechanism='GSSAPI'>${token}</auth>`)
    assert.equal(await again.until(/<\/failure>/), `<failure xmlns='${SASL}'><not-authorized/></failure>`)
    assert.match(serverLog(), /GSSAPI failed: not-authorized: replayed token \(.*Request is a replay/)
  })

  it('refuses bob (a principal without an account) and carol/admin (an instance principal): not-authorized, the cause in the log', async (t) => {
    for (const [principal, cause] of [
      ['bob', `bob@${REALM} maps to bob@localhost, which has no account`],
      ['carol/admin', `carol/admin@${REALM} is an instance principal, and gssapi_principal_map does not name it`],
    ]) {
      assert.equal(await exchange(t, principal, ''), `<failure xmlns='${SASL}'><not-authorized/></failure>`)
      assert.ok(serverLog().includes(`GSSAPI failed: not-authorized: ${cause}`), cause)
    }

    // slixmpp, refused the same way, reports a failed authentication.
    const run = startPython(t, SLIXMPP_CLIENT, {jid: 'bob@localhost', password: 'unused', mechanism: 'GSSAPI', port, direct_tls: true, service_name: 'localhost', timeout: 10}, undefined, {
      KRB5_CONFIG: kdc.krb5Conf,
      KRB5CCNAME: `FILE:${caches.bob}`,
    })
    const events = await run.finished
    assert.ok(events.some((event) => event.event === 'failed_auth'), JSON.stringify(events))
    assert.ok(!events.some((event) => event.event === 'session'), JSON.stringify(events))
  })

  it('a client whose clock is 10 minutes ahead (libfaketime) is refused for clock skew: not-authorized, the cause in the log', async (t) => {
    // A service ticket already in the cache (and still valid 10 minutes on): the client needs no KDC, whose own skew check would refuse it first.
    const cache = path.join(tempDir(t), 'skewed.ccache')
    copyFileSync(kdc.aliceCache, cache)
    execFileSync(KVNO, ['-c', `FILE:${cache}`, `xmpp/localhost@${REALM}`], {env: kdc.env, stdio: 'ignore'})
    const run = startPython(t, SLIXMPP_CLIENT, {jid: 'alice@localhost', password: 'unused', mechanism: 'GSSAPI', port, direct_tls: true, service_name: 'localhost', timeout: 10}, undefined, {
      KRB5_CONFIG: kdc.krb5Conf,
      KRB5CCNAME: `FILE:${cache}`,
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME: '+10m',
      // asyncio's timers keep the real monotonic clock.
      DONT_FAKE_MONOTONIC: '1',
    })
    const events = await run.finished
    assert.ok(events.some((event) => event.event === 'failed_auth'), JSON.stringify(events))
    assert.match(serverLog(), /GSSAPI failed: not-authorized: clock skew: the client's authenticator is outside the allowed skew \(.*Clock skew too great/)
  })

  it('keytabs the server must not use (RC4 only, the wrong principal, 0644 owned by another user): no GSSAPI after reload, and test-auth gssapi and audit say why', async (t) => {
    const bad = tempDir(t)
    chmodSync(bad, 0o755)
    const rc4 = path.join(bad, 'rc4.keytab')
    execFileSync('ktutil', {input: `addent -password -p xmpp/localhost@${REALM} -k 9 -e arcfour-hmac\nsecret\nwkt ${rc4}\nquit\n`, stdio: ['pipe', 'ignore', 'ignore']})
    chmodSync(rc4, 0o600)
    const wrong = path.join(bad, 'wrong.keytab')
    kdc.kadmin(`addprinc -randkey xmpp/elsewhere@${REALM}`)
    kdc.kadmin(`ktadd -k ${wrong} xmpp/elsewhere@${REALM}`)
    const open = path.join(bad, 'open.keytab')
    copyFileSync(kdc.keytab, open)
    chownSync(open, 65_534, 65_534)
    chmodSync(open, 0o644)
    const configure = (keytab: string) =>
      writeConfig(dir, `hosts: [localhost]\ndata_dir: ./data\nlisten:\n  - {port: ${port}, ip: 127.0.0.1, tls: true}\nauth_method: [gssapi, internal]\ngssapi_keytab: ${keytab}\ngssapi_realm: ${REALM}\n`)
    t.after(async () => {
      configure(kdc.keytab)
      await runCli(['reload'], {cwd: dir})
    })
    const cases: Array<[string, string, string, string]> = [
      [rc4, 'only DEPRECATED:arcfour-hmac', 'enctype:fail', 'gssapi-keytab-weak'],
      [wrong, `holds xmpp/elsewhere@${REALM}, not xmpp/localhost@${REALM}`, 'principal:fail', 'gssapi-keytab-principal'],
      [open, `mode 0644: every user on this machine can read the service key`, 'sasl:fail', 'gssapi-keytab-readable'],
    ]
    for (const [keytab, why, step, finding] of cases) {
      configure(keytab)
      const reloaded = await runCli(['reload'], {cwd: dir})
      assert.equal(reloaded.status, 0, reloaded.stderr)
      // Decided and logged by the reload itself, before any client.
      assert.match(serverLog(), new RegExp(`warn +auth localhost: GSSAPI not offered: .*${why.replaceAll('.', '\\.')}`))
      const {mechanisms} = await stream(t)
      assert.ok(!mechanisms.includes('GSSAPI'), `${keytab}: ${mechanisms.join(' ')}`)
      assert.ok(mechanisms.includes('SCRAM-SHA-1'), mechanisms.join(' '))

      const diagnosis = diagnosed(await runCli(['test-auth', 'gssapi', '--host', 'localhost', '--json'], {cwd: dir, env: {KRB5_CONFIG: kdc.krb5Conf}}))
      assert.ok(diagnosis.report.steps.some(({id, status}) => `${id}:${status}` === step), JSON.stringify(diagnosis.report.steps))
      assert.ok(diagnosis.report.steps.some(({detail}) => detail.includes(why)), JSON.stringify(diagnosis.report.steps))
      const audit = JSON.parse((await runCli(['audit', '--only', 'auth-backends', '--json'], {cwd: dir})).stdout) as {findings: Array<{id: string; severity: string}>}
      assert.ok(audit.findings.some(({id, severity}) => id === finding && severity === 'critical'), JSON.stringify(audit.findings))
    }

    // The good keytab again: offered again on reload.
    configure(kdc.keytab)
    assert.equal((await runCli(['reload'], {cwd: dir})).status, 0)
    assert.ok((await stream(t)).mechanisms.includes('GSSAPI'))
  })
})
