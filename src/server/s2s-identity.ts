/**
 * Who a peer server is: its certificate checked for a domain per RFC 6125
 * and XEP-0178 §3 (SRV-ID `_xmpp-server.DOMAIN`, XmppAddr, DNS-ID with a
 * wildcard in the left-most label, the CN only without any of these), and
 * the dialback keys of XEP-0220 computed as XEP-0185 §3 recommends.
 * Node's X509Certificate names the XmppAddr and SRVName otherNames itself,
 * so no ASN.1 is parsed here.
 */
import {createHash, createHmac, timingSafeEqual, type X509Certificate} from 'node:crypto'
import type tls from 'node:tls'

export interface PeerIdentity {
  /** The chain verified against the trusted CAs (s2s_cafile, or the system's). */
  chainVerified: boolean
  /** Why it did not, when it did not (OpenSSL's code: SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED, …). */
  chainError: string | undefined
  /** The certificate's names, for logs and `s2s list`. */
  names: string[]
  certificate: X509Certificate | undefined
}

/** The subjectAltName entries of a certificate: [type, value] pairs (Node quotes a value with a comma as JSON). */
function altNames(certificate: X509Certificate): Array<[string, string]> {
  const text = certificate.subjectAltName
  if (!text) return []
  const entries: Array<[string, string]> = []
  for (const match of text.matchAll(/(DNS|othername:XmppAddr|othername:SRVName|IP Address|URI|email):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g)) {
    const raw = match[2]
    entries.push([match[1], raw.startsWith('"') ? (JSON.parse(raw) as string) : raw])
  }

  return entries
}

export function certificateNames(certificate: X509Certificate): string[] {
  const names = altNames(certificate).map(([type, value]) => `${type.replace('othername:', '')}:${value}`)
  if (names.length === 0) {
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1]
    if (cn) names.push(`CN:${cn}`)
  }

  return names
}

/** RFC 6125 §6.4.3: `*` only as the whole left-most label, matching exactly one label. */
function dnsMatches(pattern: string, domain: string): boolean {
  const name = pattern.toLowerCase().replace(/\.$/, '')
  if (name === domain) return true
  if (!name.startsWith('*.')) return false
  const dot = domain.indexOf('.')
  return dot > 0 && domain.slice(dot + 1) === name.slice(2)
}

/** Whether `certificate` names `domain` as an XMPP server (XEP-0178 §3, RFC 6120 §13.7.1.2). */
export function certificateCovers(certificate: X509Certificate, domain: string): boolean {
  const wanted = domain.toLowerCase()
  const entries = altNames(certificate)
  const identifiers = entries.filter(([type]) => type === 'DNS' || type === 'othername:XmppAddr' || type === 'othername:SRVName')
  if (identifiers.length === 0) {
    // RFC 6125 §6.4.4: the CN only when there is no identifier of a supported type.
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1]
    return cn !== undefined && dnsMatches(cn, wanted)
  }

  for (const [type, value] of identifiers) {
    const name = value.toLowerCase()
    if (type === 'othername:XmppAddr' && name === wanted) return true
    if (type === 'othername:SRVName' && (name === `_xmpp-server.${wanted}` || name === `_xmpps-server.${wanted}`)) return true
    if (type === 'DNS' && dnsMatches(name, wanted)) return true
  }

  return false
}

/** What a TLS socket says of its peer's certificate. */
export function peerIdentity(socket: tls.TLSSocket): PeerIdentity {
  const certificate = socket.getPeerX509Certificate()
  if (!certificate) return {chainVerified: false, chainError: 'no certificate', names: [], certificate}
  let verified = socket.authorized
  let chainError = socket.authorizationError === null || socket.authorizationError === undefined ? undefined : String(socket.authorizationError)
  if (!verified && chainError === undefined) {
    // A server-side TLSSocket made for STARTTLS (no tls.Server around it) never sets
    // `authorized`; OpenSSL's verdict on the chain is read where tls.Server reads it.
    const handle = (socket as unknown as {_handle?: {verifyError?: () => (Error & {code?: string}) | null}})._handle
    const error = typeof handle?.verifyError === 'function' ? handle.verifyError() : new Error('unknown')
    verified = error === null
    chainError = error ? ((error as Error & {code?: string}).code ?? error.message) : undefined
  }

  return {chainVerified: verified, chainError, names: certificateNames(certificate), certificate}
}

/** Whether the peer proved `domain` with its certificate: a chain to a trusted CA that names it. */
export function identityVerifies(identity: PeerIdentity, domain: string): boolean {
  return identity.chainVerified && identity.certificate !== undefined && certificateCovers(identity.certificate, domain)
}

/**
 * XEP-0185 §3: key = HMAC-SHA256(SHA256(secret), receiving + ' ' +
 * originating + ' ' + stream id), in hex. Only this process checks the
 * keys it makes (db:verify comes back to it), so the secret is its own.
 */
export function dialbackKey(secret: Buffer, receiving: string, originating: string, streamId: string): string {
  const key = createHash('sha256').update(secret).digest('hex')
  return createHmac('sha256', key).update(`${receiving} ${originating} ${streamId}`).digest('hex')
}

/** Compares a key a peer sent with the one expected, in constant time. */
export function dialbackKeyMatches(expected: string, given: string): boolean {
  const a = Buffer.from(expected)
  const b = Buffer.from(given.trim())
  return a.length === b.length && timingSafeEqual(a, b)
}
