/**
 * TLS handshakes made to learn what a server accepts: one protocol version
 * or one set of suites at a time, each on its own connection. A connector
 * supplies the socket the ClientHello goes on (a bare TCP connection, or
 * one past an XMPP `<proceed/>`), so the same probes serve the local cipher
 * string check and `audit remote`.
 */
import type net from 'node:net'
import tls from 'node:tls'

import {type SuiteInfo, classifySuite} from './suites.js'

export const PROTOCOLS = ['SSLv2', 'SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const
export type Protocol = (typeof PROTOCOLS)[number]
/** The versions Node's TLS can be asked for (`minVersion`/`maxVersion`). */
export const NODE_PROTOCOLS: readonly Protocol[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']

/** The socket to start TLS on, or an error saying why there is none (network, XMPP). */
export type Connector = () => Promise<net.Socket>

export interface EphemeralKey {
  type: 'ECDH' | 'DH'
  name?: string
  bits: number
}

export interface Negotiated {
  protocol: string
  suite: SuiteInfo
  ephemeral: EphemeralKey | null
}

export type HandshakeOutcome =
  /** The server completed a handshake; `socket` is open only when `keepOpen` was asked for. */
  | {kind: 'accepted'; negotiated: Negotiated; socket?: tls.TLSSocket}
  /** The server refused (alert, or closed the connection during the handshake). */
  | {kind: 'refused'; reason: string}
  /** This machine could not make the offer (OpenSSL here lacks the version or suites). */
  | {kind: 'unprobeable'; reason: string}
  /** No answer to judge: connection refused, timeout, XMPP trouble before TLS. */
  | {kind: 'failed'; reason: string}

export interface HandshakeOptions {
  servername?: string
  minVersion: tls.SecureVersion
  maxVersion: tls.SecureVersion
  /** OpenSSL cipher list for TLS ≤ 1.2, and TLS 1.3 suite names (`TLS_…`). */
  ciphers: string
  timeoutMs: number
  ca?: string[]
  keepOpen?: boolean
  alpn?: string[]
}

/** Errors OpenSSL raises on our side before anything reaches the server. */
const LOCAL = /NO_CIPHERS_AVAILABLE|NO_PROTOCOLS_AVAILABLE|ERR_TLS_INVALID_PROTOCOL_VERSION|NO_CIPHER_MATCH|no cipher match|no ciphers available|no protocols available|NO_SUITABLE/i

/** "…:SSL routines:ssl3_read_bytes:tlsv1 alert protocol version:../ssl/record/rec_layer_s3.c:1601:SSL alert number 70" → "tlsv1 alert protocol version (alert 70)". */
export function opensslReason(message: string): string {
  const line = message.split('\n')[0]
  const text = /SSL routines:[^:]*:([^:]+)/.exec(line)?.[1] ?? line
  const alert = /SSL alert number (\d+)/.exec(line)?.[1]
  return alert ? `${text} (alert ${alert})` : text
}

export function negotiatedOf(socket: tls.TLSSocket): Negotiated {
  const cipher = socket.getCipher()
  const info = socket.getEphemeralKeyInfo() as {type?: string; name?: string; size?: number} | null
  const ephemeral: EphemeralKey | null = info && (info.type === 'ECDH' || info.type === 'DH') && info.size ? {type: info.type, ...(info.name ? {name: info.name} : {}), bits: info.size} : null
  return {protocol: socket.getProtocol() ?? 'unknown', suite: classifySuite(cipher.name, cipher.standardName ?? cipher.name), ephemeral}
}

/** One handshake over a fresh connection from `connect`. */
export async function handshake(connect: Connector, options: HandshakeOptions): Promise<HandshakeOutcome> {
  let raw: net.Socket
  try {
    raw = await connect()
  } catch (error) {
    return {kind: 'failed', reason: error instanceof Error ? error.message : String(error)}
  }

  // A reset after the handshake failed must not become an uncaught 'error'.
  raw.on('error', () => {})
  return new Promise<HandshakeOutcome>((resolve) => {
    let settled = false
    let socket: tls.TLSSocket | undefined
    const done = (outcome: HandshakeOutcome) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (!(outcome.kind === 'accepted' && options.keepOpen)) {
        socket?.destroy()
        raw.destroy()
      }

      resolve(outcome)
    }

    const timer = setTimeout(() => done({kind: 'failed', reason: `no TLS handshake within ${options.timeoutMs / 1000} s`}), options.timeoutMs)
    try {
      socket = tls.connect({
        socket: raw,
        ...(options.servername ? {servername: options.servername} : {}),
        minVersion: options.minVersion,
        maxVersion: options.maxVersion,
        ciphers: options.ciphers,
        rejectUnauthorized: false,
        ...(options.ca ? {ca: options.ca} : {}),
        ...(options.alpn ? {ALPNProtocols: options.alpn} : {}),
      })
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      done({kind: LOCAL.test(`${(error as {code?: string}).code ?? ''} ${reason}`) ? 'unprobeable' : 'failed', reason})
      return
    }

    socket.once('secureConnect', () => {
      const negotiated = negotiatedOf(socket!)
      done({kind: 'accepted', negotiated, ...(options.keepOpen ? {socket} : {})})
    })
    socket.once('error', (error: Error & {code?: string}) => {
      const reason = opensslReason(error.message)
      if (LOCAL.test(`${error.code ?? ''} ${error.message}`)) done({kind: 'unprobeable', reason})
      else done({kind: 'refused', reason: error.code === 'ECONNRESET' ? 'the server closed the connection during the handshake' : reason})
    })
    socket.once('close', () => done({kind: 'refused', reason: 'the server closed the connection during the handshake'}))
  })
}

/** The TLS 1.3 suites this OpenSSL has. */
export function tls13Suites(): string[] {
  return tls
    .getCiphers()
    .filter((name) => name.startsWith('tls_'))
    .map((name) => name.toUpperCase())
}

export interface SuiteEnumeration {
  protocol: Protocol
  /** The suites accepted, in the order the server chose them. */
  accepted: Array<{suite: SuiteInfo; ephemeral: EphemeralKey | null}>
  /** Set when a handshake failed for a reason other than refusal: the list may be incomplete. */
  failure?: string
}

/**
 * The suites a server accepts at one version: offer every suite this
 * OpenSSL has, note the one the server picks, offer the rest again, until
 * the server refuses. One handshake per accepted suite, plus one.
 * `@SECLEVEL=0` so that our side never refuses what the server would take.
 */
export async function enumerateSuites(connect: Connector, protocol: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3', base: Omit<HandshakeOptions, 'minVersion' | 'maxVersion' | 'ciphers'>): Promise<SuiteEnumeration> {
  const tls13 = protocol === 'TLSv1.3'
  let remaining = tls13 ? tls13Suites() : []
  const accepted: SuiteEnumeration['accepted'] = []
  for (let round = 0; round < 200; round++) {
    // TLS 1.3 suites are set apart from the legacy list (a list of only TLS 1.3 names leaves the legacy one empty).
    // For TLS ≤ 1.2, OpenSSL expands "ALL:COMPLEMENTOFALL" to every suite it has, NULL and anonymous ones included;
    // each accepted suite is struck out by name.
    if (tls13 && remaining.length === 0) break
    const ciphers = tls13 ? remaining.join(':') : ['ALL', 'COMPLEMENTOFALL', ...accepted.map(({suite}) => `!${suite.name}`), '@SECLEVEL=0'].join(':')
    const outcome = await handshake(connect, {...base, minVersion: protocol, maxVersion: protocol, ciphers, keepOpen: false})
    if (outcome.kind === 'refused' || outcome.kind === 'unprobeable') break
    if (outcome.kind === 'failed') return {protocol, accepted, failure: outcome.reason}
    const {suite, ephemeral} = outcome.negotiated
    if (accepted.some((entry) => entry.suite.name === suite.name)) return {protocol, accepted, failure: `the server chose ${suite.name}, which was not offered`}
    accepted.push({suite, ephemeral})
    remaining = remaining.filter((name) => name !== suite.name.toUpperCase())
  }

  return {protocol, accepted}
}
