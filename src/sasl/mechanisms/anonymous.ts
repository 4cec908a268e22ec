/**
 * ANONYMOUS (RFC 4505): the client may send trace information (an email
 * address or an opaque token, at most 255 UTF-8 characters, §2); the server
 * assigns a random, unguessable localpart (§3: the identity must not let
 * anyone else take over the session's address).
 */
import type {SaslSession, SaslStep} from '../session.js'
import {type MechanismContext, type MechanismDefinition, decodeUtf8, fail} from './types.js'

const MAX_TRACE_CHARACTERS = 255

class AnonymousSession implements SaslSession {
  private done = false

  constructor(private readonly context: MechanismContext) {}

  async step(response: Buffer): Promise<SaslStep> {
    if (this.done) return fail('malformed-request', 'the ANONYMOUS exchange is already over')
    this.done = true
    const trace = decodeUtf8(response)
    if (trace === undefined || [...trace].length > MAX_TRACE_CHARACTERS || trace.includes('\0')) {
      return fail('malformed-request', 'the ANONYMOUS trace information must be at most 255 UTF-8 characters (RFC 4505 §2)')
    }

    return {type: 'success', username: this.context.auth.anonymousUsername(), method: 'anonymous'}
  }
}

export const ANONYMOUS: MechanismDefinition = {
  name: 'ANONYMOUS',
  needs: {kind: 'anonymous'},
  channelBinding: false,
  create: (context) => new AnonymousSession(context),
}
