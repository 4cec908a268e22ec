/**
 * `audit remote` against Debian's Prosody on loopback: our own configuration
 * file, data directory, pid file, certificate and ports, nothing of the
 * system's touched. Skipped only when the prosody binary is missing (CI
 * installs the "prosody" package).
 */
import assert from 'node:assert/strict'
import {type ChildProcess, execFileSync, spawn, spawnSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {describe, it} from 'node:test'

import {type RemoteResult, parseTarget, runRemoteAudit} from '../../../src/audit/remote/scan.js'
import {freePort, tempDir} from '../../helpers.js'

const prosodyMissing = spawnSync('sh', ['-c', 'command -v prosody'], {encoding: 'utf8'}).status !== 0
const skip = prosodyMissing ? 'prosody is not installed (apt-get install prosody)' : false


async function waitForPort(port: number, child: ChildProcess, log: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prosody exited with ${child.exitCode}:\n${log()}`)
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({port, host: '127.0.0.1'}, () => {
        socket.destroy()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (open) return
    if (Date.now() > deadline) throw new Error(`prosody did not listen on ${port}:\n${log()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

interface Prosody {
  starttlsPort: number
  tlsPort: number
  cert: string
}

/** Starts `prosody -F` with a private configuration; `extra` is Lua appended before the VirtualHost. */
async function startProsody(t: {after(fn: () => unknown): void}, extra = ''): Promise<Prosody> {
  const dir = tempDir(t, 'xmppctl-prosody-')
  const data = path.join(dir, 'data')
  mkdirSync(data, {mode: 0o700})
  const cert = path.join(dir, 'localhost.crt')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'localhost.key'), '-out', cert, '-days', '30', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], {stdio: 'ignore'})
  const [starttlsPort, tlsPort] = [await freePort(), await freePort()]
  const config = path.join(dir, 'prosody.cfg.lua')
  writeFileSync(config, `-- written by xmppctl's tests
run_as_root = true
pidfile = "${dir}/prosody.pid"
data_path = "${data}"
log = { { levels = { min = "info" }, to = "console" } }
c2s_ports = { ${starttlsPort} }
c2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = { ${tlsPort} }
c2s_direct_tls_interfaces = { "127.0.0.1" }
s2s_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping" }
modules_disabled = { "s2s" }
authentication = "internal_hashed"
certificates = "${dir}"
${extra}
VirtualHost "localhost"
`)
  const child = spawn('prosody', ['--config', config, '-F'], {stdio: ['ignore', 'pipe', 'pipe']})
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  t.after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  })
  await waitForPort(starttlsPort, child, () => output)
  await waitForPort(tlsPort, child, () => output)
  return {starttlsPort, tlsPort, cert}
}

const scan = (port: number, cert: string, mode: 'starttls' | 'direct-tls' = 'starttls'): Promise<RemoteResult> =>
  runRemoteAudit({target: parseTarget(`127.0.0.1:${port}`, mode, 'localhost'), caFiles: [cert], timeoutMs: 5000})
const status = (result: RemoteResult) => Object.fromEntries(result.protocols.map((entry) => [entry.protocol, entry.status]))
const findingIds = (result: RemoteResult) => result.findings.map((finding) => `${finding.severity}:${finding.id}`).sort()

describe('audit remote: Debian\'s Prosody', {skip}, () => {
  it('default configuration: STARTTLS required, TLS 1.2+, FS AEAD suites: A; no channel binding on TLS 1.3, types not announced', async (t) => {
    const prosody = await startProsody(t)
    const result = await scan(prosody.starttlsPort, prosody.cert)
    assert.deepEqual(result.beforeTls, {starttls: {offered: true, required: true}, mechanisms: []})
    assert.deepEqual(status(result), {SSLv2: 'refused', SSLv3: 'refused', TLSv1: 'refused', 'TLSv1.1': 'refused', 'TLSv1.2': 'accepted', 'TLSv1.3': 'accepted'})
    assert.ok(result.afterTls?.mechanisms.includes('SCRAM-SHA-1'), result.afterTls?.mechanisms.join(' '))
    // Prosody 0.12 knows only tls-unique: -PLUS on TLS 1.2 only, and no XEP-0440.
    assert.deepEqual(result.channelBinding.map((report) => [report.protocol, report.plusMechanisms, report.types]), [['TLSv1.3', [], null], ['TLSv1.2', ['SCRAM-SHA-1-PLUS'], null]])
    assert.ok(Object.values(result.suites).flat().every((suite) => suite!.forwardSecrecy && suite!.aead))
    assert.equal(result.grade?.grade, 'A')
    assert.deepEqual(result.grade?.caps, [])
    assert.deepEqual(findingIds(result), ['info:cb-types-not-announced', 'warning:cb-no-tls-exporter'])
  })

  it('direct TLS port: the same grade', async (t) => {
    const prosody = await startProsody(t)
    const result = await scan(prosody.tlsPort, prosody.cert, 'direct-tls')
    assert.equal(result.beforeTls, null)
    assert.equal(result.grade?.grade, 'A')
  })

  it('encryption optional, PLAIN allowed in clear, TLS 1.0 allowed: critical PLAIN before TLS, graded B with the caps named', async (t) => {
    const prosody = await startProsody(t, 'c2s_require_encryption = false\nallow_unencrypted_plain_auth = true\nssl = { protocol = "tlsv1+"; ciphers = "DEFAULT:@SECLEVEL=0" }\n')
    const result = await scan(prosody.starttlsPort, prosody.cert)
    assert.deepEqual(result.beforeTls?.starttls, {offered: true, required: false})
    assert.deepEqual([...(result.beforeTls?.mechanisms ?? [])].sort(), ['PLAIN', 'SCRAM-SHA-1'])
    assert.equal(status(result).TLSv1, 'accepted')
    assert.equal(status(result)['TLSv1.1'], 'accepted')
    assert.equal(result.grade?.grade, 'B')
    assert.deepEqual(result.grade?.caps.map((cap) => cap.cap), ['B', 'B', 'A-'])
    for (const id of ['critical:plain-before-tls', 'warning:starttls-optional', 'warning:protocol-deprecated', 'warning:cipher-non-aead']) assert.ok(findingIds(result).includes(id), `${id} in ${findingIds(result).join(' ')}`)
  })
})
