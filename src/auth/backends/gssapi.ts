/**
 * The gssapi backend: Kerberos single sign-on through SASL GSSAPI (RFC 4752).
 * It checks no password; it says whether GSSAPI can be offered (a keytab the
 * server's user can read, no one else can, holding an AES or Camellia key for
 * gssapi_service_name/HOST@REALM, and an acceptor credential MIT's library
 * accepts), runs the acceptor (src/auth/gssapi/helper.ts), and maps a client
 * principal to a local account. Accounts live in the account store (`user
 * add`, or another backend of the chain that knows them).
 *
 * Whether GSSAPI can be offered is decided once per backend: the server
 * builds its backends at start and again on reload, so the keytab is checked
 * then, and why it is not offered is logged once.
 */
import path from 'node:path'

import {type SystemUser, currentUser} from '../../system.js'
import {normalizeLocalpart} from '../../jid/index.js'
import type {AccountStore} from '../../store/index.js'
import type {AuthLog} from '../chain.js'
import type {AuthOutcome} from '../../sasl/session.js'
import {HelperGssAcceptor, defaultGssapiHelper, gssapiHelperProblem} from '../gssapi/helper.js'
import {inspectKeytab} from '../gssapi/keytab.js'
import type {AuthBackend, BackendCapabilities} from '../types.js'
import {unsupported} from './unsupported.js'

/** MIT's default keytab, as krb5.conf's default_keytab_name has it. */
export const DEFAULT_KEYTAB = '/etc/krb5.keytab'

export interface GssapiOptions {
  host: string
  service: string
  realm?: string
  keytab: string
  /** Principals mapped to usernames besides user@realm → user (`gssapi_principal_map`). */
  principalMap: Record<string, string>
  store: AccountStore
  log: AuthLog
  helper?: string
  /** Whose access to the keytab counts: the server's user, this process's by default (test-auth --as). */
  user?: SystemUser
}

export interface Readiness {
  ready: boolean
  why: string
  /** The server's principal as the keytab holds it, when ready. */
  principal?: string
}

export function gssapiOptions(settings: {host: string; gssapi_service_name: string; gssapi_realm?: string; gssapi_keytab?: string; gssapi_principal_map: Record<string, string>}, baseDir: string, store: AccountStore, log: AuthLog, helper?: string): GssapiOptions {
  return {
    host: settings.host,
    service: settings.gssapi_service_name,
    realm: settings.gssapi_realm,
    keytab: settings.gssapi_keytab === undefined ? DEFAULT_KEYTAB : path.resolve(baseDir, settings.gssapi_keytab),
    principalMap: settings.gssapi_principal_map,
    store,
    log,
    helper,
  }
}

/**
 * The local username of a client principal, or why it has none: an entry of
 * `map` first, else `user@REALM` → `user` when REALM is the server's realm.
 * Instances (`user/admin@REALM`) and other realms map only through `map`.
 */
export function mapPrincipal(principal: string, realm: string, map: Readonly<Record<string, string>>): {username: string} | {reason: string} {
  const mapped = Object.hasOwn(map, principal) ? map[principal] : undefined
  const at = principal.lastIndexOf('@')
  const name = at === -1 ? principal : principal.slice(0, at)
  const principalRealm = at === -1 ? '' : principal.slice(at + 1)
  let candidate: string
  if (mapped !== undefined) candidate = mapped
  else if (principalRealm !== realm) return {reason: `${principal} is of realm ${principalRealm || '(none)'}, not ${realm}, and gssapi_principal_map does not name it`}
  else if (name.includes('/')) return {reason: `${principal} is an instance principal, and gssapi_principal_map does not name it`}
  else candidate = name
  let username: string
  try {
    username = normalizeLocalpart(candidate)
  } catch {
    return {reason: `${principal} maps to "${candidate}", which is not a valid username`}
  }

  // Kerberos names are case-sensitive (RFC 4120 §6.2) and JID localparts are not: by the default rule
  // only a name already in its JID form maps, so that Alice@REALM and alice@REALM never share an account.
  if (mapped === undefined && username !== candidate) return {reason: `${principal} is not a username in its normal form (${username}), and gssapi_principal_map does not name it`}
  return {username}
}

export class GssapiBackend implements AuthBackend {
  readonly method = 'gssapi' as const
  readonly cacheable = false
  readonly options: GssapiOptions
  private readiness: Promise<Readiness> | undefined
  private acceptorInstance: HelperGssAcceptor | undefined

  constructor(options: GssapiOptions) {
    this.options = options
  }

  /** Whether GSSAPI can be offered, decided once (at start, at reload) and logged once. */
  async ready(): Promise<Readiness> {
    this.readiness ??= this.decide().then((readiness) => {
      const {host} = this.options
      if (readiness.ready) this.options.log.info(`auth ${host}: GSSAPI offered: ${readiness.why}`)
      else this.options.log.warn(`auth ${host}: GSSAPI not offered: ${readiness.why}`)
      return readiness
    })
    return this.readiness
  }

  private async decide(): Promise<Readiness> {
    const {keytab, service, host, realm} = this.options
    const helper = this.options.helper ?? defaultGssapiHelper()
    const problem = gssapiHelperProblem(helper)
    if (problem) return {ready: false, why: problem}
    const verdict = await inspectKeytab({keytab, service, host, realm, user: this.options.user ?? currentUser(), strict: true})
    if (!verdict.ok) return {ready: false, why: `${verdict.detail}${verdict.cause ? ` (${verdict.cause})` : ''}; fix: ${verdict.fix}`}
    const acceptor = new HelperGssAcceptor({principal: verdict.principal, keytab, helper, onStderr: (line) => this.options.log.warn(`auth ${host}: ${line}`)})
    try {
      await acceptor.check()
    } catch (error) {
      await acceptor.close()
      return {ready: false, why: `MIT Kerberos cannot use ${keytab} for ${verdict.principal}: ${error instanceof Error ? error.message : String(error)}`}
    }

    this.acceptorInstance = acceptor
    return {ready: true, why: `${keytab} holds ${verdict.principal} (${verdict.strong.map(({enctype}) => enctype).join(', ')})`, principal: verdict.principal}
  }

  /** The acceptor, once `ready()` said yes. */
  get acceptor(): HelperGssAcceptor | undefined {
    return this.acceptorInstance
  }

  /** The realm users must be of to map by the default rule: gssapi_realm, else the keytab principal's. */
  realm(readiness: Readiness): string {
    return this.options.realm ?? readiness.principal!.slice(readiness.principal!.lastIndexOf('@') + 1)
  }

  map(principal: string, readiness: Readiness): {username: string} | {reason: string} {
    return mapPrincipal(principal, this.realm(readiness), this.options.principalMap)
  }

  async capabilities(): Promise<BackendCapabilities> {
    const {ready, why} = await this.ready()
    return {plain: false, scram: [], anonymous: false, gssapi: {ready, why}}
  }

  async checkPassword(): Promise<AuthOutcome> {
    return {result: 'unsupported', reason: 'the gssapi backend checks Kerberos tickets (SASL GSSAPI), not passwords'}
  }

  async getScramCredentials(): Promise<never> {
    throw unsupported(this.method, 'serve SCRAM: Kerberos users log in with SASL GSSAPI')
  }

  /** Kerberos principals are mapped onto accounts of the store (`user add`). */
  async userExists(username: string): Promise<boolean> {
    return this.options.store.accountExists(this.options.host, username)
  }

  async setPassword(): Promise<never> {
    throw unsupported(this.method, 'set passwords', 'change the password in Kerberos (kpasswd, kadmin cpw)')
  }

  async createUser(): Promise<never> {
    throw unsupported(this.method, 'create accounts', 'create the principal with kadmin and the account with "xmppctl user add"')
  }

  async removeUser(): Promise<never> {
    throw unsupported(this.method, 'remove accounts', 'remove the principal with kadmin')
  }

  async close(): Promise<void> {
    await this.acceptorInstance?.close()
  }
}
