/**
 * What one step of a server-side SASL mechanism produces (RFC 4422 §3, with
 * XMPP's failure conditions from RFC 6120 §6.5). Data is raw mechanism bytes;
 * base64 for the <challenge/>/<success/> elements is the transport's job.
 */

/** RFC 6120 §6.5 SASL error conditions. */
export type SaslCondition =
  | 'aborted'
  | 'account-disabled'
  | 'credentials-expired'
  | 'encryption-required'
  | 'incorrect-encoding'
  | 'invalid-authzid'
  | 'invalid-mechanism'
  | 'malformed-request'
  | 'mechanism-too-weak'
  | 'not-authorized'
  | 'temporary-auth-failure'

export interface SaslChallenge {
  type: 'challenge'
  data: Buffer
}

export interface SaslSuccess {
  type: 'success'
  /** Additional data with success (SCRAM's server-final-message), RFC 6120 §6.3.10. */
  data: Buffer
  /** The authenticated identity, as looked up. */
  username: string
  /** The authorization identity the client asked for and was allowed, if any. */
  authzid?: string
}

export interface SaslFailure {
  type: 'failure'
  condition: SaslCondition
  /** For logs and diagnostics only; never sent to the client, never contains a secret. */
  reason: string
  /** The SCRAM `e=` value (RFC 5802 §7 server-error-value) for transports that send one. */
  scramError?: string
  /** The underlying error for temporary-auth-failure (a store that could not be read). */
  cause?: unknown
}

export type SaslStep = SaslChallenge | SaslSuccess | SaslFailure

/** A TLS channel binding (RFC 5056): its type name (RFC 5929, RFC 9266) and the bytes for this connection. */
export interface ChannelBinding {
  type: string
  data: Buffer
}
