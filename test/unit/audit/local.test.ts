import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {getDiffieHellman, generatePrimeSync} from 'node:crypto'
import {chmodSync, chownSync, mkdirSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {describe, it} from 'node:test'

import {secretsIn} from '../../../src/audit/checks/config-file.js'
import type {AuditFinding} from '../../../src/audit/findings.js'
import {auditFails} from '../../../src/audit/findings.js'
import {runAudit, selectChecks} from '../../../src/audit/local.js'
import {classifySuite} from '../../../src/audit/suites.js'
import {currentUser, resolveUser} from '../../../src/system.js'
import {loadConfig} from '../../../src/config/index.js'
import {ffdhePrime, encodeDhParams} from '../../../src/tls/dhparam.js'
import {generateCertificates} from '../../../src/tls/generate.js'
import {createPki} from '../../integration/s2s/netns.js'
import {addAccounts, rsaPem, setup, writeCertificate} from './fixtures.js'

const GOOD_TLS = 'tls: {ciphers: "ECDHE+AESGCM:ECDHE+CHACHA20"}\n'
const root = process.getuid?.() === 0
const nobody = (() => {
  try {
    return resolveUser('nobody')
  } catch {
    return undefined
  }
})()

type Config = ReturnType<ReturnType<typeof setup>['config']>

async function audit(config: Config, only: string[], options: {as?: string; fix?: boolean} = {}): Promise<{findings: AuditFinding[]; fixed: Awaited<ReturnType<typeof runAudit>>['fixed']}> {
  const user = options.as ? resolveUser(options.as) : currentUser()
  return runAudit({config, user, only, fix: options.fix})
}

const ids = (findings: AuditFinding[]) => findings.map((finding) => finding.id)
const find = (findings: AuditFinding[], id: string, subject?: string) => findings.find((finding) => finding.id === id && (subject === undefined || finding.subject === subject))

describe('audit: selection and exit rule', () => {
  it('takes check ids and finding ids, and refuses unknown ones', () => {
    assert.deepEqual(selectChecks(['files']).map(({check, keep}) => [check.id, keep]), [['files', undefined]])
    assert.deepEqual(selectChecks(['store-mode', 'cipher-null']).map(({check, keep}) => [check.id, [...(keep ?? [])]]), [['files', ['store-mode']], ['tls-policy', ['cipher-null']]])
    assert.throws(() => selectChecks(['nope']), /unknown check or finding "nope"/)
  })

  it('fails at or above --fail-on only', () => {
    const warning: AuditFinding = {id: 'x', severity: 'warning', subject: 's', message: 'm', fix: 'f'}
    assert.equal(auditFails([warning], 'warning'), true)
    assert.equal(auditFails([warning], 'info'), true)
    assert.equal(auditFails([warning], 'critical'), false)
    assert.equal(auditFails([warning], 'none'), false)
  })
})

describe('audit files', () => {
  it('passes a data directory made by xmppctl (0700, store 0600, keys 0600)', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\n')
    await addAccounts(config(), [['alice@example.org', 'secret']])
    await generateCertificates(config(), ['example.org'], {key: 'ec:p256', days: 30, subdomains: [], force: false})
    const {findings} = await audit(config(), ['files'])
    assert.deepEqual(findings, [])
  })

  it('says the data directory does not exist yet, as info', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\n')
    const {findings} = await audit(config(), ['files'])
    assert.deepEqual(ids(findings), ['data-dir-missing'])
    assert.equal(findings[0].severity, 'info')
  })

  it('fires on a world-readable store (critical) and a group-readable one (warning)', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\n')
    await addAccounts(config(), [['alice@example.org', 'secret']])
    const store = path.join(config().dataDir, 'accounts.sqlite')
    chmodSync(store, 0o644)
    let {findings} = await audit(config(), ['store-mode'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity, finding.subject]), [['store-mode', 'critical', store]])
    assert.match(findings[0].message, /mode 0644: every user on this machine can read it/)
    chmodSync(store, 0o640)
    ;({findings} = await audit(config(), ['store-mode']))
    assert.deepEqual(findings.map((finding) => finding.severity), ['warning'])
  })

  it('fires on a private key readable by others', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\n')
    const [generated] = await generateCertificates(config(), ['example.org'], {key: 'ec:p256', days: 30, subdomains: [], force: false})
    chmodSync(generated.keyFile, 0o644)
    const {findings} = await audit(config(), ['files'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity, finding.subject]), [['key-mode', 'critical', generated.keyFile]])
  })

  it('fires on directories beyond 0750, critical when world-writable, and accepts 0750', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\n')
    await addAccounts(config(), [['alice@example.org', 'secret']])
    const dataDir = config().dataDir
    chmodSync(dataDir, 0o750)
    assert.deepEqual(await audit(config(), ['files']).then((result) => result.findings), [])
    chmodSync(dataDir, 0o755)
    let {findings} = await audit(config(), ['files'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity]), [['dir-mode', 'warning']])
    chmodSync(dataDir, 0o777)
    ;({findings} = await audit(config(), ['files']))
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity]), [['dir-mode', 'critical']])
  })

  it('fires on a symlink leading out of the data directory, not on one inside it', async (t) => {
    const {dir, config} = setup(t, 'hosts: [example.org]\n')
    await addAccounts(config(), [['alice@example.org', 'secret']])
    const dataDir = config().dataDir
    writeFileSync(path.join(dataDir, 'inside.txt'), 'x', {mode: 0o600})
    symlinkSync(path.join(dataDir, 'inside.txt'), path.join(dataDir, 'link-inside'))
    assert.deepEqual(await audit(config(), ['symlink-escape']).then((result) => result.findings), [])
    writeFileSync(path.join(dir, 'outside.txt'), 'x', {mode: 0o600})
    symlinkSync(path.join(dir, 'outside.txt'), path.join(dataDir, 'link-outside'))
    const {findings} = await audit(config(), ['symlink-escape'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.subject]), [['symlink-escape', path.join(dataDir, 'link-outside')]])
  })

  it('fires on a world-writable parent without the sticky bit, not on a sticky one', async (t) => {
    const {dir} = setup(t, 'hosts: [example.org]\n')
    const parent = path.join(dir, 'shared')
    mkdirSync(parent)
    writeFileSync(path.join(dir, 'xmppctl.yml'), `hosts: [example.org]\ndata_dir: ${parent}/data\n`)
    const configuration = loadConfig(path.join(dir, 'xmppctl.yml'))
    mkdirSync(path.join(parent, 'data'), {mode: 0o700})
    chmodSync(parent, 0o1777)
    assert.deepEqual(await audit(configuration, ['parent-writable']).then((result) => result.findings), [])
    chmodSync(parent, 0o777)
    const {findings} = await audit(configuration, ['parent-writable'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity, finding.subject]), [['parent-writable', 'critical', parent]])
  })

  it('fires when the store belongs to someone else than --as, and --fix gives it back (as root)', {skip: !root || !nobody ? 'needs root and a "nobody" user' : false}, async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\n')
    await addAccounts(config(), [['alice@example.org', 'secret']])
    const dataDir = config().dataDir
    const store = path.join(dataDir, 'accounts.sqlite')
    chownSync(dataDir, nobody!.uid, nobody!.gid)
    assert.deepEqual(ids((await audit(config(), ['file-owner'], {as: 'nobody'})).findings), ['file-owner'])
    assert.equal((await audit(config(), ['file-owner'], {as: 'nobody'})).findings[0].subject, store)
    const {findings, fixed} = await audit(config(), ['file-owner'], {as: 'nobody', fix: true})
    assert.deepEqual(findings, [])
    assert.deepEqual(fixed.map((change) => [change.action, change.path, change.to]), [['chown', store, `nobody:${nobody!.gid}`]])
    assert.equal(statSync(store).uid, nobody!.uid)
  })

  it('fires when the server user cannot read a key', {skip: !root || !nobody ? 'needs root and a "nobody" user' : false}, async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\n')
    await generateCertificates(config(), ['example.org'], {key: 'ec:p256', days: 30, subdomains: [], force: false})
    const {findings} = await audit(config(), ['key-unreadable'], {as: 'nobody'})
    assert.deepEqual(ids(findings), ['key-unreadable'])
    assert.equal((await audit(config(), ['key-unreadable'])).findings.length, 0)
  })

  it('fires on a world-writable file anywhere in the data directory', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\n')
    await addAccounts(config(), [['alice@example.org', 'secret']])
    const file = path.join(config().dataDir, 'notes.txt')
    writeFileSync(file, 'x', {mode: 0o600})
    assert.deepEqual((await audit(config(), ['files'])).findings, [])
    chmodSync(file, 0o666)
    assert.deepEqual((await audit(config(), ['files'])).findings.map((finding) => [finding.id, finding.subject]), [['file-mode', file]])
  })

  it('fires when a parent of the data directory belongs to another user who can write it', {skip: !root || !nobody ? 'needs root and a "nobody" user' : false}, async (t) => {
    const {dir} = setup(t, 'hosts: [example.org]\n')
    const parent = path.join(dir, 'home')
    mkdirSync(path.join(parent, 'data'), {recursive: true, mode: 0o700})
    writeFileSync(path.join(dir, 'xmppctl.yml'), `hosts: [example.org]\ndata_dir: ${parent}/data\n`)
    const configuration = loadConfig(path.join(dir, 'xmppctl.yml'))
    assert.deepEqual((await audit(configuration, ['parent-owner'])).findings, [])
    chownSync(parent, nobody!.uid, nobody!.gid)
    assert.deepEqual((await audit(configuration, ['parent-owner'])).findings.map((finding) => [finding.id, finding.subject]), [['parent-owner', parent]])
  })

  it('--fix sets modes back and lists each change with the old mode', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\n')
    await addAccounts(config(), [['alice@example.org', 'secret']])
    const dataDir = config().dataDir
    const store = path.join(dataDir, 'accounts.sqlite')
    chmodSync(store, 0o664)
    chmodSync(dataDir, 0o777)
    const {findings, fixed} = await audit(config(), ['files'], {fix: true})
    assert.deepEqual(findings, [])
    assert.deepEqual(
      fixed.map((change) => [change.action, change.path, change.from, change.to]).sort(),
      [['chmod', dataDir, '0777', '0750'], ['chmod', store, '0664', '0600']].sort(),
    )
    assert.equal(statSync(store).mode & 0o7777, 0o600)
    assert.equal(statSync(dataDir).mode & 0o7777, 0o750)
  })
})

describe('audit config-file', () => {
  it('passes a 0644 configuration without secrets, and a 0600 one with a pasted key', async (t) => {
    const {file, config} = setup(t, 'hosts: [example.org]\n')
    chmodSync(file, 0o644)
    assert.deepEqual((await audit(config(), ['config-file'])).findings, [])
    writeFileSync(file, `hosts: [example.org]\n# old key, kept here:\n${rsaPem(1024).privateKey.split('\n').map((line) => `# ${line}`).join('\n')}\n`)
    chmodSync(file, 0o600)
    assert.deepEqual((await audit(config(), ['config-file'])).findings, [])
  })

  it('fires critical when a configuration holding a private key is world-readable', async (t) => {
    const {file, config} = setup(t, `hosts: [example.org]\n# ${rsaPem(1024).privateKey.split('\n').join('\n# ')}\n`)
    chmodSync(file, 0o644)
    const {findings} = await audit(config(), ['config-file'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity]), [['config-secrets-readable', 'critical']])
    assert.match(findings[0].message, /holds a PEM private key and has mode 0644/)
  })

  it('fires critical on a world-writable configuration', async (t) => {
    const {file, config} = setup(t, 'hosts: [example.org]\n')
    chmodSync(file, 0o666)
    const {findings} = await audit(config(), ['config-file'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity]), [['config-writable', 'critical']])
  })

  it('recognises secret-named keys such as ldap_password, and ignores empty ones', () => {
    assert.deepEqual(secretsIn('ldap_password: hunter2\nhost_config:\n  a.org: {ldap_password: x}\n'), ['ldap_password', 'host_config.a.org.ldap_password'])
    assert.deepEqual(secretsIn('ldap_password: ""\nhosts: [a]\n'), [])
  })
})

describe('audit credentials', () => {
  it('passes SCRAM-only accounts holding every configured hash', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\n')
    await addAccounts(config(), [['alice@example.org', 'secret'], ['bob@example.org', 'secret']])
    assert.deepEqual((await audit(config(), ['credentials'])).findings, [])
  })

  it('fires on auth_password_format plain and counts the plaintext accounts', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\nauth_password_format: plain\n')
    await addAccounts(config(), [['alice@example.org', 'secret'], ['bob@example.org', 'secret']])
    const {findings} = await audit(config(), ['credentials'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity]), [['password-format-plain', 'warning'], ['plaintext-accounts', 'warning']])
    assert.match(find(findings, 'plaintext-accounts')!.message, /^2 accounts hold their passwords in plaintext: alice, bob$/)
  })

  it('names the accounts lacking a hash auth_scram_hash lists, and not those with it', async (t) => {
    const {file, config} = setup(t, 'hosts: [example.org]\nauth_scram_hash: [sha1]\n')
    await addAccounts(config(), [['alice@example.org', 'secret'], ['bob@example.org', 'secret']])
    writeFileSync(file, 'hosts: [example.org]\nauth_scram_hash: [sha1, sha256]\n')
    await addAccounts(config(), [['carol@example.org', 'secret']])
    const {findings} = await audit(config(), ['credentials'])
    assert.deepEqual(ids(findings), ['scram-hash-missing'])
    assert.match(findings[0].message, /^2 accounts lack SCRAM-SHA-256 credentials \(auth_scram_hash lists sha256\), so SCRAM-SHA-256 is offered to no one on example\.org: alice, bob$/)
  })
})

describe('audit auth-backends', () => {
  function program(dir: string, mode: number): string {
    const file = path.join(dir, 'auth.sh')
    writeFileSync(file, '#!/bin/sh\nwhile read line; do echo 0; done\n')
    chmodSync(file, mode)
    return file
  }

  it('passes an external auth program of mode 0755', async (t) => {
    const {dir, file, config} = setup(t, '')
    writeFileSync(file, `hosts: [example.org]\nauth_method: [external]\nextauth_program: ${program(dir, 0o755)}\n`)
    assert.deepEqual((await audit(config(), ['auth-backends'])).findings, [])
  })

  for (const mode of [0o777, 0o775]) {
    it(`fires critical on an external auth program of mode ${mode.toString(8)}`, async (t) => {
      const {dir, file, config} = setup(t, '')
      const script = program(dir, mode)
      writeFileSync(file, `hosts: [example.org]\nauth_method: [external]\nextauth_program: ${script}\n`)
      const {findings} = await audit(config(), ['auth-backends'])
      assert.deepEqual(findings.map((finding) => [finding.id, finding.severity, finding.subject]), [['extauth-writable', 'critical', script]])
    })
  }

  it('fires when the server user cannot run the external auth program', {skip: !root || !nobody ? 'needs root and a "nobody" user' : false}, async (t) => {
    const {dir, file, config} = setup(t, '')
    chmodSync(dir, 0o711)
    const script = program(dir, 0o700)
    writeFileSync(file, `hosts: [example.org]\nauth_method: [external]\nextauth_program: ${script}\n`)
    assert.deepEqual(ids((await audit(config(), ['auth-backends'], {as: 'nobody'})).findings), ['extauth-not-executable'])
    chmodSync(script, 0o755)
    assert.deepEqual((await audit(config(), ['auth-backends'], {as: 'nobody'})).findings, [])
  })

  it('fires when extauth_program does not exist', async (t) => {
    const {dir, file, config} = setup(t, '')
    writeFileSync(file, `hosts: [example.org]\nauth_method: [external]\nextauth_program: ${dir}/missing.sh\n`)
    assert.deepEqual(ids((await audit(config(), ['auth-backends'])).findings), ['extauth-missing'])
  })

  it('passes a world-readable public jwt_key and a 0600 private one; fires on a world-readable private one', async (t) => {
    const {dir, file, config} = setup(t, '')
    const key = path.join(dir, 'jwt.pem')
    const pair = rsaPem()
    writeFileSync(file, `hosts: [example.org]\nauth_method: [jwt]\njwt_key: ${key}\n`)
    writeFileSync(key, pair.publicKey, {mode: 0o644})
    assert.deepEqual((await audit(config(), ['auth-backends'])).findings, [])
    writeFileSync(key, pair.privateKey)
    chmodSync(key, 0o600)
    assert.deepEqual((await audit(config(), ['auth-backends'])).findings, [])
    chmodSync(key, 0o644)
    const {findings} = await audit(config(), ['auth-backends'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity]), [['jwt-key-readable', 'critical']])
  })

  it('checks the Kerberos keytab: its principal and a strong key, passes 0600 owned by the server user, fires when every user may read it, and tells nobody which group to join', {skip: !root || !nobody ? 'needs root and a "nobody" user' : false}, async (t) => {
    const {dir, file, config} = setup(t, '')
    chmodSync(dir, 0o711)
    const keytab = path.join(dir, 'xmpp.keytab')
    const ktutil = (principal: string, enctype: string) => {
      rmSync(keytab, {force: true})
      execFileSync('ktutil', {input: `addent -password -p ${principal} -k 1 -e ${enctype}\nsecret\nwkt ${keytab}\nquit\n`, stdio: ['pipe', 'ignore', 'ignore']})
      chmodSync(keytab, 0o600)
    }

    writeFileSync(file, `hosts: [example.org]\nauth_method: [internal, gssapi]\ngssapi_keytab: ${keytab}\n`)
    // What the server's offer reads too: the principal of the host, with an AES key.
    ktutil('xmpp/example.org@EXAMPLE.ORG', 'arcfour-hmac')
    assert.deepEqual((await audit(config(), ['auth-backends'])).findings.map((finding) => [finding.id, finding.severity, finding.message]), [
      ['gssapi-keytab-weak', 'critical', 'gssapi_keytab for example.org: only DEPRECATED:arcfour-hmac: the server does not offer GSSAPI (no encryption type MIT Kerberos accepts by default (DES and RC4 are disabled))'],
    ])
    ktutil('xmpp/other.org@EXAMPLE.ORG', 'aes256-cts-hmac-sha1-96')
    assert.deepEqual(ids((await audit(config(), ['auth-backends'])).findings), ['gssapi-keytab-principal'])
    ktutil('xmpp/example.org@EXAMPLE.ORG', 'aes256-cts-hmac-sha1-96')
    assert.deepEqual((await audit(config(), ['auth-backends'])).findings, [])
    chmodSync(keytab, 0o644)
    const readable = (await audit(config(), ['auth-backends'])).findings
    assert.deepEqual(readable.map((finding) => [finding.id, finding.severity, finding.fix]), [['gssapi-keytab-readable', 'critical', `chmod 0640 ${keytab}`]])
    chownSync(keytab, 0, 1)
    chmodSync(keytab, 0o640)
    const unreadable = (await audit(config(), ['auth-backends'], {as: 'nobody'})).findings
    assert.deepEqual(unreadable.map((finding) => [finding.id, finding.fix]), [['gssapi-keytab-unreadable', 'add nobody to group daemon (usermod -aG daemon nobody) and restart the server']])
  })

  it('checks ldap_password_file when ldap is in auth_method', async (t) => {
    const {dir, file, config} = setup(t, '')
    const secret = path.join(dir, 'ldap.secret')
    writeFileSync(secret, 'service-password\n', {mode: 0o604})
    writeFileSync(file, `hosts: [example.org]\nauth_method: [ldap]\nldap_base: dc=example,dc=org\nldap_password_file: ${secret}\n`)
    assert.deepEqual(ids((await audit(config(), ['auth-backends'])).findings), ['ldap-password-file-readable'])
    // Group-readable too: the LDAP backend reads the file only when its owner alone may (config/secret-file.ts).
    chmodSync(secret, 0o640)
    assert.deepEqual((await audit(config(), ['auth-backends'])).findings.map((finding) => [finding.id, finding.fix]), [['ldap-password-file-readable', `chmod 0600 ${secret}`]])
    chmodSync(secret, 0o600)
    assert.deepEqual((await audit(config(), ['auth-backends'])).findings, [])
  })

  it('treats a symmetric JWK as a secret', async (t) => {
    const {dir, file, config} = setup(t, '')
    const key = path.join(dir, 'jwt.jwk')
    writeFileSync(key, JSON.stringify({kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0'}), {mode: 0o640})
    writeFileSync(file, `hosts: [example.org]\nauth_method: [jwt]\njwt_key: ${key}\n`)
    assert.deepEqual((await audit(config(), ['auth-backends'])).findings.map((finding) => [finding.id, finding.severity]), [['jwt-key-readable', 'warning']])
  })

  it('fires when the server user cannot reach the saslauthd socket, and passes when its group can', {skip: !root || !nobody ? 'needs root and a "nobody" user' : false}, async (t) => {
    const {dir, file, config} = setup(t, '')
    const socketDir = path.join(dir, 'saslauthd')
    mkdirSync(socketDir, {mode: 0o700})
    const socket = path.join(socketDir, 'mux')
    const server = net.createServer(() => {})
    await new Promise<void>((resolve) => server.listen(socket, resolve))
    t.after(() => server.close())
    chmodSync(dir, 0o711)
    writeFileSync(file, `hosts: [example.org]\nauth_method: [saslauthd]\nsaslauthd_socket: ${socket}\n`)
    const {findings} = await audit(config(), ['auth-backends'], {as: 'nobody'})
    assert.deepEqual(ids(findings), ['saslauthd-unreachable'])
    assert.match(findings[0].message, new RegExp(`${socketDir} is 0700 root:root`))
    // Debian's layout: root:sasl 0710, the server user in the group.
    chownSync(socketDir, 0, nobody!.gid)
    chmodSync(socketDir, 0o710)
    chownSync(socket, 0, nobody!.gid)
    chmodSync(socket, 0o770)
    assert.deepEqual((await audit(config(), ['auth-backends'], {as: 'nobody'})).findings, [])
  })

  it('says when the saslauthd socket is missing', async (t) => {
    const {dir, file, config} = setup(t, '')
    writeFileSync(file, `hosts: [example.org]\nauth_method: [saslauthd]\nsaslauthd_socket: ${dir}/mux\n`)
    assert.deepEqual(ids((await audit(config(), ['auth-backends'])).findings), ['saslauthd-socket-missing'])
  })
})

describe('audit of the http listener and uploads', () => {
  it('fires on an upload or the upload secret its group or others can read, and passes 0600', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\n')
    await addAccounts(config(), [['alice@example.org', 'secret']])
    const {UploadStore} = await import('../../../src/server/upload-store.js')
    const store = new UploadStore(config().dataDir)
    const slot = await store.create('alice@example.org', 'a.txt', 1, 'text/plain')
    const found = (await store.find(slot.path))!
    writeFileSync(found.file, 'x', {mode: 0o600})
    assert.deepEqual((await audit(config(), ['upload-mode'])).findings, [])
    chmodSync(found.file, 0o644)
    chmodSync(path.join(config().dataDir, 'upload.secret'), 0o640)
    const {findings} = await audit(config(), ['upload-mode'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity, finding.subject]), [
      ['upload-mode', 'critical', found.file],
      ['upload-mode', 'warning', path.join(config().dataDir, 'upload.secret')],
    ])
    assert.match(findings[0].message, /an uploaded file has mode 0644/)
  })

  it('warns on an http listener without TLS, and only informs when it listens on loopback', async (t) => {
    const {config} = setup(t, `hosts: [example.org]\n${GOOD_TLS}listen: [{port: 5443, module: http, request_handlers: {/ws: ejabberd_http_ws}}, {port: 5280, ip: 127.0.0.1, module: http}, {port: 5444, module: http, tls: true}]\n`)
    const {findings} = await audit(config(), ['http-without-tls'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity, finding.subject]), [
      ['http-without-tls', 'warning', 'listen port 5443'],
      ['http-without-tls', 'info', 'listen port 5280'],
    ])
    assert.match(findings[0].message, /serves \/ws without TLS/)
  })

  it('warns when WebSocket or BOSH is served and websocket_origin lists no origin, and not once it lists one', async (t) => {
    const listen = 'listen: [{port: 5443, module: http, tls: true, request_handlers: {/bosh: mod_bosh, /upload: mod_http_upload}}, {port: 5444, module: http, tls: true, request_handlers: {/upload: mod_http_upload}}]\n'
    const open = setup(t, `hosts: [example.org]\n${GOOD_TLS}${listen}`)
    const {findings} = await audit(open.config(), ['web-any-origin'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity, finding.subject]), [['web-any-origin', 'warning', 'websocket_origin']])
    assert.match(findings[0].message, /on port 5443 serve a page from any web site/)
    const limited = setup(t, `hosts: [example.org]\n${GOOD_TLS}${listen}websocket_origin: ['https://chat.example.org']\n`)
    assert.deepEqual((await audit(limited.config(), ['web-any-origin'])).findings, [])
  })
})

describe('audit s2s-policy', () => {
  it('says nothing without an s2s listener, nor with STARTTLS required, s2s_secure_auth and a CA-signed certificate naming every host and service domain', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\ns2s_use_starttls: false\n')
    assert.deepEqual((await audit(config(), ['s2s-policy'])).findings, [])
    const {dir, config: secured} = setup(t, 'hosts: [example.org]\nlisten: [{port: 5269, module: s2s}]\ns2s_secure_auth: true\n')
    const pki = createPki(dir)
    writeFileSync(path.join(dir, 'xmppctl.yml'), `hosts: [example.org]\nlisten: [{port: 5269, module: s2s}]\ns2s_secure_auth: true\ns2s_certfile: ${pki.issue('example.org', {services: ['conference.example.org']}).both}\n`)
    assert.deepEqual((await audit(secured(), ['s2s-policy'])).findings, [])
  })

  it('names each service domain (mod_muc, mod_http_upload) that s2s_certfile leaves out, once for hosts that share it', async (t) => {
    const {dir, config} = setup(t, 'hosts: [example.org]\n')
    const pki = createPki(dir)
    const hostOnly = pki.issue('example.org').both
    const both = pki.issue('example.net').both
    writeFileSync(path.join(dir, 'xmppctl.yml'), `hosts: [example.org]\nlisten: [{port: 5269, module: s2s}]\ns2s_secure_auth: true\ns2s_certfile: ${hostOnly}\nmodules: {mod_muc: {}, mod_http_upload: {host: files.example.org}}\n`)
    const {findings} = await audit(config(), ['s2s-policy'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity, finding.subject]), [
      ['s2s-certificate-service-uncovered', 'info', 'conference.example.org'],
      ['s2s-certificate-service-uncovered', 'info', 'files.example.org'],
    ])
    assert.equal(findings[0].message, `s2s_certfile (${hostOnly}) does not name conference.example.org: peers authenticate that service by dialback only, and those with s2s_secure_auth refuse it`)
    writeFileSync(path.join(dir, 'xmppctl.yml'), `hosts: [example.org, example.net]\nlisten: [{port: 5269, module: s2s}]\ns2s_secure_auth: true\ns2s_certfile: ${both}\nmodules: {mod_muc: {host: rooms.example.org}}\n`)
    assert.deepEqual((await audit(config(), ['s2s-policy'])).findings.map((finding) => [finding.id, finding.subject]), [
      ['s2s-certificate-wrong-host', 'example.org'],
      ['s2s-certificate-service-uncovered', 'rooms.example.org'],
    ])
  })

  it('fires on optional or no encryption, dialback allowed, and a self-signed s2s certificate for another host', async (t) => {
    const {dir, config} = setup(t, 'hosts: [example.org]\n')
    const pki = createPki(dir)
    const selfSigned = pki.selfSigned('example.net').both
    writeFileSync(path.join(dir, 'xmppctl.yml'), `hosts: [example.org]\nlisten: [{port: 5269, module: s2s}]\ns2s_use_starttls: false\ns2s_certfile: ${selfSigned}\n`)
    const {findings} = await audit(config(), ['s2s-policy'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity, finding.subject]), [
      ['s2s-encryption-optional', 'critical', 's2s_use_starttls'],
      ['s2s-certificate-self-signed', 'warning', selfSigned],
      ['s2s-certificate-wrong-host', 'warning', 'example.org'],
      ['s2s-certificate-service-uncovered', 'info', 'conference.example.org'],
      ['s2s-dialback-allowed', 'info', 's2s_secure_auth'],
    ])
  })
})

describe('audit tls-policy', () => {
  it('passes required encryption, TLS 1.2+, forward-secret AEAD suites and an RFC 7919 group', async (t) => {
    const {config} = setup(t, `hosts: [example.org]\n${GOOD_TLS}`)
    assert.deepEqual((await audit(config(), ['tls-policy'])).findings, [])
  })

  it('fires when encryption is optional, and on PLAIN before TLS', async (t) => {
    const {config} = setup(t, `hosts: [example.org]\n${GOOD_TLS}listen: [{port: 5222, starttls: optional}]\nc2s_require_encryption: false\nallow_unencrypted_plain_auth: true\n`)
    const {findings} = await audit(config(), ['tls-policy'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity]), [['plain-without-tls', 'critical'], ['c2s-encryption-optional', 'warning']])
  })

  it('fires critical when a listener has STARTTLS disabled and encryption is not required', async (t) => {
    const {config} = setup(t, `hosts: [example.org]\n${GOOD_TLS}listen: [{port: 5222, starttls: disabled}]\nc2s_require_encryption: false\n`)
    assert.deepEqual((await audit(config(), ['tls-policy'])).findings.map((finding) => [finding.id, finding.severity]), [['c2s-encryption-optional', 'critical']])
  })

  it('does not fire on c2s_require_encryption off while every listener requires STARTTLS', async (t) => {
    const {config} = setup(t, `hosts: [example.org]\n${GOOD_TLS}c2s_require_encryption: false\n`)
    assert.deepEqual((await audit(config(), ['tls-policy'])).findings, [])
  })

  it('fires on tls.min_version TLSv1', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\ntls: {min_version: TLSv1, ciphers: "ECDHE+AESGCM:ECDHE+CHACHA20"}\n')
    assert.deepEqual(ids((await audit(config(), ['tls-policy'])).findings), ['tls-min-version'])
  })

  it('asks OpenSSL: "AES128-SHA" admits suites without forward secrecy and without AEAD', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\ntls: {ciphers: "AES128-SHA"}\n')
    const {findings} = await audit(config(), ['tls-policy'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity]), [['cipher-no-forward-secrecy', 'warning'], ['cipher-non-aead', 'warning']])
    assert.match(find(findings, 'cipher-no-forward-secrecy')!.message, /: AES128-SHA$/)
  })

  it('asks OpenSSL: Node\'s own default list admits RSA key exchange; xmppctl\'s default admits only forward-secret AEAD suites', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\ntls: {ciphers: DEFAULT}\n')
    const {findings} = await audit(config(), ['cipher-no-forward-secrecy', 'cipher-non-aead'])
    assert.match(findings.find((finding) => finding.id === 'cipher-no-forward-secrecy')?.message ?? '', /AES128-GCM-SHA256/)
    assert.ok(findings.some((finding) => finding.id === 'cipher-non-aead'))
    const {config: defaults} = setup(t, 'hosts: [example.org]\n')
    assert.deepEqual((await audit(defaults(), ['cipher-no-forward-secrecy', 'cipher-non-aead'])).findings, [])
  })

  it('expands aliases the way OpenSSL does: "kRSA" is refused through RSA key exchange, "aNULL" through anonymous suites, "eNULL" through NULL ones (AECDH-NULL-SHA is both)', async (t) => {
    const {file, config} = setup(t, '')
    const cases: Array<[string, string[]]> = [
      ['ECDHE+AESGCM:!kRSA', []],
      ['kRSA+AESGCM', ['cipher-no-forward-secrecy']],
      ['ECDHE+AESGCM:aNULL:@SECLEVEL=0', ['cipher-anonymous', 'cipher-non-aead', 'cipher-null']],
      ['ECDHE+AESGCM:eNULL:@SECLEVEL=0', ['cipher-null', 'cipher-anonymous', 'cipher-no-forward-secrecy', 'cipher-non-aead']],
    ]
    for (const [ciphers, expected] of cases) {
      writeFileSync(file, `hosts: [example.org]\ntls: {ciphers: "${ciphers}"}\n`)
      const {findings} = await audit(config(), ['tls-policy'])
      assert.deepEqual(ids(findings).sort(), [...expected].sort(), ciphers)
    }
  })

  it('fires critical on a cipher string OpenSSL refuses', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\ntls: {ciphers: "NO-SUCH-SUITE"}\n')
    const {findings} = await audit(config(), ['tls-policy'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity]), [['cipher-string-invalid', 'critical']])
    assert.match(findings[0].message, /no cipher match/)
  })

  it('passes 2048-bit safe-prime DH parameters from a file; fires on 1024 bits and on a prime that is not safe', async (t) => {
    const {dir, file, config} = setup(t, '')
    const dh = path.join(dir, 'dh.pem')
    writeFileSync(file, `hosts: [example.org]\ntls: {ciphers: "ECDHE+AESGCM:ECDHE+CHACHA20", dhparam: ${dh}}\n`)
    writeFileSync(dh, encodeDhParams({p: ffdhePrime('ffdhe2048'), g: 2n}))
    assert.deepEqual((await audit(config(), ['tls-policy'])).findings, [])
    // RFC 2409 Oakley group 2: a 1024-bit safe prime.
    writeFileSync(dh, encodeDhParams({p: BigInt(`0x${getDiffieHellman('modp2').getPrime('hex')}`), g: 2n}))
    assert.deepEqual((await audit(config(), ['tls-policy'])).findings.map((finding) => [finding.id, finding.severity]), [['dh-too-small', 'critical']])
    const prime = generatePrimeSync(2048, {bigint: true})
    writeFileSync(dh, encodeDhParams({p: prime, g: 2n}))
    const {findings} = await audit(config(), ['tls-policy'])
    assert.ok(ids(findings).includes('dh-not-safe-prime'), ids(findings).join(' '))
  })
})

describe('audit certificates', () => {
  it('passes a current certificate and key for every host', async (t) => {
    const {config} = setup(t, 'hosts: [example.org]\n')
    await generateCertificates(config(), ['example.org'], {key: 'ec:p256', days: 90, subdomains: [], force: false})
    const {findings} = await audit(config(), ['certificates'])
    // Self-signed is a warning of its own; nothing about coverage, expiry, key or signature.
    assert.deepEqual(ids(findings), ['cert-self-signed'])
  })

  it('fires critical when a host has no certificate', async (t) => {
    const {config} = setup(t, 'hosts: [example.org, example.net]\n')
    await generateCertificates(config(), ['example.org'], {key: 'ec:p256', days: 90, subdomains: [], force: false})
    const {findings} = await audit(config(), ['cert-missing'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity, finding.subject]), [['cert-missing', 'critical', 'example.net']])
  })

  it('fires critical on an expired certificate and on a SHA-1 signature', async (t) => {
    const {config} = setup(t, 'hosts: [example.org, example.net]\n')
    const certs = path.join(config().dataDir, 'certs')
    await writeCertificate(path.join(certs, 'example.org'), {host: 'example.org', notBefore: new Date(Date.now() - 100 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000)})
    await writeCertificate(path.join(certs, 'example.net'), {host: 'example.net', hash: 'SHA-1'})
    const {findings} = await audit(config(), ['cert-expired', 'cert-signature-weak'])
    assert.deepEqual(findings.map((finding) => [finding.id, finding.severity, finding.subject]), [['cert-signature-weak', 'critical', 'example.net'], ['cert-expired', 'critical', 'example.org']])
  })
})

describe('cipher suite classification (for suites this OpenSSL cannot negotiate)', () => {
  const cases: Array<[string, Partial<ReturnType<typeof classifySuite>>]> = [
    ['TLS_RSA_WITH_3DES_EDE_CBC_SHA', {tripleDes: true, bits: 112, forwardSecrecy: false, aead: false}],
    ['TLS_RSA_WITH_RC4_128_MD5', {rc4: true, bits: 128}],
    ['TLS_RSA_EXPORT_WITH_RC4_40_MD5', {export: true, rc4: true, bits: 40}],
    ['TLS_RSA_WITH_NULL_SHA256', {nullCipher: true, bits: 0}],
    ['TLS_DH_anon_WITH_AES_128_CBC_SHA', {anonymous: true}],
    ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', {forwardSecrecy: true, aead: true, bits: 256}],
    ['TLS_AES_128_GCM_SHA256', {forwardSecrecy: true, aead: true, bits: 128, keyExchange: 'TLS13'}],
  ]
  for (const [name, expected] of cases) {
    it(name, () => {
      const info = classifySuite(name, name)
      for (const [key, value] of Object.entries(expected)) assert.equal(info[key as keyof typeof info], value, key)
    })
  }
})

