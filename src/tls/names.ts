/**
 * The names an XMPP certificate carries and how a host name is matched
 * against them. Issuing: RFC 6120 §13.7.1.2 (dNSName, SRVName, XmppAddr).
 * Matching: RFC 6125 §6 (no CN-ID when any other identifier is present;
 * a wildcard is a whole left-most label and stands for exactly one label).
 */
import {domainToASCII, domainToUnicode} from 'node:url'

import {Tag, children, contextTag, oid, readOne, sequence, tlv, toOid} from './der.js'

export const OID_SUBJECT_ALT_NAME = '2.5.29.17'
/** id-on-xmppAddr, RFC 6120 §13.7.1.4: UTF8String holding a JID (here a domain). */
export const OID_XMPP_ADDR = '1.3.6.1.5.5.7.8.5'
/** id-on-dnsSRV, RFC 4985: IA5String `_service.domain`. */
export const OID_SRV_NAME = '1.3.6.1.5.5.7.8.7'

export const SRV_CLIENT = '_xmpp-client'
export const SRV_SERVER = '_xmpp-server'

/** The identifiers a certificate presents, grouped by type. Domains are lower-case A-labels. */
export interface PresentedNames {
  dns: string[]
  srv: string[]
  xmppAddr: string[]
  uri: string[]
  ip: string[]
  cn: string[]
}

export function emptyNames(): PresentedNames {
  return {dns: [], srv: [], xmppAddr: [], uri: [], ip: [], cn: []}
}

/** A domain as compared: lower-case A-labels, no trailing dot; '' when it is not a valid domain. */
export function asciiDomain(name: string): string {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name
  if (trimmed.startsWith('*.')) {
    const rest = domainToASCII(trimmed.slice(2))
    return rest ? `*.${rest}` : ''
  }

  return domainToASCII(trimmed).toLowerCase()
}

/** What `cert generate` and `cert request` put in subjectAltName for `host` and its component subdomains. */
export interface IssuedNames {
  dns: string[]
  xmppAddr: string[]
  srv: string[]
}

/**
 * `dnsOnly`: dNSName entries alone, as a public CA issues them. ejabberd
 * 23.01 (Debian 12) fails the s2s authentication of a peer whose CA-signed
 * certificate carries an XmppAddr (its xmpp_stream_pkix crashes with badarg
 * reading it); later versions read it.
 */
export function namesForHost(host: string, subdomains: readonly string[] = [], {dnsOnly = false}: {dnsOnly?: boolean} = {}): IssuedNames {
  const ascii = asciiDomain(host)
  const components = subdomains.map((sub) => `${asciiDomain(sub)}.${ascii}`)
  if (dnsOnly) return {dns: [ascii, ...components], xmppAddr: [], srv: []}
  return {
    dns: [ascii, ...components],
    // XmppAddr holds the internationalised form (RFC 6120 §13.7.1.4).
    xmppAddr: [ascii, ...components].map((name) => domainToUnicode(name)),
    // Clients connect by _xmpp-client, servers (and so components' peers) by _xmpp-server.
    srv: [`${SRV_CLIENT}.${ascii}`, `${SRV_SERVER}.${ascii}`, ...components.map((name) => `${SRV_SERVER}.${name}`)],
  }
}

function otherName(typeOid: string, value: Buffer): Buffer {
  // otherName is [0] IMPLICIT SEQUENCE { type-id, [0] EXPLICIT value } (RFC 5280 §4.2.1.6).
  return tlv(contextTag(0, true), Buffer.concat([oid(typeOid), tlv(contextTag(0, true), value)]))
}

/** The DER value of a subjectAltName extension holding `names`. */
export function encodeSubjectAltName(names: IssuedNames): Buffer {
  return sequence(
    ...names.dns.map((name) => tlv(contextTag(2, false), Buffer.from(name, 'ascii'))),
    ...names.xmppAddr.map((name) => otherName(OID_XMPP_ADDR, tlv(Tag.utf8String, Buffer.from(name, 'utf8')))),
    ...names.srv.map((name) => otherName(OID_SRV_NAME, tlv(Tag.ia5String, Buffer.from(name, 'ascii')))),
  )
}

/** Adds the entries of a subjectAltName extension value to `names`; unknown types are skipped. */
export function decodeSubjectAltName(value: Buffer, names: PresentedNames = emptyNames()): PresentedNames {
  for (const general of children(readOne(value).content)) {
    switch (general.tag) {
      case contextTag(2, false): {
        names.dns.push(asciiDomain(general.content.toString('latin1')) || general.content.toString('latin1'))
        break
      }

      case contextTag(6, false): {
        names.uri.push(general.content.toString('latin1'))
        break
      }

      case contextTag(7, false): {
        names.ip.push(formatIp(general.content))
        break
      }

      case contextTag(0, true): {
        const [typeId, wrapped] = children(general.content)
        if (!typeId || !wrapped) break
        const type = toOid(typeId)
        const inner = children(wrapped.content)[0]
        if (!inner) break
        if (type === OID_XMPP_ADDR && inner.tag === Tag.utf8String) names.xmppAddr.push(inner.content.toString('utf8'))
        if (type === OID_SRV_NAME && inner.tag === Tag.ia5String) names.srv.push(inner.content.toString('latin1').toLowerCase())
        break
      }

      default:
    }
  }

  return names
}

function formatIp(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.')
  return (bytes.toString('hex').match(/.{4}/g) ?? []).join(':')
}

/** `DNS:example.org`, `xmppAddr:example.org`, `SRV:_xmpp-client.example.org`, … for display. */
export function describeNames(names: PresentedNames): string[] {
  return [
    ...names.dns.map((name) => `DNS:${name}`),
    ...names.xmppAddr.map((name) => `xmppAddr:${name}`),
    ...names.srv.map((name) => `SRV:${name}`),
    ...names.uri.map((name) => `URI:${name}`),
    ...names.ip.map((name) => `IP:${name}`),
    ...(hasSubjectAltNames(names) ? [] : names.cn.map((name) => `CN:${name}`)),
  ]
}

function hasSubjectAltNames(names: PresentedNames): boolean {
  return names.dns.length + names.srv.length + names.xmppAddr.length + names.uri.length > 0
}

/** A DNS-ID (or CN-ID) against a host: exact, or a `*.` wildcard standing for exactly one label. */
export function dnsNameMatches(presented: string, host: string): boolean {
  const name = asciiDomain(presented)
  const reference = asciiDomain(host)
  if (!name || !reference) return false
  if (!name.startsWith('*.')) return name === reference
  const suffix = name.slice(2)
  // "*.com" would cover a whole top-level domain: never (RFC 6125 §7.2).
  if (!suffix.includes('.')) return false
  const dot = reference.indexOf('.')
  return dot > 0 && reference.slice(dot + 1) === suffix
}

export interface NameMatch {
  /** RFC 6125's identifier type that matched. */
  type: 'DNS-ID' | 'SRV-ID' | 'XmppAddr' | 'CN-ID'
  /** The presented identifier that matched, e.g. `*.example.org`. */
  name: string
}

/** Which presented identifier covers `host`, if any (RFC 6125 §6.4, RFC 6120 §13.7.2.1). */
export function matchHost(names: PresentedNames, host: string): NameMatch | undefined {
  const reference = asciiDomain(host)
  if (!reference) return undefined
  const dns = names.dns.find((name) => dnsNameMatches(name, reference))
  if (dns) return {type: 'DNS-ID', name: dns}
  const srv = names.srv.find((name) => {
    const dot = name.indexOf('.')
    const service = name.slice(0, dot)
    return (service === SRV_CLIENT || service === SRV_SERVER) && asciiDomain(name.slice(dot + 1)) === reference
  })
  if (srv) return {type: 'SRV-ID', name: srv}
  const xmpp = names.xmppAddr.find((name) => !name.includes('@') && !name.includes('/') && asciiDomain(name) === reference)
  if (xmpp) return {type: 'XmppAddr', name: xmpp}
  // CN-ID only when the certificate presents no identifier of the types above (RFC 6125 §6.4.4).
  if (hasSubjectAltNames(names)) return undefined
  const cn = names.cn.find((name) => dnsNameMatches(name, reference))
  return cn ? {type: 'CN-ID', name: cn} : undefined
}
