/**
 * GSSAPI (RFC 4752) with the Kerberos V5 mechanism: the client's tokens go to
 * the host's acceptor (src/auth/gssapi/helper.ts) until the context is
 * established (§3.1); the server then sends a wrapped 4-octet message
 * offering "no security layer" only, since the stream already runs over TLS
 * (RFC 6120 §6.3.4 forbids a SASL security layer with TLS anyway), and reads
 * the client's wrapped answer: the layer it chose and its authorization
 * identity. The principal maps to a local account by the host's rule
 * (src/auth/backends/gssapi.ts), which must exist and not be disabled.
 *
 * Failures caused by the client (clock skew, a replayed or forged token, a
 * ticket for another principal, a principal with no account) are
 * `not-authorized`; an expired ticket is `credentials-expired`; a keytab or
 * helper that fails is `temporary-auth-failure`. Reasons go to the log, never
 * a token.
 */
import {UnavailableError} from '../../errors.js'
import {GssError} from '../gss-acceptor.js'
import type {SaslSession, SaslStep} from '../session.js'
import {type GssapiService, type MechanismContext, type MechanismDefinition, decodeUtf8, fail} from './types.js'

/** RFC 4752 §3.3: bit 0 of the security-layer octet is "no security layer". */
const NO_SECURITY_LAYER = 0x01
/** Kerberos V5 establishes a context in one token, two with mutual authentication (RFC 4121 §4.1); more is a client looping. */
const MAX_ACCEPT_ROUNDS = 4

type State = 'start' | 'accepting' | 'mutual' | 'layer' | 'done'

class GssapiSession implements SaslSession {
  private state: State = 'start'
  private rounds = 0
  private principal = ''
  private readonly contextId: number

  constructor(
    private readonly context: MechanismContext,
    private readonly service: GssapiService,
  ) {
    this.contextId = service.acceptor.newContext()
  }

  async step(response: Buffer): Promise<SaslStep> {
    try {
      const result = await this.advance(response)
      if (result.type !== 'challenge') this.dispose()
      return result
    } catch (error) {
      this.dispose()
      return failure(error)
    }
  }

  dispose(): void {
    if (this.state === 'done') return
    this.state = 'done'
    void this.service.acceptor.release(this.contextId)
  }

  private async advance(response: Buffer): Promise<SaslStep> {
    switch (this.state) {
      case 'start': {
        // No initial response: ask for the first token with an empty challenge (RFC 6120 §6.4.2).
        this.state = 'accepting'
        if (response.length === 0) return {type: 'challenge', data: Buffer.alloc(0)}
        return this.accept(response)
      }

      case 'accepting': {
        return this.accept(response)
      }

      case 'mutual': {
        // RFC 4752 §3.1: the reply to the server's last context token carries no data.
        if (response.length > 0) return fail('malformed-request', 'the client answered the final context token with data')
        return this.offerLayer()
      }

      case 'layer': {
        // The verdict, whatever it is, ends the exchange: step() releases the context.
        return this.finish(await this.service.acceptor.unwrap(this.contextId, response))
      }

      default: {
        return fail('malformed-request', 'the GSSAPI exchange is already over')
      }
    }
  }

  private async accept(token: Buffer): Promise<SaslStep> {
    if (token.length === 0) return fail('malformed-request', 'an empty GSS-API token')
    if (++this.rounds > MAX_ACCEPT_ROUNDS) return fail('malformed-request', `the GSS-API context was not established in ${MAX_ACCEPT_ROUNDS} tokens`)
    const result = await this.service.acceptor.accept(this.contextId, token)
    if (!result.complete) return {type: 'challenge', data: result.token}
    this.principal = result.principal
    // Mutual authentication: the AP-REP goes back in a challenge of its own, answered empty (RFC 4752 §3.1).
    if (result.token.length > 0) {
      this.state = 'mutual'
      return {type: 'challenge', data: result.token}
    }

    return this.offerLayer()
  }

  /** The 4 octets: the layers offered (none but "no security layer") and a maximum message size of 0 (RFC 4752 §3.1). */
  private async offerLayer(): Promise<SaslStep> {
    this.state = 'layer'
    return {type: 'challenge', data: await this.service.acceptor.wrap(this.contextId, Buffer.from([NO_SECURITY_LAYER, 0, 0, 0]))}
  }

  private async finish(message: Buffer): Promise<SaslStep> {
    if (message.length < 4) return fail('malformed-request', 'the security-layer message is shorter than 4 octets')
    if (message[0] !== NO_SECURITY_LAYER) return fail('malformed-request', `the client chose security layer 0x${message[0].toString(16).padStart(2, '0')}, not "no security layer" (the only one offered)`)
    const authzid = decodeUtf8(message.subarray(4))
    if (authzid === undefined) return fail('malformed-request', 'the authorization identity is not UTF-8')
    const {auth} = this.context
    const mapped = this.service.map(this.principal)
    if ('reason' in mapped) return fail('not-authorized', mapped.reason)
    const {username} = mapped
    // No proxy authentication: an authzid, if any, names the mapped account (RFC 6120 §6.3.8).
    if (authzid !== '' && !namesAccount(authzid, username, auth.host, this.context.normalizeUsername)) {
      return fail('invalid-authzid', `${this.principal} maps to ${username}@${auth.host} and may not act as "${authzid}"`)
    }

    const status = await auth.accountStatus(username)
    if (!status.exists) return fail('not-authorized', `${this.principal} maps to ${username}@${auth.host}, which has no account`)
    if (status.disabled !== undefined) return fail('account-disabled', status.disabled)
    return {type: 'success', username, ...(authzid === '' ? {} : {authzid}), method: 'gssapi'}
  }
}

/**
 * The authzid a client sends: the bare JID (RFC 6120 §6.3.8) or, as
 * slixmpp and Cyrus-based clients do, the localpart alone.
 */
function namesAccount(authzid: string, username: string, host: string, normalize: (name: string) => string): boolean {
  if (authzid.includes('/')) return false
  const at = authzid.lastIndexOf('@')
  if (at !== -1 && authzid.slice(at + 1).toLowerCase().replace(/\.$/, '') !== host) return false
  try {
    return normalize(at === -1 ? authzid : authzid.slice(0, at)) === username
  } catch {
    return false
  }
}

function failure(error: unknown): SaslStep {
  if (error instanceof GssError) {
    switch (error.failure) {
      case 'skew': {
        return fail('not-authorized', `clock skew: the client's authenticator is outside the allowed skew (${error.message})`)
      }

      case 'replay': {
        return fail('not-authorized', `replayed token (${error.message})`)
      }

      case 'wrong-principal': {
        return fail('not-authorized', `the ticket is for another principal than the server's (${error.message})`)
      }

      case 'expired': {
        return fail('credentials-expired', `the client's ticket has expired (${error.message})`)
      }

      case 'keytab':
      case 'busy': {
        return fail('temporary-auth-failure', `the keytab or the acceptor failed (${error.message})`)
      }

      case 'malformed': {
        return fail('malformed-request', `not a Kerberos token (${error.message})`)
      }

      default: {
        return fail('not-authorized', `GSS-API refused the token (${error.message})`)
      }
    }
  }

  if (error instanceof UnavailableError) return fail('temporary-auth-failure', error.message)
  throw error
}

export const GSSAPI: MechanismDefinition = {
  name: 'GSSAPI',
  needs: {kind: 'gssapi'},
  channelBinding: false,
  create(context) {
    const service = context.auth.gssapi
    // HostAuth.start offers no session for a mechanism it does not offer, and it offers GSSAPI only with a service.
    if (!service) return {step: async () => fail('temporary-auth-failure', 'GSSAPI is not available on this host')}
    return new GssapiSession(context, service)
  },
}
