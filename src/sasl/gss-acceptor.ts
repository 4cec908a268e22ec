/**
 * What SASL GSSAPI (RFC 4752, src/sasl/mechanisms/gssapi.ts) needs of a
 * GSS-API acceptor: contexts fed the client's tokens, and gss_wrap and
 * gss_unwrap for the security-layer step (§3.1). The implementation lives
 * with the gssapi backend (src/auth/gssapi/helper.ts, a helper process over
 * MIT libgssapi_krb5); the mechanism sees only this.
 */

/** Why an exchange failed, as the helper classifies MIT's codes. */
export type GssFailureClass = 'skew' | 'replay' | 'expired' | 'wrong-principal' | 'keytab' | 'malformed' | 'busy' | 'other'

export class GssError extends Error {
  constructor(
    readonly failure: GssFailureClass,
    readonly major: number,
    readonly minor: number,
    message: string,
  ) {
    super(message)
  }
}

export type AcceptResult = {complete: false; token: Buffer} | {complete: true; token: Buffer; principal: string}

export interface GssAcceptor {
  /** A new security context's id, for one exchange. */
  newContext(): number
  /** Feeds the client's token to the context: the token to send back, and once complete the client's principal. */
  accept(context: number, token: Buffer): Promise<AcceptResult>
  wrap(context: number, data: Buffer): Promise<Buffer>
  unwrap(context: number, token: Buffer): Promise<Buffer>
  /** Frees the context (the exchange is over, or cut off). */
  release(context: number): Promise<void>
}
