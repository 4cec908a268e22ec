/**
 * The ldap backend, with ejabberd's option names: bind-as-user password
 * checks (bind with the service account `ldap_rootdn`, search `ldap_base` for
 * the user's entry, bind as that entry with the password) and user existence
 * (the same search), over a pool of `ldap_pool_size` connections. The LDAP
 * protocol itself is ldapts's; this file only decides what to ask.
 *
 * The user's name goes into the filter escaped as RFC 4515 §3 requires, and a
 * password is never part of an error or a log line.
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'
import type {ConnectionOptions} from 'node:tls'

import type {Client, SearchOptions} from 'ldapts'

import type {HostSettings} from '../../config/index.js'
import {readSecretFile} from '../../config/secret-file.js'
import {ConfigError, UnavailableError} from '../../errors.js'
import type {AuthLog} from '../chain.js'
import type {AuthOutcome} from '../../sasl/session.js'
import type {AuthBackend, BackendCapabilities} from '../types.js'
import {unsupported} from './unsupported.js'

export type LdapEncrypt = 'none' | 'starttls' | 'tls'
export type LdapTlsVerify = 'false' | 'soft' | 'hard'
export type LdapDeref = 'never' | 'searching' | 'finding' | 'always'

export interface LdapOptions {
  host: string
  servers: string[]
  port: number
  encrypt: LdapEncrypt
  tlsVerify: LdapTlsVerify
  caFile?: string
  rootDn: string
  /** The service account's password, or where to read it (a 0600 file); read on first use. */
  password: {value: string} | {file: string} | undefined
  base: string
  /** Attribute and pattern (`%u` the user, `%d` the host), ORed (ejabberd's ldap_uids). */
  uids: Array<{attribute: string; pattern: string}>
  /** An extra RFC 4515 filter the entry must match (ldap_filter). */
  filter?: string
  /** ldap_dn_filter: a second search the entry must pass, with %u, %d, %D (the DN) and %s (the attributes' values). */
  dnFilter?: {filter: string; attributes: string[]}
  derefAliases: LdapDeref
  poolSize: number
  /** Milliseconds per operation, and to connect. */
  timeout: number
  connectTimeout: number
  log?: AuthLog
}

/** The options of one host, with relative paths resolved against `baseDir`. */
export function ldapOptions(settings: HostSettings, baseDir: string, log?: AuthLog): LdapOptions {
  const resolve = (file: string) => path.resolve(baseDir, file)
  const dnFilter = settings.ldap_dn_filter ? Object.entries(settings.ldap_dn_filter)[0] : undefined
  return {
    host: settings.host,
    servers: settings.ldap_servers,
    port: settings.ldap_port ?? (settings.ldap_encrypt === 'tls' ? 636 : 389),
    encrypt: settings.ldap_encrypt,
    tlsVerify: settings.ldap_tls_verify,
    ...(settings.ldap_tls_cacertfile ? {caFile: resolve(settings.ldap_tls_cacertfile)} : {}),
    rootDn: settings.ldap_rootdn,
    password: settings.ldap_password_file ? {file: resolve(settings.ldap_password_file)} : settings.ldap_password === undefined ? undefined : {value: settings.ldap_password},
    base: settings.ldap_base ?? '',
    uids: Object.entries(settings.ldap_uids).map(([attribute, pattern]) => ({attribute, pattern})),
    ...(settings.ldap_filter ? {filter: settings.ldap_filter} : {}),
    ...(dnFilter ? {dnFilter: {filter: dnFilter[0], attributes: dnFilter[1]}} : {}),
    derefAliases: settings.ldap_deref_aliases,
    poolSize: settings.ldap_pool_size,
    timeout: settings.ldap_timeout * 1000,
    connectTimeout: settings.ldap_connect_timeout * 1000,
    ...(log ? {log} : {}),
  }
}

/** Escapes an assertion value as RFC 4515 §3 requires (`*`, `(`, `)`, `\`, NUL become `\XX`): ldapts's Filter.escape. */
export type Escape = (value: string) => string

/** ldapts's escaping, loaded with ldapts itself on first use. */
export async function filterEscape(): Promise<Escape> {
  const {Filter} = await import('ldapts')
  return (value) => Filter.escape(value)
}

/** `%u` is the (escaped) user, `%d` the host; `%%` a percent sign. */
function expand(pattern: string, values: Record<string, string>): string {
  return pattern.replace(/%([a-zA-Z%])/g, (whole, letter: string) => (letter === '%' ? '%' : (values[letter] ?? whole)))
}

/** The search filter for `username`: any of ldap_uids, and ldap_filter when set. */
export function userFilter(options: Pick<LdapOptions, 'uids' | 'filter' | 'host'>, username: string, escape: Escape): string {
  const values = {u: escape(username), d: escape(options.host)}
  const uids = options.uids.map(({attribute, pattern}) => `(${attribute}=${expand(pattern, values)})`)
  const any = uids.length === 1 ? uids[0] : `(|${uids.join('')})`
  if (!options.filter) return any
  const extra = options.filter.startsWith('(') ? options.filter : `(${options.filter})`
  return `(&${any}${extra})`
}

/** The ldap_dn_filter search for an entry found, or undefined without one. */
export function dnFilterFor(options: Pick<LdapOptions, 'dnFilter' | 'host'>, username: string, dn: string, attributes: Record<string, string[]>, escapeFilterValue: Escape): string | undefined {
  if (!options.dnFilter) return undefined
  const first = options.dnFilter.attributes.map((name) => attributes[name]?.[0]).find((value) => value !== undefined)
  return expand(options.dnFilter.filter, {u: escapeFilterValue(username), d: escapeFilterValue(options.host), D: escapeFilterValue(dn), s: escapeFilterValue(first ?? '')})
}

/** The URL of `server` (a host name or address) with the configured scheme and port. */
export function serverUrl(options: Pick<LdapOptions, 'encrypt' | 'port'>, server: string): string {
  const hostPart = server.includes(':') && !server.startsWith('[') ? `[${server}]` : server
  return `${options.encrypt === 'tls' ? 'ldaps' : 'ldap'}://${hostPart}:${options.port}`
}

/** Node's TLS options for ldap_tls_verify and ldap_tls_cacertfile. */
export function tlsOptions(options: Pick<LdapOptions, 'tlsVerify' | 'caFile'>, server: string): ConnectionOptions {
  const verify = options.tlsVerify === 'hard'
  return {
    rejectUnauthorized: verify,
    minVersion: 'TLSv1.2',
    ...(options.caFile ? {ca: readFileSync(options.caFile)} : {}),
    // An address names itself; SNI takes only names (RFC 6066 §3).
    ...(/^[\d.]+$|:/.test(server) ? {} : {servername: server}),
  }
}

/** The service account's password: the configured value, or the first line of a 0600 file. */
export function servicePassword(options: Pick<LdapOptions, 'password'>): string {
  const source = options.password
  if (!source) return ''
  if ('value' in source) return source.value
  return readSecretFile(source.file, 'ldap_password_file', 'the LDAP service password')
}

export const DEREF: Record<LdapDeref, NonNullable<SearchOptions['derefAliases']>> = {never: 'never', searching: 'search', finding: 'find', always: 'always'}

/** An ldapts client for `server`, StartTLS done when configured. */
export async function openClient(options: LdapOptions, server: string): Promise<Client> {
  const {Client} = await import('ldapts')
  const tls = options.encrypt === 'none' ? undefined : tlsOptions(options, server)
  const client = new Client({
    url: serverUrl(options, server),
    timeout: options.timeout,
    connectTimeout: options.connectTimeout,
    ...(options.encrypt === 'tls' ? {tlsOptions: tls} : {}),
    strictDN: false,
  })
  if (options.encrypt === 'starttls') {
    try {
      await client.startTLS(tls!)
    } catch (error) {
      await client.unbind().catch(() => {})
      throw error
    }
  }

  return client
}

/** Result-code errors of ldapts (an LDAP answer), as opposed to a broken connection. */
export function resultCode(error: unknown): number | undefined {
  const code = (error as {code?: unknown} | undefined)?.code
  return typeof code === 'number' ? code : undefined
}

/** LDAP result codes (RFC 4511 §4.1.9) the backend tells apart. */
export const LDAP_RESULT = {noSuchObject: 32, invalidCredentials: 49, sizeLimitExceeded: 4, unwillingToPerform: 53, confidentialityRequired: 13} as const

interface Slot {
  client: Client | undefined
}

/** `poolSize` connections, each used by one check at a time: a user bind changes who the connection is bound as. */
class LdapPool {
  private readonly idle: Slot[] = []
  private readonly waiters: Array<(slot: Slot) => void> = []
  private closed = false

  /** `prepare` runs on each new connection (the service bind): it makes ldapts connect, so a dead server is skipped. */
  constructor(
    private readonly options: LdapOptions,
    private readonly prepare: (client: Client) => Promise<void>,
  ) {
    for (let index = 0; index < options.poolSize; index++) this.idle.push({client: undefined})
  }

  async use<T>(work: (client: Client) => Promise<T>): Promise<T> {
    if (this.closed) throw new UnavailableError('the ldap backend is closed')
    const slot = this.idle.pop() ?? (await new Promise<Slot>((resolve) => this.waiters.push(resolve)))
    try {
      slot.client ??= await this.connect()
      try {
        return await work(slot.client)
      } catch (error) {
        // An LDAP answer leaves the connection usable; anything else (timeout, reset) does not.
        if (resultCode(error) === undefined) {
          const broken = slot.client
          slot.client = undefined
          await broken.unbind().catch(() => {})
        }

        throw error
      }
    } finally {
      const next = this.waiters.shift()
      if (next) next(slot)
      else this.idle.push(slot)
    }
  }

  /** The first of ldap_servers that answers. */
  private async connect(): Promise<Client> {
    const problems: string[] = []
    for (const server of this.options.servers) {
      let client: Client | undefined
      try {
        client = await openClient(this.options, server)
        await this.prepare(client)
        return client
      } catch (error) {
        await client?.unbind().catch(() => {})
        // An LDAP answer (wrong service password, …) is this server's verdict, not its absence.
        if (resultCode(error) !== undefined) throw error
        problems.push(`${serverUrl(this.options, server)}: ${describeLdapError(error)}`)
      }
    }

    throw new UnavailableError(`no LDAP server of ${this.options.host} could be reached (${problems.join('; ')})`, 'run "xmppctl test-auth ldap" for the cause')
  }

  async close(): Promise<void> {
    this.closed = true
    const slots = this.idle.splice(0)
    await Promise.allSettled(slots.map((slot) => slot.client?.unbind()))
  }
}

/** One line for an ldapts or socket error, never including what was sent. */
export function describeLdapError(error: unknown): string {
  const code = (error as {code?: unknown} | undefined)?.code
  const message = error instanceof Error ? error.message : String(error)
  return typeof code === 'string' && !message.includes(code) ? `${code} ${message}` : message
}

export interface UserEntry {
  dn: string
  attributes: Record<string, string[]>
}

export class LdapBackend implements AuthBackend {
  readonly method = 'ldap' as const
  readonly cacheable = true
  readonly options: LdapOptions
  private readonly pool: LdapPool
  private password: string | undefined
  private escape: Escape | undefined
  /** Connections bound as the service account since their last user bind. */
  private readonly asService = new WeakSet<Client>()

  constructor(options: LdapOptions) {
    this.options = options
    this.pool = new LdapPool(options, (client) => this.serviceBind(client))
  }

  async capabilities(): Promise<BackendCapabilities> {
    // LDAP checks a plaintext password by binding with it: PLAIN only, never SCRAM.
    if (!this.options.base) return {plain: false, scram: [], anonymous: false, unavailable: 'ldap_base is not set'}
    return {plain: true, scram: [], anonymous: false}
  }

  /**
   * Binds `client` as the service unless it still is: a user's bind (accepted
   * or not, RFC 4511 §4.2.1) or ldapts's silent reconnection (isBound false)
   * ends that. An anonymous service (no ldap_rootdn) binds anonymously.
   */
  private async serviceBind(client: Client): Promise<void> {
    if (this.asService.has(client) && client.isBound) return
    this.password ??= servicePassword(this.options)
    await client.bind(this.options.rootDn, this.options.rootDn ? this.password : '')
    this.asService.add(client)
  }

  /** The user's entries (service bound on `client`). */
  async findUser(client: Client, username: string): Promise<UserEntry[]> {
    await this.serviceBind(client)
    const escape = (this.escape ??= await filterEscape())
    const attributes = this.options.dnFilter?.attributes ?? []
    const {searchEntries} = await client.search(this.options.base, {
      scope: 'sub',
      filter: userFilter(this.options, username, escape),
      attributes: attributes.length > 0 ? attributes : ['1.1'],
      derefAliases: DEREF[this.options.derefAliases],
      sizeLimit: 2,
      timeLimit: Math.ceil(this.options.timeout / 1000),
    }).catch((error: unknown) => {
      // More than the two entries asked for: ambiguous all the same (RFC 4511 §4.5.1.5).
      if (resultCode(error) === LDAP_RESULT.sizeLimitExceeded) return {searchEntries: [{dn: '(more than one)'}, {dn: '(more than one)'}]}
      throw error
    })
    const entries = searchEntries.map((entry) => ({
      dn: entry.dn,
      attributes: Object.fromEntries(Object.entries(entry).filter(([name]) => name !== 'dn').map(([name, value]) => [name, (Array.isArray(value) ? value : [value]).map(String)])),
    }))
    if (entries.length !== 1) return entries
    const dnFilter = dnFilterFor(this.options, username, entries[0].dn, entries[0].attributes, escape)
    if (dnFilter === undefined) return entries
    const {searchEntries: passed} = await client.search(this.options.base, {scope: 'sub', filter: dnFilter, attributes: ['1.1'], sizeLimit: 1, derefAliases: DEREF[this.options.derefAliases]})
    return passed.length > 0 ? entries : []
  }

  async checkPassword(username: string, password: string): Promise<AuthOutcome> {
    // RFC 4513 §5.1.2: a simple bind with an empty password is an unauthenticated bind, which succeeds.
    if (password.length === 0) return {result: 'rejected', reason: 'an empty password is never checked against LDAP (RFC 4513 §5.1.2)'}
    try {
      return await this.pool.use(async (client) => {
        const entries = await this.findUser(client, username)
        const filter = userFilter(this.options, username, this.escape!)
        if (entries.length === 0) return {result: 'rejected', reason: `no entry under ${this.options.base} matches ${filter}`}
        if (entries.length > 1) return {result: 'rejected', reason: `more than one entry under ${this.options.base} matches ${filter}`}
        try {
          this.asService.delete(client)
          await client.bind(entries[0].dn, password)
          return {result: 'accepted'}
        } catch (error) {
          if (resultCode(error) === LDAP_RESULT.invalidCredentials) return {result: 'rejected', reason: `the LDAP server refused the bind as ${entries[0].dn} (invalid credentials)`}
          throw error
        }
      })
    } catch (error) {
      return {result: 'unavailable', reason: this.unavailableReason(error)}
    }
  }

  async userExists(username: string): Promise<boolean> {
    try {
      return await this.pool.use(async (client) => (await this.findUser(client, username)).length === 1)
    } catch (error) {
      throw new UnavailableError(this.unavailableReason(error))
    }
  }

  private unavailableReason(error: unknown): string {
    if (error instanceof UnavailableError || error instanceof ConfigError) return error.message
    if (resultCode(error) === LDAP_RESULT.invalidCredentials) return `the LDAP server refused the service bind as ${this.options.rootDn || '(anonymous)'}: check ldap_rootdn and ldap_password`
    if (resultCode(error) === LDAP_RESULT.noSuchObject) return `ldap_base ${this.options.base} does not exist on the LDAP server`
    return `LDAP: ${describeLdapError(error)}`
  }

  async getScramCredentials(): Promise<never> {
    throw unsupported(this.method, 'serve SCRAM: an LDAP directory checks a plaintext password by a bind')
  }

  async setPassword(): Promise<never> {
    throw unsupported(this.method, 'set passwords', 'change the password in the directory (ldappasswd)')
  }

  async createUser(): Promise<never> {
    throw unsupported(this.method, 'create accounts', 'add the entry to the directory')
  }

  async removeUser(): Promise<never> {
    throw unsupported(this.method, 'remove accounts', 'remove the entry from the directory')
  }

  async close(): Promise<void> {
    await this.pool.close()
  }
}
