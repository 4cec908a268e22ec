/**
 * A SASL negotiation as the server and test-auth run it (RFC 6120 §6, RFC
 * 4422): the steps a mechanism answers, the connection it runs on, and the
 * verdict a mechanism gets from the host's authentication. The types live
 * here, below src/auth, because the mechanisms (src/sasl/mechanisms) and the
 * backends' chain (src/auth) both speak them.
 */
import type {AuthMethodName} from '../config/schema.js'
import type {SaslCondition} from './outcome.js'

/** One of xmppctl's own methods (AUTH_METHODS) or one an installed auth plugin provides. */
export type AuthMethod = AuthMethodName

/**
 * What a backend answered. `rejected`: the credentials are wrong or the user
 * does not exist. `unsupported`: this backend cannot do that at all.
 * `unavailable`: it could not be asked (timeout, socket error, crash) — never
 * to be silently treated as `rejected`.
 */
export type AuthOutcome =
  | {result: 'accepted'}
  | {result: 'rejected'; reason: string}
  | {result: 'disabled'; reason: string}
  | {result: 'unsupported'; reason: string}
  | {result: 'unavailable'; reason: string}

export type ChannelBindingType = 'tls-unique' | 'tls-exporter' | 'tls-server-end-point'

/** What the server knows of a connection when it offers and runs mechanisms. */
export interface ConnectionSecurity {
  encrypted: boolean
  /** `TLSv1.2`, `TLSv1.3`; absent before TLS. */
  tlsVersion?: string
  /** Channel-binding data available on this connection, by type; a type present is available (its data may be computed when read). */
  channelBindings: Partial<Record<ChannelBindingType, Buffer>>
  /** The peer address, for throttling and logs. */
  remoteAddress?: string
}

/** RFC 6120 §6.5 SASL failure conditions (one list: src/sasl/outcome.ts). */
export type SaslFailureCondition = SaslCondition

export type SaslStep =
  | {type: 'challenge'; data: Buffer}
  /** `username` is the authenticated localpart (a random one for ANONYMOUS). */
  | {type: 'success'; data?: Buffer; username: string; authzid?: string; method?: AuthMethod}
  /** `reason` is for logs and diagnostics only, never sent; `text` may be sent to the client. */
  | {type: 'failure'; condition: SaslFailureCondition; text?: string; reason?: string}

/** One SASL negotiation in progress; the first `step` gets the initial response (possibly empty). */
export interface SaslSession {
  step(response: Buffer): Promise<SaslStep>
  /** Frees what an exchange cut off before its verdict holds (a GSS-API context); called by the transport. */
  dispose?(): void
}
