/**
 * mod_register: the parts of in-band registration (XEP-0077) that concern
 * an account already logged in: reading its registration (§3.1, answered
 * with <registered/>), changing its password (§3.3) and removing it (§3.2).
 * Registering new accounts stays off, so the pre-authentication stream
 * feature (§4) is not advertised.
 *
 * A new password goes through the same credential code as `xmppctl user
 * passwd` (src/accounts: SASLprep, every configured SCRAM hash, the
 * configured iteration count, never lowered). As in Prosody, the account's
 * other sessions end (stream error `reset`) and cached logins drop, so no
 * session stays logged in with the old password; the session that changed
 * it continues. Passwords never reach a log or an error text.
 */
import {replacePassword} from '../../accounts/index.js'
import {AccountAbsentError, PasswordError} from '../../errors.js'
import {normalizeLocalpart} from '../../jid/index.js'
import type {C2sSession} from '../c2s.js'
import {NS} from '../../xml/namespaces.js'
import {errorReply, iqResult} from '../stanza.js'
import {x} from '../../xml/element.js'
import type {IqRequest, ModuleContext, ServerModule} from './types.js'

export interface RegisterOptions {
  /** Minimum entropy in bits of a new password (ejabberd's password_strength); 0 accepts any non-empty one. */
  passwordStrength: number
  /** Whether a user may remove their own account (ejabberd's access_remove: all). */
  allowRemove: boolean
}

/**
 * A password's entropy as ejabberd computes it (ejabberd_auth:entropy, used
 * by its password_strength): the length in bytes times log2 of the size of
 * the character classes present (lower case 26, digits 10, upper case 26,
 * other printable ASCII 33, anything else 128). ejabberd counts digits as 9;
 * the true 10 moves a threshold by a fraction of a bit.
 */
export function passwordEntropy(password: string): number {
  const bytes = Buffer.from(password, 'utf8')
  if (bytes.length === 0) return 0
  const classes = {lower: 0, digit: 0, upper: 0, printable: 0, other: 0}
  for (const byte of bytes) {
    if (byte >= 0x61 && byte <= 0x7a) classes.lower = 26
    else if (byte >= 0x30 && byte <= 0x39) classes.digit = 10
    else if (byte >= 0x41 && byte <= 0x5a) classes.upper = 26
    else if (byte >= 0x21 && byte <= 0x7e) classes.printable = 33
    else classes.other = 128
  }

  const alphabet = classes.lower + classes.digit + classes.upper + classes.printable + classes.other
  return bytes.length * Math.log2(alphabet)
}

export function createRegisterModule(context: ModuleContext, options: RegisterOptions): ServerModule {
  const jidOf = (session: C2sSession) => ({jid: session.bareJid, host: session.host!, username: session.username!})

  /** §3.1: a registered entity asking for the form learns it is registered, and under which username. */
  const get = ({session, stanza}: IqRequest): void => {
    session.send(iqResult(stanza, undefined, x('query', NS.register, {}, x('registered', NS.register), x('username', NS.register, {}, session.username!), x('password', NS.register))))
  }

  const set = async (request: IqRequest): Promise<void> => {
    const {session, stanza, query, domain} = request
    // Only the account's own server holds its registration; another host of ours is another service.
    if (domain !== session.host) return session.send(errorReply(stanza, 'not-allowed', undefined, 'only your own server can change your registration'))
    if (query.getChild('remove', NS.register)) return remove(request)

    const username = query.getChildText('username', NS.register)
    const password = query.getChildText('password', NS.register)
    if (username === undefined || password === undefined) return session.send(errorReply(stanza, 'bad-request', undefined, 'a password change needs <username/> and <password/>'))
    if (!isOwnUsername(username, session)) {
      // Registration of new accounts is off: a username other than one's own is never a change this session may make.
      return session.send(errorReply(stanza, 'not-allowed', undefined, "changing another account's password is not allowed"))
    }

    if (password === '') return session.send(errorReply(stanza, 'bad-request', undefined, 'the password is empty'))
    if (passwordEntropy(password) < options.passwordStrength) return session.send(errorReply(stanza, 'not-acceptable', undefined, 'the password is too weak: make it longer, or mix letters, digits and symbols'))
    const settings = context.hostSettings(session.host!)
    // auth_method without internal: the password lives in LDAP, PAM, … which this server does not write.
    if (!settings.auth_method.includes('internal')) return session.send(errorReply(stanza, 'not-allowed', undefined, 'passwords of this server are not kept here; change yours where it is kept'))

    const account = jidOf(session)
    try {
      await replacePassword(context.accounts, settings, account, password)
    } catch (error) {
      // PasswordError texts name characters or emptiness, never the password itself.
      if (error instanceof PasswordError) return session.send(errorReply(stanza, 'not-acceptable', undefined, error.message))
      if (error instanceof AccountAbsentError) return session.send(errorReply(stanza, 'not-allowed', undefined, 'this account is not kept in the internal store'))
      throw error
    }

    session.send(iqResult(stanza, undefined))
    const closed = context.accountChanged({type: 'password-changed', jid: account.jid}, session)
    context.logger.info(`${session.fullJid} changed its password in-band (XEP-0077); ${closed} other session(s) closed`)
  }

  /** §3.2: the account and all its data go; then every session of it ends, the requester's after its answer. */
  const remove = async ({session, stanza}: IqRequest): Promise<void> => {
    if (!options.allowRemove) return session.send(errorReply(stanza, 'forbidden', undefined, 'removing accounts in-band is switched off on this server (mod_register access_remove)'))
    const account = jidOf(session)
    if (!(await context.accounts.deleteAccount(account.host, account.username))) {
      return session.send(errorReply(stanza, 'not-allowed', undefined, 'this account is not kept in the internal store'))
    }

    session.send(iqResult(stanza, undefined))
    const closed = context.accountChanged({type: 'user-deleted', jid: account.jid})
    context.logger.info(`${account.jid} removed its account in-band (XEP-0077); ${closed} session(s) closed`)
  }

  return {
    name: 'mod_register',
    features: [NS.register],
    iq: [
      {ns: NS.register, name: 'query', types: ['get'], to: ['server', 'own'], handle: get},
      {ns: NS.register, name: 'query', types: ['set'], to: ['server', 'own'], handle: set},
    ],
  }
}

/** The username as the session's, after the same normalisation as logins (RFC 7622 §3.3). */
function isOwnUsername(username: string, session: C2sSession): boolean {
  try {
    return normalizeLocalpart(username) === session.username
  } catch {
    return false
  }
}
