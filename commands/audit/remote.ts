import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {stdoutColour} from '../../src/cli/output.js'
import {ExitCode, UsageError} from '../../src/errors.js'
import {AUDIT_FAIL_ON, type AuditFailOn, auditFails} from '../../src/audit/findings.js'
import type {RemoteResult} from '../../src/audit/remote/scan.js'

export interface AuditRemoteResult extends RemoteResult {
  failOn: AuditFailOn
  failed: boolean
}

const yes = (value: boolean) => (value ? 'yes' : 'no')

export default class AuditRemote extends BaseCommand<AuditRemoteResult> {
  static description = `Audit a live XMPP server as a client sees it, and grade its TLS

Connects to HOST[:PORT] (default 5222 with STARTTLS, 5223 with --direct-tls; with --s2s, a server-to-server port, 5269 or 5270, as a peer server sees it; with --http, an HTTPS listener serving WebSocket, BOSH and upload, 5443) and reports: whether STARTTLS is offered and required; the SASL mechanisms before and after TLS (PLAIN before TLS is critical); the channel-binding types announced (XEP-0440) and whether they fit the TLS version (tls-unique on TLS 1.3 is wrong; no tls-exporter on TLS 1.3 is a warning); each protocol version accepted, each probed on its own connection (SSLv2 and SSLv3, which Node's OpenSSL cannot speak, with a hand-written ClientHello; a version that cannot be probed from here is named); every cipher suite accepted, with forward secrecy and AEAD; the certificate chain, expiry, key size, and identity for the domain (DNS-ID, SRVName _xmpp-client, xmppAddr).

Grade as the IM Observatory computed it: score = 0.3·protocol + 0.3·key exchange + 0.4·cipher; A ≥ 80, B ≥ 65, C ≥ 50, D ≥ 35, E ≥ 20, else F; capped at F for SSLv2/SSLv3, an expired certificate, a key under 1024 bits or an MD5/SHA-1 signature; at C without TLS 1.2+; at B with TLS 1.0/1.1, RSA or DHE under 2048 bits; at A- without forward secrecy or AEAD on every suite; T for an untrusted chain or a certificate not naming the domain. Every cap that applies is printed with its reason. No grade is given when a probe needed for it failed (exit 3).

With --http, the TLS is graded the same way (the certificate must name the domain by DNS-ID), and the listener's answers are checked: the headers of a page that does not exist (X-Content-Type-Options: nosniff, framing, Strict-Transport-Security, a version in Server), whether the WebSocket path (--ws-path) accepts an upgrade from a page on another site, and whether the BOSH path (--bosh-path) answers such a page's CORS preflight.

Exits 1 when a finding at or above --fail-on (default warning) was found.`

  static examples = [
    '<%= config.bin %> <%= command.id %> xmpp.example.org',
    '<%= config.bin %> <%= command.id %> 203.0.113.5:5222 --xmpp-domain example.org',
    '<%= config.bin %> <%= command.id %> xmpp.example.org:5223 --direct-tls --xmpp-domain example.org',
    '<%= config.bin %> <%= command.id %> localhost --xmpp-domain example.org --ca data/certs/example.org.crt --json | jq .grade',
    '<%= config.bin %> <%= command.id %> xmpp.example.org --s2s --xmpp-domain example.org',
    '<%= config.bin %> <%= command.id %> xmpp.example.org:5443 --http --ws-path /xmpp-websocket --bosh-path /http-bind',
  ]

  static args = {target: Args.string({required: true, description: 'HOST[:PORT] of the server'})}
  static flags = {
    'xmpp-domain': Flags.string({description: 'the XMPP domain to ask for (default: HOST)', helpValue: 'DOMAIN'}),
    starttls: Flags.boolean({description: 'connect in plain and upgrade with STARTTLS (default)', exclusive: ['direct-tls']}),
    'direct-tls': Flags.boolean({description: 'connect with TLS at once (XEP-0368)', exclusive: ['starttls']}),
    s2s: Flags.boolean({description: 'probe the server-to-server port (jabber:server streams; SRVName _xmpp-server counts for identity)', exclusive: ['http']}),
    http: Flags.boolean({description: 'probe an HTTPS listener (WebSocket, BOSH, upload): its TLS, its headers, and which origins it serves', exclusive: ['s2s', 'starttls']}),
    'ws-path': Flags.string({description: 'with --http: the WebSocket path (default /ws)', helpValue: 'PATH', dependsOn: ['http']}),
    'bosh-path': Flags.string({description: 'with --http: the BOSH path (default /bosh)', helpValue: 'PATH', dependsOn: ['http']}),
    ca: Flags.string({description: 'also trust the CA certificates in this PEM file (repeatable)', multiple: true, multipleNonGreedy: true, helpValue: 'FILE'}),
    timeout: Flags.integer({description: 'seconds to wait for each connection step', default: 10, min: 1, max: 300}),
    'fail-on': Flags.string({description: 'exit 1 when a finding at or above this severity was found', options: [...AUDIT_FAIL_ON], default: 'warning'}),
  }

  async run(): Promise<AuditRemoteResult> {
    const {args, flags: f} = await this.parse(AuditRemote)
    const {parseTarget, runRemoteAudit} = await import('../../src/audit/remote/scan.js')
    const {renderFindings, stdoutPainter: paint, summaryLine} = await import('../../src/cli/audit-render.js')
    const paths = {ws: f['ws-path'] ?? '/ws', bosh: f['bosh-path'] ?? '/bosh'}
    for (const [flag, value] of [['--ws-path', paths.ws], ['--bosh-path', paths.bosh]] as const) {
      if (!value.startsWith('/')) throw new UsageError(`${flag} ${value} is not a path`, `write it from the root, e.g. ${flag} /${value}`)
    }

    const target = parseTarget(args.target, f['direct-tls'] ? 'direct-tls' : 'starttls', f['xmpp-domain'], f.http ? 'http' : f.s2s ? 's2s' : 'c2s')
    const result = await runRemoteAudit({target, timeoutMs: f.timeout * 1000, caFiles: f.ca, webSocketPath: paths.ws, boshPath: paths.bosh})
    const failOn = f['fail-on'] as AuditFailOn

    this.log(stdoutColour.bold(`${target.domain} at ${target.host}:${target.port} (${target.service === 'c2s' ? '' : `${target.service}, `}${target.mode === 'starttls' ? 'STARTTLS' : 'direct TLS'})`))
    if (result.beforeTls) {
      const {starttls, mechanisms} = result.beforeTls
      this.log(`before TLS:   STARTTLS ${starttls.offered ? (starttls.required ? 'offered, required' : 'offered, not required') : 'not offered'}; mechanisms: ${mechanisms.join(' ') || 'none'}`)
    }

    if (result.afterTls) {
      const {protocol, suite, mechanisms, channelBindings} = result.afterTls
      if (target.service === 'http') this.log(`TLS:          ${protocol} ${suite}`)
      else {
        this.log(`after TLS:    ${protocol} ${suite}; mechanisms: ${mechanisms.join(' ') || 'none'}`)
        this.log(`XEP-0440:     ${channelBindings === null ? 'not announced' : channelBindings.join(' ') || 'empty'}`)
      }
    }

    for (const report of result.channelBinding) this.log(`  on ${report.protocol}: -PLUS ${report.plusMechanisms.join(' ') || 'none'}; channel binding ${report.types === null ? 'not announced' : report.types.join(' ') || 'none'}`)
    this.log('protocols:')
    for (const status of result.protocols) this.log(`  ${status.protocol.padEnd(8)} ${status.status}${status.status === 'accepted' ? ` (${status.suite})` : ` — ${status.reason}`}`)
    this.log('suites:')
    for (const [protocol, list] of Object.entries(result.suites)) {
      for (const suite of list ?? []) {
        const kx = suite.ephemeral ? `, ${suite.ephemeral.type} ${suite.ephemeral.name ?? ''}${suite.ephemeral.name ? ' ' : ''}${suite.ephemeral.bits} bits` : ''
        this.log(`  ${protocol.padEnd(8)} ${suite.name} (${suite.bits} bits${kx}${suite.forwardSecrecy ? '' : ', no forward secrecy'}${suite.aead ? '' : ', not AEAD'})`)
      }
    }

    const cert = result.certificate
    if (cert) {
      this.log(`certificate:  ${cert.subject}; ${cert.names.join(', ') || 'no names'}`)
      this.log(`              issuer ${cert.issuer}; ${cert.key}; ${cert.signatureAlgorithm}; until ${cert.notAfter} (${cert.daysLeft} days); chain of ${cert.chain.length}; trusted: ${cert.trusted ? 'yes' : `no (${cert.trustProblem})`}`)
      if (target.service === 'http') this.log(`identity:     ${cert.identity.domain}: DNS ${yes(cert.identity.dns)}${cert.identity.commonName ? ', CN yes' : ''}`)
      else this.log(`identity:     ${cert.identity.domain}: DNS ${yes(cert.identity.dns)}, SRVName ${target.service === 's2s' ? `_xmpp-server ${yes(cert.identity.srvServer)}` : `_xmpp-client ${yes(cert.identity.srvClient)}`}, xmppAddr ${yes(cert.identity.xmppAddr)}${cert.identity.commonName ? ', CN yes' : ''}`)
    }

    if (result.http) {
      const {notFound, webSocket, bosh} = result.http
      const shown = (value: string | null) => value ?? 'absent'
      this.log(`http:         a missing page: ${notFound.status}; X-Content-Type-Options ${shown(notFound.headers.contentTypeOptions)}; X-Frame-Options ${shown(notFound.headers.frameOptions)}; HSTS ${shown(notFound.headers.strictTransportSecurity)}; Server ${shown(notFound.headers.server)}`)
      this.log(`              WebSocket ${webSocket ? `${webSocket.path}: ${webSocket.status}${webSocket.acceptsForeignOrigin ? ', accepts any origin' : ', refuses a foreign origin'}` : `${paths.ws}: not served`}`)
      this.log(`              BOSH ${bosh ? `${bosh.path}: ${bosh.status}, Access-Control-Allow-Origin ${shown(bosh.allowOrigin)} for a foreign origin` : `${paths.bosh}: not served`}`)
    }

    this.log('')
    if (result.grade) {
      const g = result.grade
      this.log(stdoutColour.bold(`grade: ${g.grade}${g.grade === 'T' ? ` (${g.gradeIgnoringTrust} if trust is ignored)` : ''}`) + ` — score ${g.score} (protocol ${g.protocolScore}, key exchange ${g.keyExchangeScore}, cipher ${g.cipherScore})`)
      for (const cap of g.caps) this.log(`  cap ${cap.cap.padEnd(2)}: ${cap.reason}${cap.cap === 'T' ? '' : cap.applied ? '' : ' (the score was already lower)'}`)
    } else {
      this.log(stdoutColour.bold(`grade: none — ${result.ungraded}`))
    }

    for (const note of result.notes) this.log(stdoutColour.dim(`note: ${note}`))
    this.log('')
    for (const line of renderFindings(result.findings, paint)) this.log(line)
    this.log(summaryLine(result.findings))
    const failed = auditFails(result.findings, failOn)
    if (result.ungraded?.includes('a needed probe failed')) this.setExitStatus(ExitCode.unavailable)
    else if (failed) this.setExitStatus(ExitCode.false)
    return {...result, failOn, failed}
  }
}
