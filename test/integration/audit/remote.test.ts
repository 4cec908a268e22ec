/**
 * `audit remote` against our own server, started in-process in several
 * configurations, each graded and checked finding by finding.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import {describe, it} from 'node:test'
import tls from 'node:tls'

import {probeHttp} from '../../../src/audit/remote/http.js'
import {type RemoteResult, parseTarget, runRemoteAudit} from '../../../src/audit/remote/scan.js'
import {Configuration} from '../../../src/config/index.js'
import type {Settings} from '../../../src/config/schema.js'
import {tempDir} from '../../helpers.js'
import {writeCertificate} from '../../unit/audit/fixtures.js'
import {startTestServer} from '../server/helpers.js'
import {HTTP_LISTENER} from '../server/web-helpers.js'

async function scan(port: number, options: {ca?: string[]; mode?: 'starttls' | 'direct-tls'; domain?: string; service?: 'c2s' | 's2s' | 'http'} = {}): Promise<RemoteResult> {
  return runRemoteAudit({target: parseTarget(`127.0.0.1:${port}`, options.mode ?? 'starttls', options.domain ?? 'localhost', options.service), caFiles: options.ca, timeoutMs: 5000})
}

const status = (result: RemoteResult) => Object.fromEntries(result.protocols.map((entry) => [entry.protocol, entry.status]))
const findingIds = (result: RemoteResult) => result.findings.map((finding) => `${finding.severity}:${finding.id}`).sort()
const caps = (result: RemoteResult) => result.grade?.caps.map((cap) => `${cap.cap} ${cap.reason.replace(/ \(.*\)$/, '')}`) ?? []

async function server(t: {after(fn: () => unknown): void}, settings: Partial<Settings> = {}) {
  const started = await startTestServer(t, {settings})
  const own = path.join(started.dataDir, 'certs', 'localhost.crt')
  return {...started, cert: own}
}

describe('audit remote: our server', () => {
  it('default configuration: STARTTLS required, TLS 1.2 and 1.3 only, channel binding per version; T without trust, A with it', async (t) => {
    const s = await server(t)
    const untrusted = await scan(s.starttlsPort)
    assert.equal(untrusted.grade?.grade, 'T')
    assert.equal(untrusted.grade?.gradeIgnoringTrust, 'A')
    assert.ok(caps(untrusted).includes('T the certificate chain is not trusted: DEPTH_ZERO_SELF_SIGNED_CERT'), caps(untrusted).join('\n'))

    const result = await scan(s.starttlsPort, {ca: [s.cert]})
    assert.deepEqual(result.beforeTls, {starttls: {offered: true, required: true}, mechanisms: []})
    assert.deepEqual(status(result), {SSLv2: 'refused', SSLv3: 'refused', TLSv1: 'refused', 'TLSv1.1': 'refused', 'TLSv1.2': 'accepted', 'TLSv1.3': 'accepted'})
    assert.deepEqual(result.notes, [])
    assert.equal(result.afterTls?.protocol, 'TLSv1.3')
    assert.ok(result.afterTls?.mechanisms.includes('SCRAM-SHA-256-PLUS'))
    assert.deepEqual(result.channelBinding.map((report) => [report.protocol, report.types]), [['TLSv1.3', ['tls-exporter']], ['TLSv1.2', ['tls-unique']]])
    assert.equal(result.certificate?.trusted, true)
    assert.deepEqual(result.certificate?.identity, {domain: 'localhost', dns: true, srvClient: true, srvServer: true, xmppAddr: true, commonName: false, matches: true})
    assert.equal(result.grade?.grade, 'A')
    assert.deepEqual({p: result.grade?.protocolScore, k: result.grade?.keyExchangeScore, c: result.grade?.cipherScore, s: result.grade?.score}, {p: 100, k: 100, c: 90, s: 96})
    assert.deepEqual(caps(result), [])
    assert.ok(result.suites['TLSv1.2']!.every((suite) => suite.forwardSecrecy && suite.aead))
    assert.deepEqual(findingIds(result), [])
  })

  it('s2s port, STARTTLS and direct TLS (ALPN xmpp-server): a jabber:server stream, STARTTLS required, graded like c2s, SRVName _xmpp-server', async (t) => {
    const s = await server(t, {
      listen: [
        {port: 0, ip: '127.0.0.1', module: 'c2s', starttls: 'required', tls: false},
        {port: 0, ip: '127.0.0.1', module: 's2s', starttls: 'required', tls: false},
        {port: 0, ip: '127.0.0.1', module: 's2s', starttls: 'required', tls: true},
      ],
    })
    const [plain, direct] = s.server.listenerStatus().filter((listener) => listener.module === 's2s')
    const result = await scan(plain.port, {ca: [s.cert], service: 's2s'})
    assert.deepEqual(result.target, {host: '127.0.0.1', port: plain.port, domain: 'localhost', mode: 'starttls', service: 's2s'})
    assert.deepEqual(result.beforeTls, {starttls: {offered: true, required: true}, mechanisms: []})
    assert.deepEqual(status(result), {SSLv2: 'refused', SSLv3: 'refused', TLSv1: 'refused', 'TLSv1.1': 'refused', 'TLSv1.2': 'accepted', 'TLSv1.3': 'accepted'})
    assert.deepEqual(result.afterTls?.mechanisms, [])
    assert.equal(result.certificate?.identity.matches, true)
    assert.equal(result.grade?.grade, 'A')
    assert.deepEqual(findingIds(result), [])
    const viaTls = await scan(direct.port, {ca: [s.cert], service: 's2s', mode: 'direct-tls'})
    assert.equal(viaTls.beforeTls, null)
    assert.equal(viaTls.grade?.grade, 'A')
    assert.equal(parseTarget('xmpp.example.org', 'starttls', undefined, 's2s').port, 5269)
    assert.equal(parseTarget('xmpp.example.org', 'direct-tls', undefined, 's2s').port, 5270)
  })

  it('https listener (--http): graded like the XMPP ports by DNS-ID, its headers read, and WebSocket and BOSH open to any origin until websocket_origin lists some', async (t) => {
    const listen: Settings['listen'] = [{port: 0, ip: '127.0.0.1', module: 'c2s', starttls: 'required', tls: false}, HTTP_LISTENER]
    const s = await server(t, {listen})
    const port = s.server.listenerStatus().find((listener) => listener.module === 'http')!.port
    const result = await scan(port, {ca: [s.cert], service: 'http'})
    assert.deepEqual(result.target, {host: '127.0.0.1', port, domain: 'localhost', mode: 'direct-tls', service: 'http'})
    assert.equal(result.beforeTls, null)
    assert.deepEqual(result.afterTls?.mechanisms, [])
    assert.deepEqual(status(result), {SSLv2: 'refused', SSLv3: 'refused', TLSv1: 'refused', 'TLSv1.1': 'refused', 'TLSv1.2': 'accepted', 'TLSv1.3': 'accepted'})
    assert.equal(result.grade?.grade, 'A')
    assert.deepEqual(result.http, {
      notFound: {status: 404, headers: {strictTransportSecurity: null, contentTypeOptions: 'nosniff', frameOptions: 'DENY', contentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'", server: null}},
      webSocket: {path: '/ws', status: 101, acceptsForeignOrigin: true},
      bosh: {path: '/bosh', status: 200, allowOrigin: '*'},
    })
    assert.deepEqual(findingIds(result), ['info:http-no-hsts', 'warning:bosh-any-origin', 'warning:websocket-any-origin'])
    assert.equal(parseTarget('xmpp.example.org', 'starttls', undefined, 'http').port, 5443)

    // With the web client's origin listed, a page elsewhere gets neither (the TLS part is as above).
    await s.server.reload(new Configuration(s.config.file, {...s.config.settings, websocket_origin: ['https://chat.example.org']}, {...s.config.hostOverrides}))
    const limited = await probeHttp({host: '127.0.0.1', port, domain: 'localhost', webSocketPath: '/ws', boshPath: '/bosh'}, 5000)
    assert.deepEqual({webSocket: limited.webSocket, bosh: limited.bosh}, {webSocket: {path: '/ws', status: 403, acceptsForeignOrigin: false}, bosh: {path: '/bosh', status: 403, allowOrigin: null}})
  })

  it('forward-secret AEAD suites only: A, no caps, no findings', async (t) => {
    const s = await server(t, {tls: {min_version: 'TLSv1.2', ciphers: 'ECDHE+AESGCM:ECDHE+CHACHA20', dhparam: 'ffdhe3072'}})
    const result = await scan(s.starttlsPort, {ca: [s.cert]})
    assert.equal(result.grade?.grade, 'A')
    assert.deepEqual(result.grade?.caps, [])
    assert.deepEqual(findingIds(result), [])
    assert.deepEqual(result.suites['TLSv1.2']!.map((suite) => suite.name).sort(), ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305'])
  })

  it('TLS 1.0 allowed: TLS 1.0 and 1.1 accepted, capped at B', async (t) => {
    // OpenSSL 3 refuses TLS 1.0/1.1 above security level 0.
    const s = await server(t, {tls: {min_version: 'TLSv1', ciphers: 'ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE+AES:@SECLEVEL=0', dhparam: 'ffdhe3072'}})
    const result = await scan(s.starttlsPort, {ca: [s.cert]})
    assert.deepEqual(status(result), {SSLv2: 'refused', SSLv3: 'refused', TLSv1: 'accepted', 'TLSv1.1': 'accepted', 'TLSv1.2': 'accepted', 'TLSv1.3': 'accepted'})
    assert.equal(result.grade?.protocolScore, 95)
    assert.equal(result.grade?.grade, 'B')
    assert.deepEqual(caps(result), ['B TLS 1.0 is accepted', 'B TLS 1.1 is accepted', 'A- not every suite has authenticated encryption'])
    assert.deepEqual(findingIds(result), ['warning:cipher-non-aead', 'warning:protocol-deprecated', 'warning:protocol-deprecated'])
  })

  it('weak cipher string and an RSA-1024 key: NULL and RSA key exchange accepted, graded B with each cap named', async (t) => {
    const dir = tempDir(t)
    const key = path.join(dir, 'weak.key')
    const crt = path.join(dir, 'weak.crt')
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', key, '-out', crt, '-days', '30', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], {stdio: 'ignore'})
    const s = await server(t, {certfiles: [crt, key], tls: {min_version: 'TLSv1.2', ciphers: 'AES128-SHA:NULL-SHA256:@SECLEVEL=0', dhparam: 'ffdhe3072'}})
    const result = await scan(s.starttlsPort, {ca: [crt]})
    assert.deepEqual(result.suites['TLSv1.2']!.map((suite) => [suite.name, suite.bits, suite.forwardSecrecy, suite.aead]), [['AES128-SHA', 128, false, false], ['NULL-SHA256', 0, false, false]])
    // protocol 100, key exchange 80 (RSA 1024), cipher (100 + 20) / 2 = 60: 30 + 24 + 24 = 78.
    assert.deepEqual({k: result.grade?.keyExchangeScore, c: result.grade?.cipherScore, s: result.grade?.score}, {k: 80, c: 60, s: 78})
    assert.equal(result.grade?.grade, 'B')
    assert.deepEqual(caps(result), [
      'B the certificate key (also used for RSA key exchange) is RSA of 1024 bits, under 2048',
      'A- not every suite has forward secrecy',
      'A- not every suite has authenticated encryption',
    ])
    assert.deepEqual(findingIds(result), ['critical:cipher-null', 'warning:cert-key-weak', 'warning:cipher-no-forward-secrecy', 'warning:cipher-non-aead'])
  })

  it('expired certificate: capped at F, and T because no client trusts it', async (t) => {
    const dir = tempDir(t)
    const cert = await writeCertificate(path.join(dir, 'expired'), {host: 'localhost', notBefore: new Date(Date.now() - 90 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000)})
    const s = await server(t, {certfiles: [cert.crt, cert.key]})
    const result = await scan(s.starttlsPort, {ca: [cert.crt]})
    assert.equal(result.certificate?.trusted, false)
    assert.equal(result.certificate?.trustProblem, 'CERT_HAS_EXPIRED')
    assert.equal(result.grade?.grade, 'T')
    assert.equal(result.grade?.gradeIgnoringTrust, 'F')
    assert.ok(caps(result).includes('F the certificate has expired'), caps(result).join('\n'))
    assert.ok(findingIds(result).includes('critical:cert-expired'))
  })

  it('STARTTLS optional with PLAIN before TLS: critical, beside the grade', async (t) => {
    const s = await server(t, {
      c2s_require_encryption: false,
      allow_unencrypted_plain_auth: true,
      listen: [
        {port: 0, ip: '127.0.0.1', module: 'c2s', starttls: 'optional', tls: false},
        {port: 0, ip: '127.0.0.1', module: 'c2s', starttls: 'required', tls: true},
      ],
    })
    await s.addUser('alice@localhost', 'secret')
    const result = await scan(s.starttlsPort, {ca: [s.cert]})
    assert.equal(result.beforeTls?.starttls.required, false)
    assert.ok(result.beforeTls?.mechanisms.includes('PLAIN'), result.beforeTls?.mechanisms.join(' '))
    assert.deepEqual(findingIds(result), ['critical:plain-before-tls', 'warning:starttls-optional'])
    assert.equal(result.grade?.grade, 'A')
  })

  it('direct TLS (XEP-0368): no pre-TLS stage, same TLS results', async (t) => {
    const s = await server(t)
    const result = await scan(s.tlsPort, {ca: [s.cert], mode: 'direct-tls'})
    assert.equal(result.beforeTls, null)
    assert.equal(result.afterTls?.protocol, 'TLSv1.3')
    assert.equal(result.grade?.grade, 'A')
  })

  it('STARTTLS not offered: critical, and no grade', async (t) => {
    const s = await server(t, {
      c2s_require_encryption: false,
      listen: [{port: 0, ip: '127.0.0.1', module: 'c2s', starttls: 'disabled', tls: false}],
    })
    const result = await scan(s.starttlsPort)
    assert.deepEqual(result.beforeTls?.starttls, {offered: false, required: false})
    assert.ok(findingIds(result).includes('critical:starttls-missing'))
    assert.equal(result.grade, null)
    assert.equal(result.ungraded, 'not graded: the server offers no TLS')
  })
})

/** An XMPP server with real TLS that also answers an SSL 3.0 ClientHello with an SSL 3.0 ServerHello, as old servers did. */
async function sslv3Server(t: {after(fn: () => unknown): void}, cert: string, key: string): Promise<number> {
  const {readFileSync} = await import('node:fs')
  const header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='x' version='1.0'>"
  const backend = tls.createServer({cert: readFileSync(cert), key: readFileSync(key)}, (secure) => {
    secure.on('error', () => {})
    secure.once('data', () => secure.write(`${header}<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>`))
  })
  backend.on('tlsClientError', () => {})
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve))
  t.after(() => backend.close())
  const fake = net.createServer((socket) => {
    socket.on('error', () => {})
    socket.once('data', () => {
      socket.write(`${header}<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`)
      socket.once('data', () => {
        socket.write("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        socket.once('data', (hello: Buffer) => {
          // RFC 6101 §5.6.1.2: a ClientHello whose client_version is 3.0.
          if (hello[0] === 0x16 && hello.readUInt16BE(9) === 0x0300) {
            const body = Buffer.concat([Buffer.from([0x03, 0x00]), Buffer.alloc(32, 7), Buffer.from([0x00, 0x00, 0x2f, 0x00])])
            const handshake = Buffer.concat([Buffer.from([0x02, 0x00, 0x00, body.length]), body])
            socket.end(Buffer.concat([Buffer.from([0x16, 0x03, 0x00, 0x00, handshake.length]), handshake]))
            return
          }

          // Anything else goes to a real TLS server behind this one; nothing may flow away unread meanwhile.
          socket.pause()
          const upstream = net.connect({port: (backend.address() as net.AddressInfo).port, host: '127.0.0.1'}, () => {
            upstream.write(hello)
            socket.pipe(upstream).pipe(socket)
          })
          upstream.on('error', () => socket.destroy())
        })
      })
    })
  })
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
  t.after(() => fake.close())
  return (fake.address() as net.AddressInfo).port
}

describe('audit remote: SSL 3.0, probed by hand', () => {
  it('finds a server that answers SSL 3.0 and caps it at F', async (t) => {
    const {crt, key} = await writeCertificate(path.join(tempDir(t), 'old'), {host: 'localhost'})
    const result = await scan(await sslv3Server(t, crt, key), {ca: [crt]})
    assert.deepEqual(result.protocols.find((entry) => entry.protocol === 'SSLv3'), {protocol: 'SSLv3', status: 'accepted', suite: 'suite 0x002f'})
    assert.equal(result.grade?.grade, 'F', result.ungraded ?? '')
    assert.ok(caps(result).includes('F SSLv3 is accepted'), caps(result).join('\n'))
    assert.equal(result.grade?.protocolScore, 90)
    assert.ok(findingIds(result).includes('critical:protocol-ssl'))
  })
})

describe('audit remote: refusing to grade', () => {
  it('gives no grade when a probe fails midway (a server that starts refusing connections)', async (t) => {
    const {crt: cert, key} = await writeCertificate(path.join(tempDir(t), 'fake'), {host: 'localhost'})
    const {readFileSync} = await import('node:fs')
    const context = tls.createSecureContext({cert: readFileSync(cert), key: readFileSync(key)})
    let connections = 0
    const fake = net.createServer((socket) => {
      connections++
      socket.on('error', () => {})
      const header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='x' version='1.0'>"
      socket.once('data', () => {
        if (connections > 2) {
          socket.end(`${header}<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`)
          return
        }

        socket.write(`${header}<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`)
        socket.once('data', () => {
          socket.write("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
          const secure = new tls.TLSSocket(socket, {isServer: true, secureContext: context})
          secure.on('error', () => {})
          secure.once('data', () => secure.write(`${header}<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`))
        })
      })
    })
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
    t.after(() => fake.close())
    const result = await scan((fake.address() as net.AddressInfo).port)
    assert.equal(result.grade, null)
    assert.match(result.ungraded ?? '', /^not graded: a needed probe failed \(the SSLv2 probe: the server sent stream error policy-violation/)
    assert.ok(result.protocols.some((entry) => entry.status === 'failed'))
  })
})
