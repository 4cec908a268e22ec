/**
 * The bundled XMPP server: listeners (plain with STARTTLS, and direct TLS
 * per XEP-0368 with ALPN `xmpp-client`, SNI choosing the host's
 * certificate), c2s sessions, the router and the IM core, over the account
 * store and authentication of src/auth. `reload` swaps configuration,
 * certificates and authenticators without dropping sessions.
 */
import {readFileSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'

import type {HostAuthenticator} from '../auth/types.js'
import type {Configuration, HostSettings, Settings} from '../config/index.js'
import {CLUSTER_KEYS, STORE_KEYS} from '../config/index.js'
import {ExitCode, XmppctlError, osErrorText} from '../errors.js'
import {projectRoot} from '../paths.js'
import {optionDefaults} from '../config/modules.js'
import {openAccountDataStore, openAccountStore, openArchiveStore, openPepStore, openRoomStore} from '../store/index.js'
import type {AccountStore} from '../store/account-store.js'
import type {PepStore} from '../store/pep-store.js'
import {type Allocator, activeAllocator} from './allocator.js'
import {type RoomAdminRequest, type RoomAdminResult, type RoomSummary, byJid} from './muc/admin.js'
import type {MucModule} from './modules/muc.js'
import type {RoomStore} from '../store/room-store.js'
import type {ArchiveStore} from '../store/archive-store.js'
import type {AccountDataStore} from '../store/account-data-store.js'
import {tlsPolicyOptions} from '../tls/policy.js'
import {C2sSession, DEFAULT_SESSION_LIMITS, type HandOff, type ListenerSettings, type ResumeRefusal, type SessionHost, type SessionLimits, type SessionTransport} from './c2s.js'
import {BoshEndpoint} from './bosh.js'
import {HttpRoutes} from './http.js'
import {uploadHandler} from './upload-http.js'
import {UploadStore} from './upload-store.js'
import {type HostCertificate, type SelfSignedGenerator, loadCertificates, tlsSelfSigned} from './certificates.js'
import {ServerCore} from './core.js'
import {type ModuleLimits, enabledModules} from './modules/index.js'
import {streamManagementLimits} from './modules/stream-mgmt.js'
import {resumptionId} from './stream-management.js'
import {type Logger, silentLogger} from './log.js'
import {Router} from './router.js'
import type {Cluster, ClusterOptions, ClusterRouter, ClusterStatus} from './cluster.js'
import {type S2sConnectionInfo, type S2sHost, S2sManager} from './s2s.js'
import type {ShaperRate} from './shaper.js'
import {AuthThrottle, type ThrottleLimits, addressKey} from './throttle.js'
import type {Element} from '../xml/element.js'

export type AuthenticatorFactory = (config: Configuration, store: AccountStore) => Promise<Map<string, HostAuthenticator>>

export interface ServerOptions {
  logger?: Logger
  limits?: Partial<SessionLimits>
  /** Module limits, over what the configuration sets (max_roster_items, max_user_offline_messages, …). */
  moduleLimits?: Partial<ModuleLimits>
  /** Builds one authenticator per host; defaults to src/auth. */
  authenticators?: AuthenticatorFactory
  /** Makes the self-signed certificate of a host without `certfiles`. */
  generateCertificate?: SelfSignedGenerator
  /** Authentication limits over those of the configuration (c2s_max_auth_failures, c2s_auth_ban_*). */
  throttle?: Partial<ThrottleLimits>
  /** With sm_db_type: redis: how this node joins (a worker restarted by its supervisor takes its name over), and the cluster's timings (tests shorten them). */
  cluster?: ClusterOptions
}

export interface ListenerStatus {
  ip: string
  port: number
  tls: boolean
  starttls: ListenerSettings['starttls']
  module: 'c2s' | 's2s' | 'http'
  /** An http listener's paths and what each serves. */
  requestHandlers?: Record<string, string>
}

export interface ServerStatus {
  running: true
  pid: number
  uptime: number
  startedAt: string
  config: string | null
  dataDir: string
  listeners: ListenerStatus[]
  sessions: Record<string, number>
  connections: number
  /** Server-to-server streams, incoming and outgoing (federation). */
  s2s: number
  /** Addresses refused for their failed authentications (the latest 50). */
  bans: Array<{address: string; failures: number; until: string}>
  /** Accounts past their all-addresses ceiling: only addresses they logged in from may try (the latest 50). */
  restrictedAccounts: Array<{account: string; failures: number; until: string}>
  /** With sm_db_type: redis, every node of the cluster as Redis knows it. */
  cluster?: ClusterStatus
  /** The malloc this process runs on (memory_allocator), and its memory in KiB: RSS, the JavaScript heap, and memory held for JavaScript objects outside it. */
  memory: {allocator: Allocator; rssKiB: number; heapTotalKiB: number; heapUsedKiB: number; externalKiB: number}
}

export type ServerEvent =
  | {type: 'user-deleted' | 'user-disabled' | 'password-changed'; jid: string}

/**
 * Keys read only at start: the listeners, where the data is (data_dir, the
 * store's connection) and the cluster's registry. A reload that changes one
 * says so rather than ignoring it.
 */
const RESTART_KEYS: ReadonlyArray<keyof Settings> = ['listen', 'data_dir', 'memory_allocator', ...STORE_KEYS, ...CLUSTER_KEYS]

export class ServerStartError extends XmppctlError {
  constructor(code: string, message: string, hint: string, cause?: unknown) {
    super(code, message, {hint, exitCode: ExitCode.unavailable, cause})
  }
}

const SOFTWARE_VERSION = (() => {
  try {
    return (JSON.parse(readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as {version: string}).version
  } catch {
    return 'unknown'
  }
})()

/** src/auth's factory, imported when the server starts so the CLI stays light. */
function defaultAuthenticators(logger: Logger): AuthenticatorFactory {
  return async (config, store) => {
    const {createHostAuthenticators} = await import('../auth/index.js')
    const authenticators = createHostAuthenticators(config, store, {log: logger})
    // Whether GSSAPI can be offered is decided (and logged) at start and at each reload, not at the first client's login.
    const gssapi = [...authenticators.values()].filter((authenticator) => authenticator.settings.auth_method.includes('gssapi'))
    await Promise.all(gssapi.map((authenticator) => authenticator.capabilities().catch(() => {})))
    return authenticators
  }
}

/** The session limits the configuration sets (ejabberd's key names where it has them). */
function limitsFromConfig(config: Configuration): Partial<SessionLimits> {
  const settings = config.settings
  return {
    maxStanzaBytes: settings.max_stanza_size,
    maxStanzaBytesUnauthenticated: settings.max_stanza_size_unauthenticated,
    authTimeoutMs: settings.c2s_auth_timeout * 1000,
    tlsHandshakeTimeoutMs: settings.c2s_tls_handshake_timeout * 1000,
    maxConnectionsPerAddress: settings.c2s_max_connections_per_ip,
    maxUnauthenticatedPerAddress: settings.c2s_max_unauthenticated_per_ip,
    maxUserSessions: settings.max_user_sessions,
    shaper: shaperRate(settings.shaper, settings.shaper_rules.c2s_shaper),
    ...(settings.modules.mod_stream_mgmt && streamManagementLimits(settings.modules.mod_stream_mgmt)),
  }
}

function shaperRate(shapers: Configuration['settings']['shaper'], name: string): ShaperRate | undefined {
  const shaper = name === 'none' ? undefined : shapers[name]
  return shaper ? {rate: shaper.rate, burstSize: shaper.burst_size} : undefined
}

function moduleLimitsFromConfig(config: Configuration): ModuleLimits {
  const settings = config.settings
  return {offlineMessages: settings.max_user_offline_messages, roster: {items: settings.max_roster_items, bytes: settings.max_roster_bytes}}
}

/** One address's connections, counted under the throttle's address key (IPv4-mapped as IPv4, IPv6 by /64). */
interface AddressUsage {
  open: number
  bound: number
}

/** The TLS options of s2s streams: ejabberd's s2s_ciphers and s2s_protocol_options over the tls policy. */
function s2sTlsOptions(config: Configuration): tls.SecureContextOptions {
  const policy = tlsPolicyOptions(config)
  const {s2s_ciphers: ciphers, s2s_protocol_options: options} = config.settings
  const versions = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const
  let minimum = versions.indexOf(policy.minVersion ?? 'TLSv1.2')
  for (const [option, version] of [['no_tlsv1', 1], ['no_tlsv1_1', 2], ['no_tlsv1_2', 3]] as const) if (options.includes(option)) minimum = Math.max(minimum, version)
  return {...policy, minVersion: versions[minimum], ...(ciphers ? {ciphers} : {}), ...(options.includes('cipher_server_preference') ? {honorCipherOrder: true} : {})}
}

export class XmppServer implements SessionHost {
  config: Configuration
  /** The settings the server started with: what RESTART_KEYS name still runs as these say, whatever reloads came since. */
  private readonly startSettings: Settings
  readonly logger: Logger
  readonly limits: SessionLimits
  readonly throttle: AuthThrottle
  /** The sessions: a ClusterRouter from start() on with sm_db_type: redis. */
  router: Router
  /** With sm_db_type: redis: this node of the cluster; undefined otherwise, and nothing of it runs. */
  private cluster: Cluster | undefined
  private readonly options: ServerOptions
  private readonly connections = new Set<C2sSession>()
  /** The BOSH endpoints of the http listeners, which another node of a cluster may hand a request to. */
  private readonly boshEndpoints: BoshEndpoint[] = []
  private readonly addresses = new Map<string, AddressUsage>()
  private readonly boundAddresses = new WeakMap<C2sSession, AddressUsage>()
  /** Sessions with XEP-0198 resumption, by resumption id. */
  private readonly resumableSessions = new Map<string, C2sSession>()
  /** Read once: a process cannot change its allocator. */
  private allocator: Allocator | undefined
  private moduleLimits: ModuleLimits
  private readonly servers: Array<{server: net.Server; settings: ListenerSettings; module: 'c2s' | 's2s' | 'http'; requestHandlers?: Record<string, string>}> = []
  /** Federation: on when the configuration has an s2s listener. */
  private s2s: S2sManager | undefined
  private s2sContexts = new Map<string, tls.SecureContext>()
  /** Unavailable presence being sent for sessions that ended. */
  private readonly sessionsEnding = new Set<Promise<void>>()
  private authenticators = new Map<string, HostAuthenticator>()
  private contexts = new Map<string, tls.SecureContext>()
  private hostSettingsCache = new Map<string, HostSettings>()
  private certificates = new Map<string, HostCertificate>()
  private accounts: AccountStore | undefined
  private accountData: AccountDataStore | undefined
  private pep: PepStore | undefined
  private rooms: RoomStore | undefined
  private archives: ArchiveStore | undefined
  private core: ServerCore | undefined
  private startedAt = 0
  private stopping: Promise<void> | undefined

  constructor(config: Configuration, options: ServerOptions = {}) {
    this.config = config
    this.startSettings = config.settings
    this.options = options
    this.logger = options.logger ?? silentLogger
    this.limits = {...DEFAULT_SESSION_LIMITS, ...limitsFromConfig(config), ...options.limits}
    this.moduleLimits = {...moduleLimitsFromConfig(config), ...options.moduleLimits}
    this.throttle = new AuthThrottle(this.throttleLimits(config))
    this.router = new Router()
  }

  private throttleLimits({settings}: Configuration): Partial<ThrottleLimits> {
    const configured: Partial<ThrottleLimits> = {
      addressFailures: settings.c2s_max_auth_failures,
      pairFailures: settings.c2s_max_auth_failures_per_account_address,
      accountFailures: settings.c2s_max_auth_failures_per_account,
      windowMs: settings.c2s_auth_ban_lifetime * 1000,
      knownForMs: settings.c2s_auth_known_address_lifetime * 1000,
      exempt: settings.c2s_auth_ban_exempt,
    }
    return {...configured, ...this.options.throttle}
  }

  // ---- lifecycle ----------------------------------------------------------

  async start(): Promise<ListenerStatus[]> {
    try {
      if (this.config.settings.sm_db_type === 'redis') await this.joinCluster()
      this.accounts = await openAccountStore(this.config, {verify: true})
      this.accountData = await openAccountDataStore(this.config)
      this.pep = await openPepStore(this.config)
      this.rooms = await openRoomStore(this.config)
      this.archives = await openArchiveStore(this.config, {
        onWriteError: (error, lost) => this.logger.error(`the message archive lost ${lost} message(s) it could not write: ${osErrorText(error)}`),
        onWriteDeferred: (error, held) => this.logger.warn(`the message archive could not write ${held} message(s) yet, it tries again in 1 s: ${osErrorText(error)}`),
      })
      await this.loadTls(this.config)
      this.authenticators = await (this.options.authenticators ?? defaultAuthenticators(this.logger))(this.config, this.accounts)
      // Modules are fixed at start: a reload changes their limits, not which modules run.
      const modules = enabledModules(this.config.settings.modules, () => this.moduleLimits)
      if (this.config.settings.listen.some((listener) => listener.module === 's2s')) this.s2s = new S2sManager(this.s2sHost(), await this.cluster?.sharedSecret('dialback'))
      const s2s = this.s2s
      this.core = new ServerCore(
        {
          hosts: () => this.config.hosts,
          router: this.router,
          accounts: this.accounts,
          accountData: this.accountData,
          pep: this.pep,
          rooms: this.rooms,
          archives: this.archives,
          logger: this.logger,
          softwareVersion: SOFTWARE_VERSION,
          dataDir: this.config.dataDir,
          listenerUrl: (handler, host) => this.listenerUrl(handler, host),
          startedAt: () => this.startedAt,
          hostSettings: (host) => this.hostSettings(host),
          accountChanged: (event, except) => this.notify(event, except).closed,
          cachedDataChanged: (account) => this.cluster?.accountDataChanged(account.bare),
          remote: s2s && {send: (stanza, bounce) => s2s.send(stanza, bounce)},
          services: this.cluster,
        },
        modules,
      )
      for (const listener of this.config.settings.listen) await this.listen(listener)
    } catch (error) {
      await this.shutdownResources()
      throw error
    }

    this.startedAt = Date.now()
    this.schedulePurge()
    const listeners = this.listenerStatus()
    for (const listener of listeners) {
      const detail = listener.module === 'http' ? `${listener.tls ? 'HTTPS' : 'HTTP'} ${Object.keys(listener.requestHandlers ?? {}).join(' ')}` : listener.tls ? 'direct TLS' : `STARTTLS ${listener.module === 's2s' ? this.config.settings.s2s_use_starttls : listener.starttls}`
      this.logger.info(`listening on ${listener.ip}:${listener.port} for ${listener.module} (${detail})`)
    }

    return listeners
  }

  /**
   * sm_db_type: redis: the Router becomes the cluster's, which routes to the
   * other nodes' sessions too; the node registers in Redis before any client
   * can bind, and loads the others' sessions after the core exists.
   */
  private async joinCluster(): Promise<void> {
    const {Cluster, ClusterRouter} = await import('./cluster.js')
    const router = new ClusterRouter()
    this.router = router
    this.cluster = new Cluster(this.config, router, {
      logger: this.logger,
      undeliverable: (stanza) => void this.core?.undeliverable(stanza).catch((error: unknown) => this.logger.error(`cluster: storing an undelivered message: ${String(error)}`)),
      remoteSessionEnded: (session) => void this.core?.remoteSessionEnded(session).catch((error: unknown) => this.logger.error(`cluster: presence after ${session.fullJid} left: ${String(error)}`)),
      remoteSessionEndedForOtherServers: (session) => void this.core?.remoteSessionEndedForOtherServers(session).catch((error: unknown) => this.logger.error(`cluster: presence to other servers after ${session.fullJid} left: ${String(error)}`)),
      accountEvent: (event) => this.notify(event, undefined, false),
      accountDataChanged: (bare) => {
        const at = bare.lastIndexOf('@')
        this.core?.accountDataChanged({host: bare.slice(at + 1), username: bare.slice(0, at), bare})
      },
      handOff: (id, h, account) => this.handOff(id, h, account),
      abandoned: (session, rebound) => C2sSession.endHandedOver(this, session, rebound),
      remoteSessionGone: (fullJid) => this.core?.remoteSessionGone(fullJid),
      serviceStanza: async (stanza, sender) => {
        await this.core?.forwardedToService(stanza, sender).catch((error: unknown) => this.logger.error(`cluster: <${stanza.name}/> to ${stanza.attrs.to}: ${String(error)}`))
      },
      serviceStanzaUnacknowledged: (stanza, sender) => void this.core?.serveAgain(stanza, sender).catch((error: unknown) => this.logger.error(`cluster: <${stanza.name}/> to ${stanza.attrs.to} again: ${String(error)}`)),
      nodeRequest: async (request) => {
        const {roomAdmin, bosh} = request as {roomAdmin?: RoomAdminRequest; bosh?: unknown}
        if (roomAdmin !== undefined) return this.roomAdmin(roomAdmin, {here: true})
        if (typeof bosh === 'string') {
          for (const endpoint of this.boshEndpoints) {
            const answer = endpoint.forwarded(bosh)
            if (answer) return answer
          }

          throw new XmppctlError('item-not-found', 'no BOSH session of that id is held here')
        }

        throw new XmppctlError('bad-request', 'this node does not know that request; are all nodes running the same version?')
      },
      adoptMoved: (session) => {
        if (this.stopping) return false
        const adopted = C2sSession.adoptDetached(this, session)
        if (adopted) this.connections.add(adopted)
        return adopted !== undefined
      },
    }, this.options.cluster)
    await this.cluster.start()
  }

  /** Every node of the cluster, read from Redis; undefined outside a cluster. */
  async clusterStatus(): Promise<ClusterStatus | undefined> {
    return this.cluster?.status()
  }

  private async loadTls(config: Configuration): Promise<void> {
    const certificates = await loadCertificates(config, this.options.generateCertificate ?? tlsSelfSigned)
    const contexts = new Map<string, tls.SecureContext>()
    const policy = tlsPolicyOptions(config)
    for (const [host, certificate] of certificates) {
      try {
        contexts.set(host, tls.createSecureContext({cert: certificate.cert, key: certificate.key, ...policy}))
      } catch (error) {
        throw new ServerStartError('certificate-invalid', `cannot use the certificate of ${host} from ${certificate.file}: ${osErrorText(error)}`, 'check that the key matches the certificate and the tls settings are valid')
      }

      this.logger.info(`certificate for ${host}: ${certificate.file}${certificate.selfSigned ? ' (self-signed)' : ''}, valid until ${certificate.notAfter.toISOString()}`)
    }

    this.certificates = certificates
    this.contexts = contexts
    this.s2sContexts = this.loadS2sContexts(config, certificates)
  }

  /** Each host's s2s context: s2s_certfile or the host's certificate, and the CAs of s2s_cafile (else the system's) that peers must chain to. */
  private loadS2sContexts(config: Configuration, certificates: Map<string, HostCertificate>): Map<string, tls.SecureContext> {
    const contexts = new Map<string, tls.SecureContext>()
    if (!config.settings.listen.some((listener) => listener.module === 's2s')) return contexts
    const base = path.dirname(config.file ?? path.join(config.dataDir, 'xmppctl.yml'))
    const read = (key: 's2s_certfile' | 's2s_cafile'): string | undefined => {
      const file = config.settings[key]
      if (file === undefined) return undefined
      try {
        return readFileSync(path.resolve(base, file), 'utf8')
      } catch (error) {
        throw new ServerStartError('certificate-invalid', `cannot read ${key} ${file}: ${osErrorText(error)}`, `check ${key} in the configuration`)
      }
    }

    const certfile = read('s2s_certfile')
    const ca = read('s2s_cafile')
    for (const [host, certificate] of certificates) {
      try {
        contexts.set(host, tls.createSecureContext({...(certfile ? {cert: certfile, key: certfile} : {cert: certificate.cert, key: certificate.key}), ...(ca ? {ca} : {}), ...s2sTlsOptions(config)}))
      } catch (error) {
        throw new ServerStartError('certificate-invalid', `cannot use the s2s certificate of ${host}: ${osErrorText(error)}`, 'check s2s_certfile, s2s_cafile, s2s_ciphers and s2s_protocol_options')
      }
    }

    return contexts
  }

  private s2sHost(): S2sHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const server = this
    return {
      get config() {
        return server.config
      },
      logger: this.logger,
      isLocalDomain: (domain) => this.config.hosts.includes(domain) || (this.core?.servesDomain(domain) ?? false),
      // A hosted service's domain (a room's conference.HOST) speaks s2s with its host's certificate.
      s2sContext: (domain) => this.s2sContexts.get(domain) ?? this.s2sContexts.get(this.core?.hostOf(domain) ?? ''),
      remoteStanza: (stanza) => this.core!.remoteStanza(stanza),
    }
  }

  private defaultContext(): tls.SecureContext {
    return this.contexts.get(this.config.hosts[0])!
  }

  /** Options for a direct-TLS listener's own context: used when the client sends no SNI (e.g. it dialled an IP). */
  private defaultTlsOptions(): tls.SecureContextOptions {
    const certificate = this.certificates.get(this.config.hosts[0])!
    return {cert: certificate.cert, key: certificate.key, ...tlsPolicyOptions(this.config)}
  }

  private async listen(entry: Configuration['settings']['listen'][number]): Promise<void> {
    // List items may omit keys; the schema's listener defaults apply here.
    const settings: ListenerSettings = {port: entry.port, ip: entry.ip ?? '::', tls: entry.tls ?? false, starttls: entry.starttls ?? 'required'}
    const module = entry.module ?? 'c2s'
    entry = {...entry, ...settings}
    const server = module === 's2s' ? this.s2sListener(settings) : module === 'http' ? this.httpServer(entry) : entry.tls
      ? tls.createServer(
          {
            ...this.defaultTlsOptions(),
            ALPNProtocols: ['xmpp-client'],
            SNICallback: (servername, callback) => callback(null, this.contexts.get(servername.toLowerCase()) ?? this.defaultContext()),
            handshakeTimeout: this.limits.tlsHandshakeTimeoutMs,
          },
          (socket) => this.accept(socket, settings),
        )
      : net.createServer((socket) => {
          if (this.admit(socket)) this.accept(socket, settings)
        })
    if ((entry.tls && module === 'c2s') || module === 'http') {
      // Counted from the TCP accept: a client that never finishes its handshake holds a socket too.
      server.on('connection', (socket: net.Socket) => this.admit(socket))
      // With a listener here Node leaves the socket open, handshake timeouts included: close it.
      ;(server as tls.Server).on('tlsClientError', (error, socket) => {
        this.logger.debug(`TLS handshake with ${socket.remoteAddress} failed: ${error.message}`)
        socket.destroy()
      })
    }

    server.maxConnections = 50_000
    await new Promise<void>((resolve, reject) => {
      const failed = (error: NodeJS.ErrnoException) => {
        server.off('listening', listening)
        reject(
          error.code === 'EADDRINUSE'
            ? new ServerStartError('port-in-use', `port ${entry.port} on ${entry.ip} is already in use`, 'stop the other server on that port, or change "listen" in the configuration')
            : error.code === 'EACCES'
              ? new ServerStartError('port-denied', `not allowed to listen on port ${entry.port} on ${entry.ip}`, 'use a port above 1023, or run with the needed privileges')
              : new ServerStartError('listen-failed', `cannot listen on ${entry.ip}:${entry.port}: ${osErrorText(error)}`, 'check "listen" in the configuration', error),
        )
      }

      const listening = () => {
        server.off('error', failed)
        resolve()
      }

      server.once('error', failed)
      server.once('listening', listening)
      server.listen({port: entry.port, host: entry.ip, ipv6Only: false})
    })
    server.on('error', (error) => this.logger.error(`listener ${entry.ip}:${entry.port}: ${error.message}`))
    settings.port = (server.address() as net.AddressInfo).port
    this.servers.push({server, settings, module, ...(module === 'http' ? {requestHandlers: {...entry.request_handlers}} : {})})
  }

  /** An s2s listener: STARTTLS, or direct TLS with ALPN xmpp-server (XEP-0368); the peer's certificate is asked for, and judged by the stream. */
  private s2sListener(settings: ListenerSettings): net.Server {
    const s2s = this.s2s!
    if (!settings.tls) return net.createServer((socket) => (this.stopping ? socket.destroy() : s2s.accept(socket, settings)))
    const host = this.config.hosts[0]
    const server = tls.createServer(
      {
        ...s2sTlsOptions(this.config),
        cert: this.certificates.get(host)!.cert,
        key: this.certificates.get(host)!.key,
        ALPNProtocols: ['xmpp-server'],
        requestCert: true,
        rejectUnauthorized: false,
        SNICallback: (servername, callback) => callback(null, this.s2sContexts.get(servername.toLowerCase()) ?? this.s2sContexts.get(host)),
        handshakeTimeout: this.limits.tlsHandshakeTimeoutMs,
      },
      (socket) => (this.stopping ? socket.destroy() : s2s.accept(socket, settings)),
    )
    server.on('tlsClientError', (error, socket) => {
      this.logger.debug(`s2s TLS handshake with ${socket.remoteAddress} failed: ${error.message}`)
      socket.destroy()
    })
    return server
  }

  /** Federation's streams, for `s2s list`. */
  s2sConnections(): S2sConnectionInfo[] {
    return this.s2s?.list() ?? []
  }

  /** Closes the streams to and from `domain` (`s2s close`). */
  s2sClose(domain: string): {closed: number} {
    if (typeof domain !== 'string' || domain === '') throw new XmppctlError('bad-request', 's2s-close needs a domain')
    const closed = this.s2s?.close(domain.toLowerCase()) ?? 0
    this.logger.info(`s2s close ${domain}: ${closed} stream(s)`)
    return {closed}
  }

  /**
   * An http listener (ejabberd's ejabberd_http): HTTPS with the hosts'
   * certificates by SNI when `tls`, each path of request_handlers served by
   * its handler. Every TCP connection counts against its address as a c2s
   * one does.
   */
  private httpServer(entry: Configuration['settings']['listen'][number]): net.Server {
    const session = (socket: net.Socket, transport: SessionTransport) => this.acceptTransport(socket, transport)
    const bosh = new BoshEndpoint({
      logger: this.logger,
      settings: () => {
        const options = {...optionDefaults('mod_bosh'), ...this.config.settings.modules.mod_bosh}
        return {maxInactivity: options.max_inactivity as number, maxWait: options.max_wait as number, hold: options.max_hold as number}
      },
      maxStanzaBytes: () => this.limits.maxStanzaBytes,
      origins: () => this.config.settings.websocket_origin,
      maxUnauthenticatedPerAddress: () => this.limits.maxUnauthenticatedPerAddress,
      maxWriteBuffer: () => this.limits.maxWriteBuffer,
      session,
      cluster: this.cluster && {
        node: this.cluster.node,
        forward: async (node, body, timeoutMs) => {
          const answer = await this.cluster!.ask(node, {bosh: body}, timeoutMs)
          if (typeof answer !== 'string') throw new Error(`node ${node} answered a BOSH request with no body`)
          return answer
        },
      },
    })
    this.boshEndpoints.push(bosh)
    const routes = new HttpRoutes(
      entry.request_handlers ?? {},
      {logger: this.logger, maxStanzaBytes: () => this.limits.maxStanzaBytes, websocketOrigins: () => this.config.settings.websocket_origin, session},
      {mod_bosh: bosh, mod_http_upload: uploadHandler(new UploadStore(this.config.dataDir), this.logger)},
    )
    const server = entry.tls
      ? https.createServer({
          ...this.defaultTlsOptions(),
          ALPNProtocols: ['http/1.1'],
          SNICallback: (servername, callback) => callback(null, this.contexts.get(servername.toLowerCase()) ?? this.defaultContext()),
          handshakeTimeout: this.limits.tlsHandshakeTimeoutMs,
        })
      : http.createServer()
    // Slow clients hold a socket each: headers within the handshake timeout. No limit on a whole request:
    // a large upload on a slow link takes minutes, and each address's sockets are capped (admit).
    server.headersTimeout = this.limits.tlsHandshakeTimeoutMs
    server.requestTimeout = 0
    server.on('request', (request, response) => routes.request(request, response, entry.tls ?? false))
    server.on('upgrade', (request, socket, head) => routes.upgrade(request, socket as net.Socket, head, entry.tls ?? false))
    return server
  }

  /**
   * Counts a new TCP connection against its address, or refuses it when the
   * address has all the connections, or all the unauthenticated ones, it may
   * have: one address must not take every file descriptor.
   */
  private admit(socket: net.Socket): boolean {
    const address = addressKey(socket.remoteAddress ?? 'unknown')
    let usage = this.addresses.get(address)
    if (!usage) {
      usage = {open: 0, bound: 0}
      this.addresses.set(address, usage)
    }

    if (usage.open >= this.limits.maxConnectionsPerAddress || usage.open - usage.bound >= this.limits.maxUnauthenticatedPerAddress) {
      this.logger.debug(`refused a connection from ${address}: ${usage.open} open, ${usage.open - usage.bound} not logged in`)
      this.releaseAddress(address, usage)
      socket.destroy()
      return false
    }

    usage.open++
    socket.once('close', () => {
      usage.open--
      this.releaseAddress(address, usage)
    })
    return true
  }

  private releaseAddress(address: string, usage: AddressUsage): void {
    if (usage.open === 0 && usage.bound === 0 && this.addresses.get(address) === usage) this.addresses.delete(address)
  }

  private accept(socket: net.Socket, settings: ListenerSettings): void {
    if (this.stopping) {
      socket.destroy()
      return
    }

    socket.setNoDelay(true)
    socket.setKeepAlive(true, 60_000)
    const session = new C2sSession(this, socket, settings)
    this.connections.add(session)
    this.logger.debug(`c2s ${session.serial} ${session.remoteAddress}: connected on port ${settings.port}`)
  }

  /** Where an http listener serves `handler` for clients of `host`. */
  private listenerUrl(handler: string, host: string): string | undefined {
    for (const {settings, module, requestHandlers} of this.servers) {
      if (module !== 'http') continue
      const prefix = Object.entries(requestHandlers ?? {}).find(([, name]) => name === handler)?.[0]
      if (prefix !== undefined) return `${settings.tls ? 'https' : 'http'}://${host}:${settings.port}${prefix.startsWith('/') ? prefix : `/${prefix}`}`
    }

    return undefined
  }

  /** Expired uploads leave hourly (XEP-0363 files under mod_http_upload's max_days), as `xmppctl upload purge` does. */
  private schedulePurge(): void {
    const options = this.config.settings.modules.mod_http_upload
    if (!options) return
    const purge = () => {
      const maxDays = {...optionDefaults('mod_http_upload'), ...this.config.settings.modules.mod_http_upload}.max_days as number
      new UploadStore(this.config.dataDir)
        .purge(maxDays)
        .then((removed) => {
          if (removed.files + removed.slots > 0) this.logger.info(`upload purge: ${removed.files} file(s), ${removed.bytes} bytes, and ${removed.slots} unused slot(s) removed`)
        })
        .catch((error: unknown) => this.logger.error(`upload purge: ${String(error)}`))
    }

    purge()
    this.purgeTimer = setInterval(purge, 3_600_000)
    this.purgeTimer.unref()
  }

  private purgeTimer: NodeJS.Timeout | undefined

  /** A session over WebSocket or BOSH: the HTTP connection was admitted, the session counts among the connections. */
  private acceptTransport(socket: net.Socket, transport: SessionTransport): C2sSession | undefined {
    if (this.stopping) {
      socket.destroy()
      return undefined
    }

    const session = new C2sSession(this, socket, {port: 0, ip: '', tls: transport.encrypted, starttls: 'disabled'}, transport)
    this.connections.add(session)
    this.logger.debug(`c2s ${session.serial} ${session.remoteAddress}: connected over ${transport.kind}`)
    return session
  }

  listenerStatus(): ListenerStatus[] {
    return this.servers.map(({settings, module, requestHandlers}) => ({ip: settings.ip, port: settings.port, tls: settings.tls, starttls: settings.starttls, module, ...(requestHandlers ? {requestHandlers} : {})}))
  }

  status(): ServerStatus {
    return {
      running: true,
      pid: process.pid,
      uptime: Math.round((Date.now() - this.startedAt) / 1000),
      startedAt: new Date(this.startedAt).toISOString(),
      config: this.config.file ?? null,
      dataDir: this.config.dataDir,
      listeners: this.listenerStatus(),
      sessions: Object.fromEntries(this.config.hosts.map((host) => [host, this.router.countByHost()[host] ?? 0])),
      connections: this.connections.size,
      s2s: this.s2s?.list().length ?? 0,
      bans: this.throttle.bannedAddresses().slice(0, 50).map(({key, failures, until}) => ({address: key, failures, until: new Date(until).toISOString()})),
      restrictedAccounts: this.throttle.restrictedAccounts().slice(0, 50).map(({key, failures, until}) => ({account: key, failures, until: new Date(until).toISOString()})),
      memory: this.memory(),
    }
  }

  private memory(): ServerStatus['memory'] {
    const usage = process.memoryUsage()
    const kib = (bytes: number) => Math.round(bytes / 1024)
    this.allocator ??= activeAllocator()
    return {allocator: this.allocator, rssKiB: kib(usage.rss), heapTotalKiB: kib(usage.heapTotal), heapUsedKiB: kib(usage.heapUsed), externalKiB: kib(usage.external)}
  }

  /**
   * Re-reads configuration and certificates and rebuilds authentication;
   * sessions stay. What is read only at start (RESTART_KEYS) needs a restart: reported, not applied.
   */
  async reload(config: Configuration): Promise<{certificates: string[]; listenersChanged: boolean; restartNeeded: string[]}> {
    const previousCertificates = this.certificates
    const previousContexts = this.contexts
    try {
      await this.loadTls(config)
    } catch (error) {
      this.certificates = previousCertificates
      this.contexts = previousContexts
      throw error
    }

    const authenticators = await (this.options.authenticators ?? defaultAuthenticators(this.logger))(config, this.accounts!)
    const old = this.authenticators
    this.authenticators = authenticators
    this.config = config
    Object.assign(this.limits, limitsFromConfig(config), this.options.limits)
    this.moduleLimits = {...moduleLimitsFromConfig(config), ...this.options.moduleLimits}
    this.throttle.configure(this.throttleLimits(config))
    this.hostSettingsCache.clear()
    for (const {server, settings, module} of this.servers) if (settings.tls && module === 'c2s') (server as tls.Server).setSecureContext(this.defaultTlsOptions())
    for (const authenticator of old.values()) await authenticator.close().catch(() => {})
    // Sessions of hosts no longer served end.
    for (const session of this.connections) if (session.host && !config.hosts.includes(session.host)) session.close('host-unknown', 'this host is no longer served')
    const restartNeeded = RESTART_KEYS.filter((key) => JSON.stringify(this.startSettings[key]) !== JSON.stringify(config.settings[key]))
    const listenersChanged = restartNeeded.includes('listen')
    this.logger.info(`reloaded configuration${restartNeeded.length > 0 ? ` (changes to ${restartNeeded.join(', ')} take effect on restart)` : ''}`)
    return {certificates: [...this.certificates.values()].map((certificate) => `${certificate.host}: ${certificate.file}`), listenersChanged, restartNeeded}
  }

  /** An account changed (outside the server, or in-band, by `except`): its sessions end, so the next login sees the change. */
  notify(event: ServerEvent, except?: C2sSession, cluster = true): {closed: number} {
    let closed = 0
    // The account's sessions on the other nodes close too; they count among those closed.
    if (cluster && this.cluster) {
      this.cluster.accountChanged(event)
      closed += (this.router as ClusterRouter).remoteOf(event.jid)
    }

    // Cached answers and mechanism coverage of this account drop first.
    const at = event.jid.lastIndexOf('@')
    if (at > 0) this.authenticators.get(event.jid.slice(at + 1))?.invalidate(event.jid.slice(0, at))
    if (at > 0 && event.type === 'user-deleted') this.core?.accountDeleted({host: event.jid.slice(at + 1), username: event.jid.slice(0, at), bare: event.jid})

    for (const session of [...this.connections]) {
      if (!session.username || `${session.username}@${session.host}` !== event.jid || session === except) continue

      session.close(event.type === 'password-changed' ? 'reset' : 'not-authorized', event.type === 'user-deleted' ? 'the account was deleted' : event.type === 'user-disabled' ? 'the account was disabled' : 'the password was changed')
      closed++
    }

    this.logger.info(`${event.type} ${event.jid}: closed ${closed} session(s)`)
    return {closed}
  }

  /** A roster item was changed in the store by the CLI: online sessions that fetched the roster get a push (RFC 6121 §2.1.6). */
  async rosterChanged(jid: string, contact: string): Promise<{pushed: number}> {
    const at = jid.lastIndexOf('@')
    if (at <= 0 || typeof contact !== 'string' || contact === '') throw new XmppctlError('bad-request', `roster-changed needs an account JID and a contact, not ${JSON.stringify({jid, contact})}`)
    const pushed = (await this.core?.rosterChanged({host: jid.slice(at + 1), username: jid.slice(0, at), bare: jid}, contact)) ?? 0
    this.logger.info(`roster of ${jid} changed (${contact}): pushed to ${pushed} session(s)`)
    return {pushed}
  }

  /**
   * `xmppctl muc …` against the live rooms. In a cluster the rooms of a
   * service live on the node that serves it (Cluster.serviceHome()): the
   * request runs there (`here`: this node was asked to run it).
   */
  async roomAdmin(request: RoomAdminRequest, {here = false} = {}): Promise<RoomAdminResult> {
    const muc = this.core?.modules.find((module) => module.name === 'mod_muc') as MucModule | undefined
    if (!muc) throw new XmppctlError('muc-disabled', 'this server runs without mod_muc', {hint: 'add mod_muc to modules in the configuration and restart'})
    const cluster = this.cluster
    if (cluster && !here) {
      if (request.action !== 'list') {
        // A room of another node's service runs there; anything else (a bad JID, an unknown service) fails here, with its own error.
        const service = request.room.slice(request.room.indexOf('@') + 1)
        const home = muc.services().includes(service) ? await cluster.serviceHome(service) : cluster.node
        if (home !== cluster.node) return (await cluster.ask(home, {roomAdmin: request})) as RoomAdminResult
      } else {
        const served = new Map<string, string[]>()
        for (const service of muc.services()) {
          const home = await cluster.serviceHome(service)
          served.set(home, [...(served.get(home) ?? []), service])
        }

        const lists = await Promise.all([...served].map(([node, services]) => (node === cluster.node ? muc.admin({action: 'list', services}) : cluster.ask(node, {roomAdmin: {action: 'list', services}}))))
        return byJid((lists as RoomSummary[][]).flat())
      }
    }

    const result = await muc.admin(request)
    if (request.action !== 'list' && request.action !== 'info') this.logger.info(`muc ${request.action} ${request.room}`)
    return result
  }

  /** Graceful stop: `system-shutdown` to every client, then listeners and stores close. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const {server} of this.servers) server.close()
      this.s2s?.stop()
      // In a cluster, sessions a client may resume wait for it on another node rather than end (XEP-0198 §5).
      if (this.cluster) await this.cluster.moveAway([...new Set(this.resumableSessions.values())]).catch((error: unknown) => this.logger.error(`moving sessions away: ${String(error)}`))
      const sessions = [...this.connections]
      for (const session of sessions) session.close('system-shutdown', 'the server is stopping')
      const deadline = Date.now() + 3000
      while (this.connections.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
      for (const session of this.connections) session.socket.destroy()
      await Promise.race([Promise.all(this.sessionsEnding), new Promise((resolve) => setTimeout(resolve, 2000).unref())])
      await this.shutdownResources()
      this.logger.flush?.()
      this.logger.info('stopped')
    })()
    return this.stopping
  }

  private async shutdownResources(): Promise<void> {
    clearInterval(this.purgeTimer)
    await this.cluster?.stop()
    for (const {server} of this.servers) server.close()
    for (const authenticator of this.authenticators.values()) await authenticator.close().catch(() => {})
    this.authenticators.clear()
    await this.archives?.close()
    await this.accountData?.close()
    await this.pep?.close()
    await this.rooms?.close()
    await this.accounts?.close()
  }

  // ---- SessionHost ----------------------------------------------------------

  authenticator(host: string): HostAuthenticator | undefined {
    return this.authenticators.get(host)
  }

  hostSettings(host: string): HostSettings {
    let settings = this.hostSettingsCache.get(host)
    if (!settings) {
      settings = this.config.forHost(host)
      this.hostSettingsCache.set(host, settings)
    }

    return settings
  }

  secureContext(host: string): tls.SecureContext | undefined {
    return this.contexts.get(host)
  }

  registration(session: C2sSession): Promise<void> | undefined {
    return this.router.registration(session)
  }

  bind(session: C2sSession, resumed = false): boolean {
    const resource = session.jid!.resource
    const others = this.router.all(session.bareJid).filter((other) => other.jid!.resource !== resource)
    if (!resumed && others.length >= this.limits.maxUserSessions) {
      this.logger.info(`c2s ${session.serial} ${session.remoteAddress}: ${session.bareJid} refused a resource, at max_user_sessions (${this.limits.maxUserSessions})`)
      return false
    }

    const usage = this.addresses.get(addressKey(session.remoteAddress))
    if (usage && !this.boundAddresses.has(session)) {
      usage.bound++
      this.boundAddresses.set(session, usage)
    }

    const replaced = this.router.bind(session)
    this.logger.debug(`c2s ${session.serial} ${session.remoteAddress}: bound ${session.fullJid}`)
    if (replaced) replaced.close('conflict', 'replaced by a new connection with the same resource')
    return true
  }

  streamFeatures(): readonly Element[] {
    return this.core?.streamFeatures() ?? []
  }

  get streamManagement(): boolean {
    return this.core?.streamManagement ?? false
  }

  get clientStateIndication(): boolean {
    return this.core?.canWait !== undefined
  }

  canWait(stanza: Element): boolean {
    return this.core?.canWait?.(stanza) ?? false
  }

  async stanza(session: C2sSession, stanza: Element): Promise<void> {
    await this.core!.handle(session, stanza)
  }

  resumable(id: string, session: C2sSession): void {
    this.resumableSessions.set(id, session)
  }

  takeResumable(id: string, claimant: C2sSession): C2sSession | undefined {
    const session = this.resumableSessions.get(id)
    // Only the same account may resume a session (XEP-0198 §5).
    if (!session || session.username !== claimant.username || session.host !== claimant.host) return undefined
    this.resumableSessions.delete(id)
    return session
  }

  forgetResumable(id: string, session: C2sSession): void {
    if (this.resumableSessions.get(id) === session) this.resumableSessions.delete(id)
  }

  resumptionId(): string {
    return resumptionId(this.cluster?.node)
  }

  resumeElsewhere(id: string, h: number, claimant: C2sSession): Promise<ResumeRefusal | undefined> | undefined {
    return this.cluster?.resume(id, h, `${claimant.username}@${claimant.host}`, (session) => claimant.adoptResumed(session))
  }

  /** XEP-0198 §5 across cluster nodes: another node's client resumes the session `id` names, if it is here and `account`'s. */
  private handOff(id: string, h: number, account: string): HandOff | undefined {
    const session = this.resumableSessions.get(id)
    // Only the same account may resume a session (§5): the account the other node authenticated, nothing the request says of itself.
    if (!session || `${session.username}@${session.host}` !== account) return undefined
    this.resumableSessions.delete(id)
    return session.handOff(h)
  }

  handedOff(session: C2sSession): void {
    this.forgetConnection(session)
    this.router.release(session)
  }

  sessionState(session: C2sSession): Record<string, unknown> {
    return this.core?.sessionState(session) ?? {}
  }

  adoptSessionState(session: C2sSession, state: Record<string, unknown>): void {
    this.core?.adoptSessionState(session, state)
  }

  async unacknowledged(session: C2sSession, stanzas: readonly string[]): Promise<void> {
    const stored = this.core?.unacknowledged(session, stanzas) ?? Promise.resolve()
    // stop() waits for these: in a cluster the senders' nodes hear the messages were stored only after (cluster.ts).
    const settled = stored.catch(() => {})
    this.sessionsEnding.add(settled)
    void settled.finally(() => this.sessionsEnding.delete(settled))
    await stored
  }

  /** The session no longer counts among the connections and against its address. */
  private forgetConnection(session: C2sSession): void {
    this.connections.delete(session)
    const usage = this.boundAddresses.get(session)
    if (usage) {
      this.boundAddresses.delete(session)
      usage.bound--
      this.releaseAddress(addressKey(session.remoteAddress), usage)
    }
  }

  closed(session: C2sSession): void {
    this.forgetConnection(session)
    this.router.unbind(session)
    if (session.available) {
      const ended = this.core!.sessionEnded(session).catch((error: unknown) => this.logger.error(`presence after ${session.fullJid} left: ${String(error)}`))
      // stop() waits for these before closing the stores they read.
      this.sessionsEnding.add(ended)
      void ended.finally(() => this.sessionsEnding.delete(ended))
    }

    this.logger.debug(`c2s ${session.serial} ${session.remoteAddress}: closed`)
  }
}
