/**
 * PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`, UTF-8, in one
 * message. The password goes to the host's chain as sent: the internal
 * backend applies SASLprep (RFC 4013) itself so that PLAIN and SCRAM agree,
 * while external systems (PAM, saslauthd, scripts) compare with what the user
 * typed when the password was set there, which SASLprep could alter.
 */
import type {SaslSession, SaslStep} from '../session.js'
import {type MechanismContext, type MechanismDefinition, decodeUtf8, fail} from './types.js'

/** Generous: RFC 4616 §2 asks for at least 255 octets per field, and a JWT as password can be a few KiB. */
const MAX_MESSAGE_BYTES = 16 * 1024

export interface PlainMessage {
  authzid: string
  authcid: string
  password: string
}

/** Parses the PLAIN message; `undefined` when it does not follow RFC 4616 §2. */
export function parsePlainMessage(data: Buffer): PlainMessage | undefined {
  if (data.length > MAX_MESSAGE_BYTES) return undefined
  const text = decodeUtf8(data)
  if (text === undefined) return undefined
  const parts = text.split('\0')
  if (parts.length !== 3) return undefined
  const [authzid, authcid, password] = parts
  // authcid and passwd are 1*SAFE (RFC 4616 §2).
  if (authcid === '' || password === '') return undefined
  return {authzid, authcid, password}
}

class PlainSession implements SaslSession {
  private done = false
  private sentEmptyChallenge = false

  constructor(private readonly context: MechanismContext) {}

  async step(response: Buffer): Promise<SaslStep> {
    if (this.done) return fail('malformed-request', 'the PLAIN exchange is already over')
    // No initial response: ask for it with an empty challenge (RFC 6120 §6.4.2), once.
    if (response.length === 0 && !this.sentEmptyChallenge) {
      this.sentEmptyChallenge = true
      return {type: 'challenge', data: Buffer.alloc(0)}
    }

    this.done = true
    const message = parsePlainMessage(response)
    if (!message) return fail('malformed-request', 'the PLAIN message is not "[authzid] NUL authcid NUL password" in UTF-8')
    const {auth} = this.context
    let username: string
    try {
      username = this.context.normalizeUsername(stripHost(message.authcid, auth.host))
    } catch {
      return fail('not-authorized', 'the authentication identity is not a valid username')
    }

    const outcome = await auth.checkPassword(username, message.password)
    switch (outcome.result) {
      case 'accepted': {
        break
      }

      case 'disabled': {
        return fail('account-disabled', outcome.reason)
      }

      case 'unavailable': {
        return fail('temporary-auth-failure', outcome.reason)
      }

      default: {
        return fail('not-authorized', outcome.reason)
      }
    }

    // RFC 6120 §6.3.8: an authzid must be the bare JID of the authenticated user.
    if (message.authzid !== '' && !sameBareJid(message.authzid, username, auth.host, this.context.normalizeUsername)) {
      return fail('invalid-authzid', 'the authorization identity is not the authenticated user\'s JID')
    }

    return {
      type: 'success',
      username,
      ...(message.authzid === '' ? {} : {authzid: message.authzid}),
      ...(outcome.method === undefined ? {} : {method: outcome.method}),
    }
  }
}

/** Some clients send `user@host` as authcid; accept it for this host only. */
export function stripHost(authcid: string, host: string): string {
  const at = authcid.lastIndexOf('@')
  if (at === -1) return authcid
  return authcid.slice(at + 1).toLowerCase() === host ? authcid.slice(0, at) : authcid
}

function sameBareJid(authzid: string, username: string, host: string, normalize: (name: string) => string): boolean {
  const at = authzid.lastIndexOf('@')
  if (at === -1 || authzid.includes('/')) return false
  if (authzid.slice(at + 1).toLowerCase().replace(/\.$/, '') !== host) return false
  try {
    return normalize(authzid.slice(0, at)) === username
  } catch {
    return false
  }
}

export const PLAIN: MechanismDefinition = {
  name: 'PLAIN',
  needs: {kind: 'plain'},
  channelBinding: false,
  create: (context) => new PlainSession(context),
}
