/**
 * `xmppctl audit remote`: what a live server shows a client. Each question
 * gets its own connection: the features before TLS, then one TLS session
 * for the features after TLS and the certificate, then one handshake per
 * protocol version, then the suites of each accepted version one by one.
 * A probe that could not be made (network, XMPP trouble) is reported, and
 * then no grade is given: a grade must not rest on a guess.
 */
import {X509Certificate} from 'node:crypto'
import {readFileSync} from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'

import {UsageError, UnavailableError, osErrorText} from '../../errors.js'
import type {CertificateFacts} from '../../tls/check.js'
import {parseCertificateDer} from '../../tls/inspect.js'
import {describeKey} from '../../tls/keys.js'
import {SRV_CLIENT, asciiDomain, dnsNameMatches, describeNames} from '../../tls/names.js'
import {cipherFindings} from '../checks/tls-policy.js'
import {type AuditFinding, sortFindings} from '../findings.js'
import {type Connector, type EphemeralKey, type HandshakeOutcome, NODE_PROTOCOLS, type Protocol, PROTOCOLS, enumerateSuites, handshake} from '../handshake.js'
import type {SuiteInfo} from '../suites.js'
import {probeLegacy} from '../legacy-ssl.js'
import {type HttpReport, httpFindings, probeHttp} from './http.js'
import {type GradeInput, type GradeResult, grade} from './grade.js'
import {type Features, ProbeError, ProbeStream, connectTcp} from './stream.js'

export interface RemoteTarget {
  host: string
  port: number
  domain: string
  mode: 'starttls' | 'direct-tls'
  /** What the port serves: clients (jabber:client), other servers (jabber:server, federation), or HTTPS (WebSocket, BOSH, upload). */
  service: 'c2s' | 's2s' | 'http'
}

/** `HOST`, `HOST:PORT`, `[V6]:PORT`; the default port is 5222 for STARTTLS, 5223 for direct TLS (XEP-0368); 5269 and 5270 for s2s; 5443 for HTTPS (ejabberd's). */
export function parseTarget(value: string, mode: RemoteTarget['mode'], domain: string | undefined, service: RemoteTarget['service'] = 'c2s'): RemoteTarget {
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(value) ?? /^([^:]+)(?::(\d+))?$/.exec(value) ?? (net.isIPv6(value) ? [value, value, undefined] : null)
  if (!match) throw new UsageError(`cannot read "${value}" as HOST[:PORT]`, 'write e.g. xmpp.example.org:5222 or [2001:db8::1]:5222')
  const host = match[1]
  const port = match[2] === undefined ? (service === 'http' ? 5443 : (service === 's2s' ? 5269 : 5222) + (mode === 'starttls' ? 0 : 1)) : Number(match[2])
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new UsageError(`port ${match[2]} is out of range`, 'give a port from 1 to 65535')
  const xmppDomain = domain ?? (net.isIP(host) ? undefined : host)
  if (!xmppDomain) throw new UsageError(`${host} is an address, not a domain`, 'name the XMPP domain to ask for with --xmpp-domain')
  const ascii = asciiDomain(xmppDomain)
  if (!ascii) throw new UsageError(`"${xmppDomain}" is not a valid domain`, 'give the XMPP domain, e.g. --xmpp-domain example.org')
  // HTTPS has no STARTTLS.
  return {host, port, domain: ascii, mode: service === 'http' ? 'direct-tls' : mode, service}
}

export type ProtocolStatus =
  | {protocol: Protocol; status: 'accepted'; suite: string}
  | {protocol: Protocol; status: 'refused'; reason: string}
  | {protocol: Protocol; status: 'not-probed'; reason: string}
  | {protocol: Protocol; status: 'failed'; reason: string}

export interface ChannelBindingReport {
  protocol: string
  /** `-PLUS` mechanisms offered on that connection. */
  plusMechanisms: string[]
  /** XEP-0440 types announced; null when not announced. */
  types: string[] | null
}

export interface CertificateReport extends CertificateFacts {
  keyBits: number | null
  chain: Array<{subject: string; signatureAlgorithm: string}>
  trusted: boolean
  trustProblem: string | null
  /** srvClient: `_xmpp-client.DOMAIN`; srvServer: `_xmpp-server.DOMAIN`, which counts for an s2s port (XEP-0178 §3). */
  identity: {domain: string; dns: boolean; srvClient: boolean; srvServer: boolean; xmppAddr: boolean; commonName: boolean; matches: boolean}
}

export interface RemoteResult {
  target: RemoteTarget
  /** Features on the plain connection; null with direct TLS. */
  beforeTls: {starttls: Features['starttls']; mechanisms: string[]} | null
  afterTls: {protocol: string; suite: string; mechanisms: string[]; channelBindings: string[] | null} | null
  channelBinding: ChannelBindingReport[]
  protocols: ProtocolStatus[]
  suites: Partial<Record<Protocol, Array<{name: string; standardName: string; bits: number; forwardSecrecy: boolean; aead: boolean; keyExchange: string; ephemeral: EphemeralKey | null}>>>
  certificate: CertificateReport | null
  grade: GradeResult | null
  /** Why there is no grade. */
  ungraded: string | null
  /** Facts the grade rests on that could not be checked from here. */
  notes: string[]
  /** With an http target: the answers of its HTTP paths (http.ts); null otherwise, or when they could not be asked. */
  http: HttpReport | null
  findings: AuditFinding[]
}

export interface RemoteOptions {
  target: RemoteTarget
  timeoutMs?: number
  /** Extra trust anchors (PEM files), e.g. a private CA. */
  caFiles?: string[]
  now?: Date
  /** With an http target: where its WebSocket and BOSH endpoints are (default /ws and /bosh). */
  webSocketPath?: string
  boshPath?: string
}

const ALL_SUITES = 'ALL:COMPLEMENTOFALL:@SECLEVEL=0'

/** The socket the ClientHello goes on: past `<proceed/>` for STARTTLS, or straight after connecting. */
function connector(target: RemoteTarget, timeoutMs: number): Connector {
  return async () => {
    const socket = await connectTcp(target.host, target.port, timeoutMs)
    if (target.mode === 'direct-tls') return socket
    const stream = new ProbeStream(socket, target.domain, timeoutMs, target.service === 's2s' ? 's2s' : 'c2s')
    try {
      const features = await stream.open()
      if (!features.starttls.offered) throw new ProbeError('the server does not offer STARTTLS')
      return await stream.startTls()
    } catch (error) {
      stream.close()
      throw error
    }
  }
}

function certificateChain(socket: tls.TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = []
  let entry = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined
  const seen = new Set<string>()
  while (entry?.raw && !seen.has(entry.fingerprint256)) {
    seen.add(entry.fingerprint256)
    chain.push(new X509Certificate(entry.raw))
    entry = entry.issuerCertificate
  }

  return chain
}

function certificateReport(chain: X509Certificate[], socket: tls.TLSSocket, domain: string, now: Date, service: RemoteTarget['service'] = 'c2s'): CertificateReport {
  const [leaf] = chain
  const parsed = parseCertificateDer(leaf.raw)
  const key = describeKey(leaf.publicKey)
  const names = parsed.names
  const dns = names.dns.some((name) => dnsNameMatches(name, domain))
  const srvClient = names.srv.some((name) => name === `${SRV_CLIENT}.${domain}`)
  const srvServer = names.srv.some((name) => name === `_xmpp-server.${domain}`)
  const xmppAddr = names.xmppAddr.some((name) => asciiDomain(name) === domain)
  const hasSan = names.dns.length + names.srv.length + names.xmppAddr.length + names.uri.length > 0
  const commonName = !hasSan && names.cn.some((name) => dnsNameMatches(name, domain))
  const authorizationError = socket.authorizationError ? String(socket.authorizationError) : null
  return {
    subject: leaf.subject.replace(/\n/g, ', '),
    issuer: leaf.issuer.replace(/\n/g, ', '),
    names: describeNames(names),
    notBefore: parsed.notBefore.toISOString(),
    notAfter: parsed.notAfter.toISOString(),
    daysLeft: Math.floor((parsed.notAfter.getTime() - now.getTime()) / 86_400_000),
    key: key.label,
    keyBits: key.bits ?? null,
    signatureAlgorithm: parsed.signatureAlgorithm.name,
    chain: chain.map((entry) => ({subject: entry.subject.replace(/\n/g, ', '), signatureAlgorithm: parseCertificateDer(entry.raw).signatureAlgorithm.name})),
    trusted: socket.authorized,
    trustProblem: socket.authorized ? null : authorizationError,
    identity: {domain, dns, srvClient, srvServer, xmppAddr, commonName, matches: service === 'http' ? dns || commonName : dns || (service === 's2s' ? srvServer : srvClient) || xmppAddr || commonName},
  }
}

/** MD5 or SHA-1 on any certificate of the chain but a self-signed root (whose signature no one checks). */
function weakSignature(chain: X509Certificate[]): string | null {
  for (const [index, certificate] of chain.entries()) {
    const selfSigned = certificate.subject === certificate.issuer && certificate.verify(certificate.publicKey)
    if (index > 0 && selfSigned) continue
    const algorithm = parseCertificateDer(certificate.raw).signatureAlgorithm
    if (algorithm.weak) return algorithm.name
  }

  return null
}

const PLUS = /-PLUS$/

/** Channel-binding findings for one TLS connection (RFC 9266, RFC 5929, XEP-0440). */
export function channelBindingFindings(report: ChannelBindingReport, subject: string): AuditFinding[] {
  const findings: AuditFinding[] = []
  const types = report.types ?? []
  const version = report.protocol
  if (version === 'TLSv1.3' && types.includes('tls-unique')) {
    findings.push({id: 'cb-tls-unique-on-tls13', severity: 'warning', subject, message: 'tls-unique is announced on a TLS 1.3 connection, where it is undefined (RFC 9266 §1): a client using it fails or binds to nothing', fix: 'announce tls-exporter on TLS 1.3 and tls-unique only on TLS 1.2'})
  }

  if (version === 'TLSv1.3' && !types.includes('tls-exporter')) {
    findings.push({
      id: 'cb-no-tls-exporter',
      severity: 'warning',
      subject,
      message: report.plusMechanisms.length === 0 && report.types === null ? 'no channel binding on TLS 1.3: no -PLUS mechanism and no tls-exporter, so a man in the middle with a trusted certificate is not detected' : 'tls-exporter (RFC 9266) is not announced on TLS 1.3',
      fix: 'use a server version that implements tls-exporter (RFC 9266) and announces it (XEP-0440)',
    })
  }

  if (report.plusMechanisms.length > 0 && report.types === null) {
    findings.push({id: 'cb-types-not-announced', severity: 'info', subject, message: `-PLUS mechanisms (${report.plusMechanisms.join(', ')}) are offered but the channel-binding types are not announced (XEP-0440): clients must guess`, fix: 'enable XEP-0440 on the server'})
  }

  if (report.plusMechanisms.length > 0 && report.types !== null) {
    const fitting = types.filter((type) => type === 'tls-server-end-point' || (type === 'tls-exporter' && version === 'TLSv1.3') || (type === 'tls-unique' && version === 'TLSv1.2'))
    if (fitting.length === 0) findings.push({id: 'cb-no-usable-type', severity: 'warning', subject, message: `-PLUS is offered on ${version} but no announced type fits it (${types.join(', ') || 'none'})`, fix: 'offer -PLUS only when a usable channel-binding type exists'})
  }

  return findings
}

export async function runRemoteAudit(options: RemoteOptions): Promise<RemoteResult> {
  const {target} = options
  const timeoutMs = options.timeoutMs ?? 10_000
  const now = options.now ?? new Date()
  const subject = `${target.domain} (${target.host}:${target.port})`
  const findings: AuditFinding[] = []
  const notes: string[] = []
  const failures: string[] = []
  let ca: string[] | undefined
  if (options.caFiles && options.caFiles.length > 0) {
    ca = [...tls.rootCertificates]
    for (const file of options.caFiles) {
      try {
        ca.push(readFileSync(file, 'utf8'))
      } catch (error) {
        throw new UsageError(`cannot read --ca ${file}: ${osErrorText(error)}`, 'give a PEM file of trusted CA certificates')
      }
    }
  }

  const connect = connector(target, timeoutMs)
  const alpn = target.mode === 'direct-tls' ? [{c2s: 'xmpp-client', s2s: 'xmpp-server', http: 'http/1.1'}[target.service]] : undefined
  const base = {servername: target.domain, timeoutMs, ...(ca ? {ca} : {}), ...(alpn ? {alpn} : {})}

  // 1. Before TLS.
  let beforeTls: RemoteResult['beforeTls'] = null
  if (target.mode === 'starttls') {
    const socket = await connectTcp(target.host, target.port, timeoutMs).catch((error: Error) => {
      throw new UnavailableError(`${error.message}`, 'check the host and port, and that the server is running')
    })
    const stream = new ProbeStream(socket, target.domain, timeoutMs, target.service === 's2s' ? 's2s' : 'c2s')
    try {
      const features = await stream.open()
      beforeTls = {starttls: features.starttls, mechanisms: features.mechanisms}
    } catch (error) {
      throw new UnavailableError(`${target.host}:${target.port} does not speak XMPP as expected: ${(error as Error).message}`, 'check the port (5222 for STARTTLS; use --direct-tls for 5223) and --xmpp-domain')
    } finally {
      stream.close()
    }

    if (!beforeTls.starttls.offered) {
      findings.push({id: 'starttls-missing', severity: 'critical', subject, message: 'STARTTLS is not offered: everything, passwords included, crosses the network in clear', fix: 'enable TLS on the server (a certificate for the domain, starttls: required)'})
    } else if (!beforeTls.starttls.required) {
      findings.push({id: 'starttls-optional', severity: 'warning', subject, message: `STARTTLS is offered but not required${beforeTls.mechanisms.length > 0 ? `, and login is offered before TLS (${beforeTls.mechanisms.join(', ')})` : ''}: a man in the middle can strip it`, fix: 'require encryption (xmppctl: c2s_require_encryption: true; Prosody: c2s_require_encryption = true)'})
    }

    if (beforeTls.mechanisms.includes('PLAIN')) {
      findings.push({id: 'plain-before-tls', severity: 'critical', subject, message: 'PLAIN is offered before TLS: passwords can be sent in clear', fix: 'offer PLAIN only over TLS (xmppctl: allow_unencrypted_plain_auth: false)'})
    }
  }

  const channelBinding: ChannelBindingReport[] = []
  const readAfterTls = async (outcome: Extract<HandshakeOutcome, {kind: 'accepted'}>): Promise<Features> => {
    if (target.service === 'http') {
      outcome.socket!.destroy()
      return {starttls: {offered: false, required: false}, mechanisms: [], channelBindings: null}
    }

    const stream = new ProbeStream(outcome.socket!, target.domain, timeoutMs, target.service === 's2s' ? 's2s' : 'c2s')
    try {
      const features = await stream.open()
      if (!channelBinding.some((report) => report.protocol === outcome.negotiated.protocol)) channelBinding.push({protocol: outcome.negotiated.protocol, plusMechanisms: features.mechanisms.filter((mechanism) => PLUS.test(mechanism)), types: features.channelBindings})
      return features
    } finally {
      stream.close()
    }
  }

  // 2. One TLS session as a client would make it: features after TLS, the certificate.
  let afterTls: RemoteResult['afterTls'] = null
  let certificate: CertificateReport | null = null
  let chain: X509Certificate[] = []
  const canTls = target.mode === 'direct-tls' || Boolean(beforeTls?.starttls.offered)
  if (canTls) {
    const main = await handshake(connect, {...base, minVersion: 'TLSv1', maxVersion: 'TLSv1.3', ciphers: ALL_SUITES, keepOpen: true})
    if (main.kind === 'accepted') {
      chain = certificateChain(main.socket!)
      if (chain.length > 0) certificate = certificateReport(chain, main.socket!, target.domain, now, target.service)
      try {
        const features = await readAfterTls(main)
        afterTls = {protocol: main.negotiated.protocol, suite: main.negotiated.suite.name, mechanisms: features.mechanisms, channelBindings: features.channelBindings}
      } catch (error) {
        failures.push(`the stream after TLS: ${(error as Error).message}`)
      }
    } else {
      failures.push(`the TLS handshake: ${main.reason}`)
      if (main.kind === 'refused') findings.push({id: 'tls-handshake-failed', severity: 'critical', subject, message: `no TLS handshake succeeds: ${main.reason}`, fix: 'check the server\'s certificate and TLS settings'})
    }
  }

  // Between servers, SASL is EXTERNAL for a peer with a certificate (or none, for dialback), and nothing binds to the channel.
  if (afterTls && afterTls.mechanisms.length === 0 && target.service === 'c2s') {
    findings.push({id: 'no-mechanisms', severity: 'warning', subject, message: 'no SASL mechanism is offered after TLS: no one can log in', fix: 'check the server\'s authentication backends'})
  }

  // 3. Each protocol version on its own.
  const protocols: ProtocolStatus[] = []
  for (const protocol of PROTOCOLS) {
    if (!canTls) {
      protocols.push({protocol, status: 'not-probed', reason: 'the server does not offer STARTTLS'})
      continue
    }

    if (protocol === 'SSLv2' || protocol === 'SSLv3') {
      // Node's OpenSSL cannot speak these; a hand-written ClientHello can ask (../legacy-ssl.ts).
      const outcome = await probeLegacy(connect, protocol, timeoutMs)
      if (outcome.kind === 'accepted') protocols.push({protocol, status: 'accepted', suite: outcome.detail})
      else if (outcome.kind === 'refused') protocols.push({protocol, status: 'refused', reason: outcome.reason})
      else {
        protocols.push({protocol, status: 'failed', reason: outcome.reason})
        failures.push(`the ${protocol} probe: ${outcome.reason}`)
      }

      continue
    }

    const version = protocol as tls.SecureVersion
    const outcome = await handshake(connect, {...base, minVersion: version, maxVersion: version, ciphers: ALL_SUITES, keepOpen: protocol === 'TLSv1.2' || protocol === 'TLSv1.3'})
    if (outcome.kind === 'accepted') {
      protocols.push({protocol, status: 'accepted', suite: outcome.negotiated.suite.name})
      if (outcome.socket) {
        try {
          await readAfterTls(outcome)
        } catch (error) {
          failures.push(`the stream after a ${protocol} handshake: ${(error as Error).message}`)
        }
      }
    } else if (outcome.kind === 'refused') protocols.push({protocol, status: 'refused', reason: outcome.reason})
    else if (outcome.kind === 'unprobeable') protocols.push({protocol, status: 'not-probed', reason: `this machine's OpenSSL cannot offer it: ${outcome.reason}`})
    else {
      protocols.push({protocol, status: 'failed', reason: outcome.reason})
      failures.push(`the ${protocol} probe: ${outcome.reason}`)
    }
  }

  // 4. The suites of each accepted version.
  const suites: RemoteResult['suites'] = {}
  const acceptedSuites: Array<{suite: SuiteInfo; ephemeral: EphemeralKey | null}> = []
  for (const status of protocols) {
    if (status.status !== 'accepted' || !NODE_PROTOCOLS.includes(status.protocol)) continue
    const enumeration = await enumerateSuites(connect, status.protocol as 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3', base)
    if (enumeration.failure) failures.push(`the ${status.protocol} suite probes: ${enumeration.failure}`)
    suites[status.protocol] = enumeration.accepted.map(({suite, ephemeral}) => ({name: suite.name, standardName: suite.standardName, bits: suite.bits, forwardSecrecy: suite.forwardSecrecy, aead: suite.aead, keyExchange: suite.keyExchange, ephemeral}))
    acceptedSuites.push(...enumeration.accepted)
  }

  const accepted = protocols.filter((status) => status.status === 'accepted').map((status) => status.protocol)
  const notProbed = protocols.filter((status) => status.status === 'not-probed').map((status) => status.protocol)
  if (notProbed.length > 0 && canTls) notes.push(`not probed: ${notProbed.join(', ')} (this machine's OpenSSL cannot offer ${notProbed.length === 1 ? 'it' : 'them'}); the grade assumes the server refuses ${notProbed.length === 1 ? 'it' : 'them'}`)
  const legacyAccepted = protocols.filter((entry) => (entry.protocol === 'SSLv2' || entry.protocol === 'SSLv3') && entry.status === 'accepted').map((entry) => entry.protocol)
  if (legacyAccepted.length > 0) notes.push(`${legacyAccepted.join(' and ')} ${legacyAccepted.length === 1 ? 'was' : 'were'} detected by a hand-written ClientHello: ${legacyAccepted.length === 1 ? 'its' : 'their'} suites are not listed`)

  // 5. Findings on protocols, suites, certificate, channel binding.
  if (accepted.includes('SSLv3') || accepted.includes('SSLv2')) findings.push({id: 'protocol-ssl', severity: 'critical', subject, message: 'SSL is accepted (POODLE, DROWN)', fix: 'allow TLS 1.2 and 1.3 only'})
  for (const old of ['TLSv1', 'TLSv1.1'] as const) {
    if (accepted.includes(old)) findings.push({id: 'protocol-deprecated', severity: 'warning', subject, message: `${old === 'TLSv1' ? 'TLS 1.0' : 'TLS 1.1'} is accepted; it is deprecated (RFC 8996)`, fix: 'set the lowest TLS version to 1.2 (xmppctl: tls.min_version: TLSv1.2)'})
  }

  if (accepted.length > 0 && !accepted.includes('TLSv1.2') && !accepted.includes('TLSv1.3')) findings.push({id: 'protocol-no-modern', severity: 'critical', subject, message: 'neither TLS 1.2 nor TLS 1.3 is accepted', fix: 'enable TLS 1.2 and 1.3'})
  if (accepted.length > 0 && !accepted.includes('TLSv1.3')) findings.push({id: 'protocol-no-tls13', severity: 'info', subject, message: 'TLS 1.3 is not accepted', fix: 'enable TLS 1.3'})
  const legacy = acceptedSuites.filter(({suite}) => suite.keyExchange !== 'TLS13').map(({suite}) => suite)
  const uniqueLegacy = [...new Map(legacy.map((suite) => [suite.name, suite])).values()]
  for (const finding of cipherFindings(uniqueLegacy, subject)) findings.push({...finding, message: finding.message.replace('the cipher string admits', 'the server accepts'), fix: 'accept only forward-secret AEAD suites (xmppctl: tls.ciphers: "ECDHE+AESGCM:ECDHE+CHACHA20")'})
  const weakDh = acceptedSuites.filter(({ephemeral}) => ephemeral?.type === 'DH' && ephemeral.bits < 2048)
  if (weakDh.length > 0) findings.push({id: 'dh-weak', severity: 'warning', subject, message: `DHE uses ${weakDh[0].ephemeral!.bits}-bit groups (Logjam)`, fix: 'use RFC 7919 groups of 2048 bits or more'})

  const signature = weakSignature(chain)
  if (certificate) {
    if (now > new Date(certificate.notAfter)) findings.push({id: 'cert-expired', severity: 'critical', subject, message: `the certificate expired on ${certificate.notAfter}`, fix: 'renew the certificate'})
    else if (certificate.daysLeft < 7) findings.push({id: 'cert-expires-soon', severity: 'warning', subject, message: `the certificate expires in ${certificate.daysLeft} days (${certificate.notAfter})`, fix: 'renew the certificate'})
    if (now < new Date(certificate.notBefore)) findings.push({id: 'cert-not-yet-valid', severity: 'critical', subject, message: `the certificate is not valid before ${certificate.notBefore}`, fix: 'check the clocks, or use a current certificate'})
    if (certificate.keyBits !== null && /^(rsa|dsa)/.test(certificate.key) && certificate.keyBits < 2048) findings.push({id: 'cert-key-weak', severity: certificate.keyBits < 1024 ? 'critical' : 'warning', subject, message: `the certificate key is ${certificate.key}`, fix: 'use RSA of 2048 bits or more, or ECDSA P-256'})
    if (signature) findings.push({id: 'cert-signature-weak', severity: 'critical', subject, message: `the certificate chain is signed with ${signature}`, fix: 'get it reissued with a SHA-256 signature'})
    if (!certificate.identity.matches) findings.push({id: 'cert-wrong-identity', severity: 'critical', subject, message: `the certificate does not name ${target.domain} (it names ${certificate.names.join(', ') || 'nothing'}): clients refuse it`, fix: `get a certificate with DNS:${target.domain} (and SRVName ${SRV_CLIENT}.${target.domain}, xmppAddr ${target.domain})`})
    if (!certificate.trusted) findings.push({id: 'cert-untrusted', severity: 'warning', subject, message: `the certificate chain is not trusted: ${certificate.trustProblem ?? 'unknown reason'}`, fix: 'serve a certificate from a public CA with its full chain (certbot: fullchain.pem); or pass --ca for a private CA'})
  }

  for (const report of channelBinding) {
    if (target.service === 's2s') break
    for (const finding of channelBindingFindings(report, subject)) if (!findings.some((existing) => existing.id === finding.id)) findings.push(finding)
  }

  // 6. The grade, or why there is none.
  let graded: GradeResult | null = null
  let ungraded: string | null = null
  if (!canTls) ungraded = 'not graded: the server offers no TLS'
  else if (failures.length > 0) ungraded = `not graded: a needed probe failed (${failures.join('; ')})`
  else if (!certificate) ungraded = 'not graded: no certificate was received'
  else if (accepted.length === 0) ungraded = 'not graded: no protocol version was accepted'
  else if (acceptedSuites.length === 0) ungraded = 'not graded: no cipher suite could be enumerated'
  else {
    const keys: GradeInput['keys'] = []
    const certKey = certificate.key.startsWith('rsa') ? 'RSA' : certificate.key.startsWith('dsa') ? 'DSA' : 'EC'
    const rsaKx = acceptedSuites.some(({suite}) => !suite.forwardSecrecy)
    // The certificate key counts for key exchange when it is used for it (RSA key transport) or signs the ephemeral keys.
    keys.push({type: certKey, bits: certificate.keyBits ?? 0, what: `the certificate key${rsaKx ? ' (also used for RSA key exchange)' : ''}`})
    for (const bits of new Set(acceptedSuites.filter(({ephemeral}) => ephemeral?.type === 'DH').map(({ephemeral}) => ephemeral!.bits))) keys.push({type: 'DH', bits, what: 'a DHE group'})
    graded = grade({
      protocols: accepted,
      keys,
      suites: acceptedSuites.map(({suite}) => suite),
      certificate: {expired: now > new Date(certificate.notAfter), weakSignature: signature, trusted: certificate.trusted, trustProblem: certificate.trustProblem ?? undefined, identityMatches: certificate.identity.matches, domain: target.domain},
    })
  }

  // 7. What the HTTP paths answer (they do not change the TLS grade).
  let http: HttpReport | null = null
  if (target.service === 'http' && canTls) {
    try {
      http = await probeHttp({host: target.host, port: target.port, domain: target.domain, webSocketPath: options.webSocketPath ?? '/ws', boshPath: options.boshPath ?? '/bosh'}, timeoutMs, ca)
      findings.push(...httpFindings(http, subject))
    } catch (error) {
      notes.push(`the HTTP paths could not be asked: ${(error as Error).message}`)
    }
  }

  return {target, beforeTls, afterTls, channelBinding, protocols, suites, certificate, grade: graded, ungraded, notes, http, findings: sortFindings(findings)}
}
