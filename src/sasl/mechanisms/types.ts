/**
 * What a server-side SASL mechanism is and what it needs (STYLE.md,
 * "Authentication"): its name, what it needs from a backend, whether it binds
 * to the TLS channel, and a session whose `step` returns challenge, success or
 * failure with an RFC 6120 §6.5 condition. Mechanisms never touch a backend
 * directly: they ask the host's chain through `MechanismAuth`.
 */
import type {GssAcceptor} from '../gss-acceptor.js'
import type {AuthMethod, AuthOutcome, ConnectionSecurity, SaslSession, SaslStep} from '../session.js'
import type {ChannelBinding} from '../outcome.js'
import type {AnnouncedSasl} from '../scram-downgrade.js'
import type {ScramCredentials, ScramHash} from '../scram.js'

/** The host's authentication as a mechanism sees it. */
export interface MechanismAuth {
  readonly host: string
  /** The chain's verdict on a plaintext password; `method` is the backend that decided. */
  checkPassword(username: string, password: string): Promise<AuthOutcome & {method?: AuthMethod}>
  /** Stored (or derivable) credentials; throws UnavailableError when a backend could not be asked. */
  getScramCredentials(
    username: string,
    hash: ScramHash,
  ): Promise<{credentials: ScramCredentials; disabled?: string; method?: AuthMethod} | undefined>
  /** A fresh, random, unguessable localpart for an anonymous login (RFC 4505 §3). */
  anonymousUsername(): string
  /** The host's Kerberos acceptor and principal rule (the gssapi backend), when GSSAPI is offered. */
  gssapi?: GssapiService
  /**
   * Whether the account exists (in the store, or for a backend of the chain)
   * and why it is disabled; throws UnavailableError when a backend could not be asked.
   */
  accountStatus(username: string): Promise<{exists: boolean; disabled?: string}>
}

/** What SASL GSSAPI needs from the gssapi backend. */
export interface GssapiService {
  acceptor: GssAcceptor
  /** The local username of a client principal, or why it has none. */
  map(principal: string): {username: string} | {reason: string}
}

/**
 * A connection as the c2s session describes it to `HostAuthenticator.start`,
 * which hands the same object to the mechanism as `context.connection`:
 * besides its security, what was announced on it and the host's downgrade
 * protection switch, for SCRAM (XEP-0474, RFC 5802 §6). Callers without a
 * stream (test-auth) leave `sasl` out: no `h=`, protection on.
 */
export interface AnnouncedConnection extends ConnectionSecurity {
  sasl?: AnnouncedSasl & {downgradeProtection: boolean}
}

export interface MechanismContext {
  auth: MechanismAuth
  connection: ConnectionSecurity
  /** Channel bindings usable on this connection (already filtered by TLS version). */
  channelBindings: ChannelBinding[]
  /** Whether any -PLUS mechanism was offered on this connection (RFC 5802 §6 downgrade check). */
  advertisedPlus: boolean
  /** Keys the fake salt of unknown users; stable across restarts. */
  unknownUser: {secret: Buffer; iterations: number}
  /** JID localpart normalisation (RFC 7622 §3.3); throws for names that cannot exist. */
  normalizeUsername(username: string): string
}

/** What a mechanism needs from the host's backends to be offered. */
export type MechanismNeed = {kind: 'plain'} | {kind: 'scram'; hash: ScramHash} | {kind: 'anonymous'} | {kind: 'gssapi'}

export interface MechanismDefinition {
  readonly name: string
  readonly needs: MechanismNeed
  /** The -PLUS variants need channel-binding data on the connection. */
  readonly channelBinding: boolean
  create(context: MechanismContext): SaslSession
}

export function fail(condition: Extract<SaslStep, {type: 'failure'}>['condition'], reason: string): Extract<SaslStep, {type: 'failure'}> {
  return {type: 'failure', condition, reason}
}

/** UTF-8 decoding that refuses invalid sequences instead of replacing them. */
export function decodeUtf8(data: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', {fatal: true, ignoreBOM: true}).decode(data)
  } catch {
    return undefined
  }
}
