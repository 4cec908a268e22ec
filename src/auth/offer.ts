/**
 * The SASL mechanism offer: a pure function from what a host's backends can
 * serve, the connection's security and the host's settings to the mechanisms
 * announced, best first (DESIGN.md "Authentication"). A client that sees a
 * mechanism must be able to use it, so nothing is offered that no backend can
 * serve. `test-auth all` prints the same decisions with their reasons.
 */
import {type ScramHash, scramMechanismName} from '../sasl/scram.js'
import type {AuthMethod, ChannelBindingType, ConnectionSecurity} from '../sasl/session.js'
import type {BackendCapabilities} from './types.js'

export interface OfferSettings {
  disable_sasl_mechanisms: readonly string[]
  allow_unencrypted_plain_auth: boolean
}

export interface BackendOffer {
  method: AuthMethod
  capabilities: BackendCapabilities
}

export interface MechanismDecision {
  mechanism: string
  offered: boolean
  why: string
}

/** Strongest first (RFC 7677 §4 recommends preferring SHA-256 over SHA-1; SHA-512 beats both). */
const HASH_ORDER: readonly ScramHash[] = ['sha512', 'sha256', 'sha1']

const HASH_LABEL: Record<ScramHash, string> = {sha1: 'SHA-1', sha256: 'SHA-256', sha512: 'SHA-512'}

/**
 * The channel-binding types this connection can really provide, best first:
 * `tls-exporter` only on TLS 1.3 (RFC 9266 §3), `tls-unique` only on TLS 1.2
 * (RFC 9266 §1: it is undefined for 1.3), `tls-server-end-point` (RFC 5929 §4)
 * whenever the server computed it. No TLS, no binding.
 */
export function channelBindingTypes(connection: ConnectionSecurity): ChannelBindingType[] {
  if (!connection.encrypted) return []
  // Presence, not the data: the server computes the data only when a client binds (src/server/c2s.ts).
  const has = (type: ChannelBindingType) => Object.hasOwn(connection.channelBindings, type)
  const types: ChannelBindingType[] = []
  if (connection.tlsVersion === 'TLSv1.3' && has('tls-exporter')) types.push('tls-exporter')
  if (connection.tlsVersion === 'TLSv1.2' && has('tls-unique')) types.push('tls-unique')
  if (has('tls-server-end-point')) types.push('tls-server-end-point')
  return types
}

/**
 * The types a client may bind with: those announced, and `tls-unique` on
 * TLS 1.3 where the connection provides it (allow_tls_unique_on_tls13).
 * slixmpp 1.8.3 (Debian's poezio) binds that way over TLS 1.3, as ejabberd
 * accepts; it is never announced, so clients that do RFC 9266 keep using
 * tls-exporter and XEP-0474's h= covers only what was announced.
 */
export function acceptedChannelBindingTypes(connection: ConnectionSecurity): ChannelBindingType[] {
  const types = channelBindingTypes(connection)
  if (connection.encrypted && connection.tlsVersion === 'TLSv1.3' && Object.hasOwn(connection.channelBindings, 'tls-unique')) types.push('tls-unique')
  return types
}

/** Every candidate mechanism, in offer order, with whether it is offered and why. */
export function decideMechanisms(backends: readonly BackendOffer[], connection: ConnectionSecurity, settings: OfferSettings): MechanismDecision[] {
  const disabled = new Set(settings.disable_sasl_mechanisms)
  const decisions: MechanismDecision[] = []
  const decide = (mechanism: string, offered: boolean, why: string) => {
    if (offered && disabled.has(mechanism)) decisions.push({mechanism, offered: false, why: 'listed in disable_sasl_mechanisms'})
    else decisions.push({mechanism, offered, why})
  }

  // Backends that hold accounts: a login may concern any of them, so SCRAM
  // must work for all of them or a user of one would be locked out.
  const holders = backends.filter(({capabilities}) => capabilities.plain || capabilities.scram.length > 0)
  const scram = new Map<ScramHash, {offered: boolean; why: string}>()
  for (const hash of HASH_ORDER) {
    if (holders.length === 0) {
      scram.set(hash, {offered: false, why: 'no backend of this host can authenticate a user right now'})
      continue
    }

    const lacking = holders.find(({capabilities}) => !capabilities.scram.includes(hash))
    if (lacking) {
      const detail = lacking.capabilities.scramMissing?.[hash]
      scram.set(hash, {
        offered: false,
        why: detail ?? `the ${lacking.method} backend has no SCRAM-${HASH_LABEL[hash]} credentials (it ${lacking.capabilities.plain ? plainOnly(lacking.method) : 'cannot serve passwords'})`,
      })
    } else {
      scram.set(hash, {offered: true, why: `${holders.map(({method}) => method).join(', ')} ${holders.length === 1 ? 'holds' : 'hold'} SCRAM-${HASH_LABEL[hash]} credentials or plaintext for every account`})
    }
  }

  const bindings = channelBindingTypes(connection)
  for (const hash of HASH_ORDER) {
    const base = scram.get(hash)!
    const name = scramMechanismName(hash, true)
    if (!base.offered) decide(name, false, `${scramMechanismName(hash)} is not offered: ${base.why}`)
    else if (!connection.encrypted) decide(name, false, 'channel binding needs TLS')
    else if (bindings.length === 0) decide(name, false, channelBindingAbsence(connection))
    else decide(name, true, `channel binding ${bindings.join(', ')} available on ${connection.tlsVersion ?? 'TLS'}`)
  }

  for (const hash of HASH_ORDER) {
    const {offered, why} = scram.get(hash)!
    decide(scramMechanismName(hash), offered, why)
  }

  // GSSAPI (RFC 4752) only with a keytab and acceptor that work: a client that tries it with a
  // ticket would otherwise fail, not fall back (DESIGN.md "Authentication").
  const gssapi = backends.find(({capabilities}) => capabilities.gssapi)?.capabilities.gssapi
  decide('GSSAPI', gssapi?.ready ?? false, gssapi?.why ?? 'no gssapi backend in auth_method')

  const plain = backends.filter(({capabilities}) => capabilities.plain).map(({method}) => method)
  if (plain.length === 0) decide('PLAIN', false, 'no backend of this host can check a plaintext password right now')
  else if (!connection.encrypted && !settings.allow_unencrypted_plain_auth) {
    decide('PLAIN', false, 'the connection is not encrypted (set allow_unencrypted_plain_auth to offer it anyway)')
  } else decide('PLAIN', true, `${plain.join(', ')} can check a plaintext password${connection.encrypted ? '' : ' (allowed without TLS by allow_unencrypted_plain_auth)'}`)

  const anonymous = backends.find(({capabilities}) => capabilities.anonymous)
  decide('ANONYMOUS', Boolean(anonymous), anonymous ? 'the anonymous backend accepts SASL ANONYMOUS (anonymous_protocol)' : 'no anonymous backend with anonymous_protocol sasl_anon or both')
  return decisions
}

/** The mechanisms to announce on this connection, best first. */
export function offerMechanisms(backends: readonly BackendOffer[], connection: ConnectionSecurity, settings: OfferSettings): string[] {
  return decideMechanisms(backends, connection, settings)
    .filter(({offered}) => offered)
    .map(({mechanism}) => mechanism)
}

/** Why a backend that checks plaintext cannot serve SCRAM. */
function plainOnly(method: AuthMethod): string {
  // An LDAP bind needs the password itself; the directory's hashes are not SCRAM's (RFC 5802 §5).
  return method === 'ldap' ? 'checks a password by binding to the directory with it: PLAIN over TLS only' : 'checks plaintext passwords only'
}

function channelBindingAbsence(connection: ConnectionSecurity): string {
  const available = Object.keys(connection.channelBindings)
  if (connection.tlsVersion === 'TLSv1.3') {
    return available.includes('tls-unique')
      ? 'tls-unique does not exist on TLS 1.3 and no tls-exporter data is available'
      : 'no tls-exporter data for this TLS 1.3 connection (behind a TLS-terminating proxy?)'
  }

  if (connection.tlsVersion === 'TLSv1.2') {
    return available.includes('tls-exporter')
      ? 'tls-exporter is only defined for TLS 1.3 (RFC 9266) and no tls-unique data is available'
      : 'no tls-unique data for this TLS 1.2 connection'
  }

  return `no channel-binding data for ${connection.tlsVersion ?? 'this TLS version'}`
}
