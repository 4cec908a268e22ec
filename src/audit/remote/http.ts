/**
 * `xmppctl audit remote --http`: what an XMPP server's HTTPS listener shows a
 * browser, beside its TLS (scan.ts grades that the same way as for XMPP
 * ports). A page that does not exist tells which security headers every
 * answer carries; the WebSocket (RFC 7395) and BOSH (XEP-0206) paths tell
 * whether a page on any web site may open sessions there. Each question is
 * one request on its own connection, bounded by the timeout.
 */
import {randomBytes} from 'node:crypto'
import https from 'node:https'
import type {IncomingHttpHeaders} from 'node:http'

import type {AuditFinding} from '../findings.js'

export interface HttpTarget {
  host: string
  port: number
  /** The name sent in SNI and Host. */
  domain: string
  /** Where the WebSocket and BOSH endpoints are (ejabberd's defaults: /ws and /bosh). */
  webSocketPath: string
  boshPath: string
}

export interface HttpReport {
  /** A path nothing serves: its status and the headers that matter. */
  notFound: {status: number; headers: SecurityHeaders}
  /** The WebSocket path asked to upgrade from a foreign origin: 101 accepted it, 403 refused it; null when it is not served. */
  webSocket: {path: string; status: number; acceptsForeignOrigin: boolean} | null
  /** The BOSH path asked from a foreign origin: the Access-Control-Allow-Origin it answered; null when it is not served. */
  bosh: {path: string; status: number; allowOrigin: string | null} | null
}

export interface SecurityHeaders {
  strictTransportSecurity: string | null
  contentTypeOptions: string | null
  frameOptions: string | null
  contentSecurityPolicy: string | null
  server: string | null
}

/** An origin no operator allows: a page on it stands for any other site. */
const FOREIGN_ORIGIN = 'https://audit.xmppctl.invalid'

interface Answer {
  status: number
  headers: IncomingHttpHeaders
}

function ask(target: HttpTarget, timeoutMs: number, ca: string[] | undefined, options: {method: string; path: string; headers?: Record<string, string>}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = https.request({
      host: target.host,
      port: target.port,
      servername: target.domain,
      method: options.method,
      path: options.path,
      headers: {Host: target.domain, 'User-Agent': 'xmppctl-audit', ...options.headers},
      // Trust is judged by the TLS part of the audit; here the answers matter, whatever the certificate.
      rejectUnauthorized: false,
      ...(ca ? {ca} : {}),
      agent: false,
      timeout: timeoutMs,
    })
    request.on('response', (response) => {
      response.resume()
      resolve({status: response.statusCode ?? 0, headers: response.headers})
      response.destroy()
    })
    // An accepted upgrade never becomes a 'response'.
    request.on('upgrade', (response, socket) => {
      socket.destroy()
      resolve({status: response.statusCode ?? 101, headers: response.headers})
    })
    request.on('timeout', () => request.destroy(new Error(`no answer to ${options.method} ${options.path} within ${timeoutMs / 1000} s`)))
    request.on('error', reject)
    request.end()
  })
}

const header = (headers: IncomingHttpHeaders, name: string): string | null => {
  const value = headers[name]
  return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value
}

export async function probeHttp(target: HttpTarget, timeoutMs: number, ca?: string[]): Promise<HttpReport> {
  const missing = await ask(target, timeoutMs, ca, {method: 'GET', path: `/.well-known/xmppctl-audit-${randomBytes(6).toString('hex')}`})
  const notFound = {
    status: missing.status,
    headers: {
      strictTransportSecurity: header(missing.headers, 'strict-transport-security'),
      contentTypeOptions: header(missing.headers, 'x-content-type-options'),
      frameOptions: header(missing.headers, 'x-frame-options'),
      contentSecurityPolicy: header(missing.headers, 'content-security-policy'),
      server: header(missing.headers, 'server'),
    },
  }

  const upgrade = await ask(target, timeoutMs, ca, {
    method: 'GET',
    path: target.webSocketPath,
    headers: {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      'Sec-WebSocket-Protocol': 'xmpp',
      Origin: FOREIGN_ORIGIN,
    },
  })
  const webSocket = upgrade.status === 404 ? null : {path: target.webSocketPath, status: upgrade.status, acceptsForeignOrigin: upgrade.status === 101}

  // A CORS preflight, as a browser sends before a page's POST of XML (XEP-0206 over XHR).
  const preflight = await ask(target, timeoutMs, ca, {
    method: 'OPTIONS',
    path: target.boshPath,
    headers: {Origin: FOREIGN_ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type'},
  })
  const bosh = preflight.status === 404 ? null : {path: target.boshPath, status: preflight.status, allowOrigin: header(preflight.headers, 'access-control-allow-origin')}
  return {notFound, webSocket, bosh}
}

/** What the answers say, as findings about `subject`. */
export function httpFindings(report: HttpReport, subject: string): AuditFinding[] {
  const findings: AuditFinding[] = []
  const {headers} = report.notFound
  if (headers.contentTypeOptions?.toLowerCase() !== 'nosniff') {
    findings.push({id: 'http-no-nosniff', severity: 'warning', subject, message: 'answers carry no "X-Content-Type-Options: nosniff": a browser may run an uploaded file as a script or page', fix: 'send X-Content-Type-Options: nosniff on every answer (xmppctl does; for another server, its HTTP module or a proxy in front)'})
  }

  const framing = headers.frameOptions !== null || /frame-ancestors/i.test(headers.contentSecurityPolicy ?? '')
  if (!framing) findings.push({id: 'http-framable', severity: 'info', subject, message: 'answers may be framed by any site (no X-Frame-Options, no CSP frame-ancestors)', fix: "send X-Frame-Options: DENY or Content-Security-Policy: frame-ancestors 'none'"})
  if (headers.strictTransportSecurity === null) {
    findings.push({id: 'http-no-hsts', severity: 'info', subject, message: 'no Strict-Transport-Security: a browser that once reaches this host over plain HTTP can be kept there', fix: 'send Strict-Transport-Security from the web server in front, if the whole host is HTTPS-only'})
  }

  if (headers.server !== null && /\d/.test(headers.server)) {
    findings.push({id: 'http-server-version', severity: 'info', subject, message: `the Server header names a version (${headers.server}): it tells an attacker which flaws to try`, fix: 'drop the version from the Server header'})
  }

  if (report.webSocket?.acceptsForeignOrigin) {
    findings.push({id: 'websocket-any-origin', severity: 'warning', subject: `${subject} ${report.webSocket.path}`, message: `a WebSocket from a page on any site (Origin ${FOREIGN_ORIGIN}) is accepted: any web page its users visit can open XMPP sessions here`, fix: 'list the web clients\' origins (xmppctl and ejabberd: websocket_origin; Prosody: cross_domain_websocket)'})
  }

  if (report.bosh?.allowOrigin === '*' || report.bosh?.allowOrigin === FOREIGN_ORIGIN) {
    findings.push({id: 'bosh-any-origin', severity: 'warning', subject: `${subject} ${report.bosh.path}`, message: `BOSH answers pages on any site (Access-Control-Allow-Origin: ${report.bosh.allowOrigin})`, fix: 'list the web clients\' origins (xmppctl and ejabberd: websocket_origin for both; Prosody: cross_domain_bosh)'})
  }

  return findings
}
