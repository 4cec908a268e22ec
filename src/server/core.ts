/**
 * The IM core (RFC 6121): routes messages, presence and iq between local
 * sessions, broadcasts presence, answers probes, and hands each protocol
 * area to the module that serves it (src/server/modules). What no one can
 * take gets the RFC 6120 §8.3 error it should get, never silence.
 */
import {StoreError} from '../errors.js'
import type {HostSettings} from '../config/index.js'
import type {AccountStore} from '../store/account-store.js'
import type {PepStore} from '../store/pep-store.js'
import type {RoomStore} from '../store/room-store.js'
import type {ArchiveStore} from '../store/archive-store.js'
import type {AccountDataStore} from '../store/account-data-store.js'
import type {C2sSession} from './c2s.js'
import {type Account, type Jid, accountOf, bareJid, fullJid, parseJid} from './jid.js'
import type {Logger} from './log.js'
import type {HostedService, IqHandler, ModuleContext, RemoteDelivery, Sender, ServerModule, ServiceSenderKind} from './modules/types.js'
import {NS} from '../xml/namespaces.js'
import type {Router} from './router.js'
import {errorReply, iqResult} from './stanza.js'
import {type Element, x} from '../xml/element.js'
import {XmppStreamParser} from '../xml/parser.js'

const SUBSCRIPTION_TYPES = new Set(['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed'])

export interface CoreContext {
  hosts(): readonly string[]
  router: Router
  accounts: AccountStore
  /** Rosters, offline messages, vCards, private XML, blocklists, last activity: lent to modules by concept. */
  accountData: AccountDataStore
  pep: PepStore
  rooms: RoomStore
  archives: ArchiveStore
  logger: Logger
  softwareVersion: string
  dataDir: string
  listenerUrl: ModuleContext['listenerUrl']
  startedAt: () => number
  hostSettings(host: string): HostSettings
  accountChanged: ModuleContext['accountChanged']
  cachedDataChanged: ModuleContext['cachedDataChanged']
  /** Delivery to other servers; undefined without federation (no s2s listener). */
  remote?: RemoteDelivery
  /** In a cluster, the node that serves each hosted service's domain; undefined for one process, which serves them all. */
  services?: ServiceRouting
}

/** Where a cluster's hosted services are served (cluster.ts): one node serves each domain, so that a room lives in one node's memory. */
export interface ServiceRouting {
  /** Sends the stanza (its `from` the authenticated sender) to the node that serves `domain`; 'here' when that is this one. */
  toService(domain: string, stanza: Element, sender: ServiceSenderKind): Promise<'here' | 'sent' | 'unreachable'>
}

/** The account of a bare JID the store keeps, already normalised (a localpart cannot hold '@'). */
function storedAccount(bare: string): Account {
  const at = bare.indexOf('@')
  return {host: bare.slice(at + 1), username: bare.slice(0, at), bare}
}

function sessionAccount(session: C2sSession): Account {
  return {host: session.host!, username: session.username!, bare: session.bareJid}
}

export class ServerCore {
  readonly modules: readonly ServerModule[]
  private readonly context: CoreContext
  private readonly iqHandlers = new Map<string, IqHandler[]>()
  /** The modules that take part in the per-stanza hooks: an empty hook still costs an await per stanza. */
  private readonly outboundHooks: ServerModule[]
  private readonly inboundHooks: ServerModule[]
  private readonly routingHooks: ServerModule[]
  private readonly deliveredHooks: ServerModule[]
  private readonly services: HostedService[]
  /** The hosted services by domain, for the hosts they were computed for (a reload may change the hosts). */
  private servicesByDomain: {hosts: readonly string[]; byDomain: Map<string, HostedService>} | undefined

  constructor(context: CoreContext, factories: ReadonlyArray<(moduleContext: ModuleContext) => ServerModule>) {
    this.context = context
    const moduleContext: ModuleContext = {
      router: context.router,
      accounts: context.accounts,
      rosters: context.accountData,
      offline: context.accountData,
      vcards: context.accountData,
      privateStorage: context.accountData,
      blocklists: context.accountData,
      lastActivity: context.accountData,
      pep: context.pep,
      rooms: context.rooms,
      archives: context.archives,
      logger: context.logger,
      softwareVersion: context.softwareVersion,
      dataDir: context.dataDir,
      listenerUrl: (handler, host) => context.listenerUrl(handler, host),
      startedAt: context.startedAt,
      hosts: context.hosts,
      isLocalHost: (domain) => this.isLocalHost(domain),
      features: (of) => this.features(of),
      accountIdentities: () => this.modules.flatMap((module) => module.accountIdentities ?? []),
      accountItems: async (account, requester) => {
        const items: Element[] = []
        for (const module of this.modules) items.push(...((await module.accountItems?.(account, requester)) ?? []))
        return items
      },
      accountNodeInfo: async (account, node, requester) => {
        for (const module of this.modules) {
          const info = await module.accountNodeInfo?.(account, node, requester)
          if (info) return info
        }

        return undefined
      },
      inboundStopped: (stanza, to, from) => this.stopped(stanza, to, from),
      presenceAllowed: (account, contact) => this.presenceAllowed(account, contact),
      deliverPresence: (stanza, contactBare) => this.deliverPresence(stanza, contactBare),
      sendRemote: (stanza) => this.sendRemote(stanza),
      sendPresenceOf: (from, to) => this.sendPresenceOf(from, to),
      hostSettings: (host) => context.hostSettings(host),
      accountChanged: (event, except) => context.accountChanged(event, except),
      cachedDataChanged: (account) => context.cachedDataChanged(account),
      serviceDomains: (host) => this.services.map((service) => service.domain(host)).filter((domain) => domain !== undefined),
      routeFromService: (stanza, from) => this.routeFromService(stanza, from),
      returnError: (error, sender) => this.returnError(error, sender),
    }
    this.modules = factories.map((create) => create(moduleContext))
    this.outboundHooks = this.modules.filter((module) => module.outbound)
    this.inboundHooks = this.modules.filter((module) => module.inbound)
    this.routingHooks = this.modules.filter((module) => module.messageRouting)
    this.deliveredHooks = this.modules.filter((module) => module.messageDelivered)
    this.services = this.modules.flatMap((module) => (module.service ? [module.service] : []))
    const waiters = this.modules.filter((module) => module.canWait)
    if (waiters.length > 0) this.canWait = (stanza) => waiters.some((module) => module.canWait!(stanza))
    for (const module of this.modules) {
      for (const handler of module.iq ?? []) {
        for (const type of handler.types) {
          const key = `${type} ${handler.ns} ${handler.name}`
          this.iqHandlers.set(key, [...(this.iqHandlers.get(key) ?? []), handler])
        }
      }
    }
  }

  /** Elements of <stream:features/> after authentication that modules add. */
  streamFeatures(): Element[] {
    return this.modules.flatMap((module) => module.streamFeatures?.() ?? [])
  }

  /** XEP-0198: whether a module (mod_stream_mgmt) lets sessions enable stream management. */
  get streamManagement(): boolean {
    return this.modules.some((module) => module.streamManagement === true)
  }

  /** XEP-0352: whether `stanza` may wait for an inactive client; undefined when no module enables client state indication. */
  readonly canWait: ((stanza: Element) => boolean) | undefined

  /** Whether `domain` is one of the hosts or a hosted service's domain. */
  servesDomain(domain: string): boolean {
    return this.isLocalHost(domain) || this.serviceAt(domain) !== undefined
  }

  /** The host `domain` belongs to: itself, or the host whose hosted service is on it (conference.HOST); undefined for neither. */
  hostOf(domain: string): string | undefined {
    if (this.isLocalHost(domain)) return domain
    return this.context.hosts().find((host) => this.services.some((service) => service.domain(host) === domain))
  }

  private isLocalHost(domain: string): boolean {
    return this.context.hosts().includes(domain)
  }

  /** The service hosted on `domain`, if a module hosts one there. */
  private serviceAt(domain: string): HostedService | undefined {
    if (this.services.length === 0) return undefined
    const hosts = this.context.hosts()
    if (this.servicesByDomain?.hosts !== hosts) {
      const byDomain = new Map<string, HostedService>()
      for (const host of hosts) {
        for (const service of this.services) {
          const domain = service.domain(host)
          if (domain !== undefined && !hosts.includes(domain)) byDomain.set(domain, service)
        }
      }

      this.servicesByDomain = {hosts, byDomain}
    }

    return this.servicesByDomain.byDomain.get(domain)
  }

  private features(of: 'server' | 'account'): string[] {
    const features = new Set<string>()
    for (const module of this.modules) for (const feature of (of === 'server' ? module.features : module.accountFeatures) ?? []) features.add(feature)
    return [...features].sort()
  }

  private async presenceAllowed(account: Account, contact: string): Promise<boolean> {
    for (const module of this.modules) if (await module.presenceAllowed?.(account, contact)) return true
    return false
  }

  async handle(session: C2sSession, stanza: Element): Promise<void> {
    let to: Jid | undefined
    if (stanza.attrs.to !== undefined) {
      to = parseJid(stanza.attrs.to)
      if (!to) {
        if (stanza.attrs.type !== 'error') session.send(errorReply(stanza, 'jid-malformed', session.host))
        return
      }
    }

    try {
      for (const module of this.outboundHooks) {
        const answered = module.outbound!(session, stanza, to)
        if (answered === true || (answered !== false && (await answered))) return
      }

      const service = to === undefined ? undefined : this.serviceAt(to.domain)
      if (service) return await this.serve(service, stanza, session, to!, 'client')

      if (stanza.name === 'iq') return await this.iq(session, stanza, to)
      if (stanza.name === 'message') return await this.message(stanza, to ?? {...session.jid!, resource: ''}, session)
      return await this.presence(session, stanza, to)
    } catch (error) {
      if (!(error instanceof StoreError)) throw error
      // A store that cannot write now (full disk, lock, damage) fails this
      // stanza, not the sender's stream (RFC 6120 §8.3.3.18, §8.3.3.11).
      this.context.logger.error(`store error handling <${stanza.name}/> from ${session.fullJid}: ${error.message}`)
      if (stanza.attrs.type !== 'error' && stanza.attrs.type !== 'result') {
        const condition = error.code === 'store-corrupt' ? 'internal-server-error' : 'resource-constraint'
        session.send(errorReply(stanza, condition, session.host, 'the server cannot store this now; try again later'))
      }
    }
  }

  // ---- iq ----------------------------------------------------------------

  private async iq(session: C2sSession, stanza: Element, to: Jid | undefined): Promise<void> {
    const {type, id} = stanza.attrs
    if (id === undefined || !['get', 'set', 'result', 'error'].includes(type ?? '')) {
      if (type !== 'error') session.send(errorReply(stanza, 'bad-request', session.host))
      return
    }

    const request = type === 'get' || type === 'set'
    if (request && stanza.elements().length !== 1) return session.send(errorReply(stanza, 'bad-request', session.host))
    const own = to === undefined || (to.resource === '' && to.local === session.username && to.domain === session.host)
    const toServer = to !== undefined && to.local === '' && to.resource === '' && this.isLocalHost(to.domain)
    const toAccount = to !== undefined && to.local !== '' && to.resource === '' && this.isLocalHost(to.domain)
    if (own || toServer || (request && toAccount)) {
      if (!request) return
      const query = stanza.elements()[0]
      // RFC 3921 session establishment, which RFC 6121 keeps as a no-op for older clients.
      if (query.ns === NS.session && query.name === 'session') return session.send(iqResult(stanza, own ? undefined : to!.domain))
      const target: 'server' | 'own' | 'account' = toServer ? 'server' : own ? 'own' : 'account'
      // The server answers for the account here (disco, last activity…): the account's own rules apply first.
      if (target === 'account' && (await this.stoppedInbound(stanza, to!, session))) return
      const handler = this.iqHandlers.get(`${type} ${query.ns} ${query.name}`)?.find((candidate) => candidate.to.includes(target) || (target === 'own' && candidate.to.includes('account')))
      const domain = to?.domain ?? session.host!
      if (handler) {
        await handler.handle({session, sender: session, stanza, query, own, domain, account: toServer ? undefined : own ? sessionAccount(session) : accountOf(to!)})
        return
      }

      // RFC 6120 §8.3.3.19 (own account, server), §10.5.4 (another's bare JID).
      return session.send(errorReply(stanza, 'service-unavailable', own ? session.bareJid : to!.local === '' ? domain : bareJid(to!)))
    }

    // To a full JID: a local session, or (RFC 6120 §10.5.3.2) service-unavailable.
    if (this.isLocalHost(to!.domain) && to!.resource !== '' && to!.local !== '') {
      const target = this.context.router.get(bareJid(to!), to!.resource)
      if (target) {
        if (await this.stoppedInbound(stanza, to!, session)) return
        return target.send(stanza)
      }
    }

    // Results and errors go out too: they answer a remote entity's request (RFC 6120 §8.2.3).
    if (!this.isLocalHost(to!.domain)) return this.sendRemote(stanza, session)
    if (!request) return
    session.send(errorReply(stanza, 'service-unavailable'))
  }

  // ---- presence (RFC 6121 §3, §4) ----------------------------------------

  private async presence(session: C2sSession, stanza: Element, to: Jid | undefined): Promise<void> {
    const type = stanza.attrs.type
    if (type !== undefined && SUBSCRIPTION_TYPES.has(type)) {
      if (!to) return
      // A request to an address this server cannot reach is bounced, not left pending; cancellations still tidy the roster.
      const local = this.isLocalHost(to.domain)
      const unreachable = to.local === '' || (!local && !this.context.remote)
      if (unreachable && (type === 'subscribe' || type === 'subscribed')) return this.undeliverablePresence(session, stanza, to)
      // A remote contact's server applies its own rules; mod_roster sends the stanza there (RFC 6121 §3.1.2).
      if (!unreachable && local && (await this.stoppedInbound(stanza, to, session))) return
      for (const module of this.modules) await module.outboundSubscription?.(session, stanza, {...to, resource: ''})
      return
    }

    if (type === 'probe') {
      if (to) await this.probe(session, stanza, to)
      return
    }

    if (type !== undefined && type !== 'unavailable' && type !== 'error') return session.send(errorReply(stanza, 'bad-request'))
    if (to) return this.directed(session, stanza, to)
    if (type === 'error') return
    if (type === 'unavailable') {
      if (!session.available) return
      session.available = false
      session.presence = undefined
      void this.context.router.changed(session)
      // The modules first: a contact that asks for last activity (XEP-0012) as soon as it sees the presence gets the new time.
      for (const module of this.modules) await module.becameUnavailable?.(session, sessionAccount(session), stanza)
      await this.broadcast(session, stanza)
      return
    }

    const priority = Number.parseInt(stanza.getChildText('priority') ?? '0', 10)
    session.priority = Number.isInteger(priority) && priority >= -128 && priority <= 127 ? priority : 0
    const initial = !session.available
    session.available = true
    session.presence = stanza
    // Before the broadcast: a contact on another node that answers it finds this session available there.
    void this.context.router.changed(session)
    await this.broadcast(session, stanza)
    const account = sessionAccount(session)
    if (initial) {
      for (const other of this.context.router.available(account.bare)) if (other !== session) await this.sendPresenceOf(other, session)
      for (const module of this.modules) await module.initialPresence?.(session, account)
    }

    for (const module of this.modules) await module.availablePresence?.(session, account, stanza)
  }

  /**
   * Presence to a domain this server does not serve, or to a service that
   * does not exist (a room before group chat): an error at once, so a
   * client waiting on a join does not wait forever (RFC 6120 §8.3.3.16, §8.3.3.19).
   */
  private undeliverablePresence(session: C2sSession, stanza: Element, to: Jid): void {
    if (!this.isLocalHost(to.domain) && this.context.remote) return this.sendRemote(stanza, session)
    if (stanza.attrs.type === 'error' || stanza.attrs.type === 'unavailable') return
    session.send(errorReply(stanza, this.isLocalHost(to.domain) ? 'service-unavailable' : 'remote-server-not-found'))
  }

  /** Whether a module stopped `stanza` from `session` on its way to the local account of `to`. */
  private stoppedInbound(stanza: Element, to: Jid, session: C2sSession): boolean | Promise<boolean> {
    return this.stopped(stanza, accountOf(to), session.jid!)
  }

  /** Whether a module (XEP-0191 blocking, say) stopped `stanza` from `from` on its way to the local account `to`. */
  private stopped(stanza: Element, to: Account, from: Jid, first = 0): boolean | Promise<boolean> {
    for (let index = first; index < this.inboundHooks.length; index++) {
      const stopped = this.inboundHooks[index].inbound!(stanza, to, from)
      if (stopped === true) return true
      // Only a hook that has to wait makes the whole check wait.
      if (stopped !== false) return stopped.then((yes) => yes || this.stopped(stanza, to, from, index + 1))
    }

    return false
  }

  private async directed(session: C2sSession, stanza: Element, to: Jid): Promise<void> {
    if (!this.isLocalHost(to.domain) || to.local === '') return this.undeliverablePresence(session, stanza, to)
    if (await this.stoppedInbound(stanza, to, session)) return
    const targets = this.sessionsOf(to)
    for (const target of targets) target.send(stanza)
  }

  /**
   * A probe from the user (RFC 6121 §4.3.2): the contact's presence when the
   * contact lets the user see it (unavailable if no resource is available),
   * otherwise `unsubscribed`, the same for an account that does not exist;
   * nothing when a module stops the probe (XEP-0191 §3.3).
   */
  private async probe(session: C2sSession, stanza: Element, to: Jid): Promise<void> {
    // RFC 6121 §4.3.1: a probe leaves from the user's bare JID.
    if (!this.isLocalHost(to.domain) && to.local !== '') return this.sendRemote(Object.assign(stanza, {attrs: {...stanza.attrs, from: session.bareJid, to: bareJid(to)}}))
    if (!this.isLocalHost(to.domain) || to.local === '') return
    if (await this.stoppedInbound(stanza, to, session)) return
    const contact = accountOf(to)
    const asker = session.bareJid
    const allowed = contact.bare === asker || (await this.presenceAllowed(contact, asker))
    if (!allowed) {
      session.send(x('presence', NS.client, {type: 'unsubscribed', from: contact.bare, to: session.fullJid}))
      return
    }

    const available = this.context.router.available(contact.bare)
    if (available.length === 0) {
      session.send(x('presence', NS.client, {type: 'unavailable', from: contact.bare, to: session.fullJid}))
      return
    }

    for (const source of available) await this.sendPresenceOf(source, session)
  }

  /** Presence of `session` to subscribers and to the account's own available resources. */
  private async broadcast(session: C2sSession, stanza: Element): Promise<void> {
    const account = sessionAccount(session)
    const from = session.jid!
    for (const module of this.modules) {
      for (const contact of (await module.presenceSubscribers?.(account)) ?? []) {
        if (this.context.remote && !this.isLocalHost(storedAccount(contact).host)) {
          // RFC 6121 §4.2.2, §4.4.2: one copy to the contact's bare JID; its server fans it out.
          const copy = stanza.clone()
          copy.attrs.to = contact
          this.sendRemote(copy)
          continue
        }

        // Most contacts are offline: the session lookup comes before any hook.
        const targets = this.context.router.available(contact)
        if (targets.length === 0 || (await this.stopped(stanza, storedAccount(contact), from))) continue
        this.deliverTo(stanza, targets)
      }
    }

    this.deliverTo(stanza, this.context.router.available(account.bare).concat(session.available ? [] : [session]))
  }

  /** `stanza` to each available resource of `contactBare`, or to a remote contact's server. */
  private deliverPresence(stanza: Element, contactBare: string): void {
    if (!this.isLocalHost(storedAccount(contactBare).host)) {
      if (!this.context.remote) return
      const copy = stanza.clone()
      copy.attrs.to = contactBare
      return this.sendRemote(copy)
    }

    this.deliverTo(stanza, this.context.router.available(contactBare))
  }

  private deliverTo(stanza: Element, targets: readonly C2sSession[]): void {
    for (const target of targets) {
      const copy = stanza.clone()
      copy.attrs.to = target.fullJid
      target.send(copy)
    }
  }

  /** Like a broadcast, this asks the modules' inbound hooks: a contact's current presence is presence too (XEP-0191 §3.3). */
  private async sendPresenceOf(from: C2sSession, to: C2sSession): Promise<void> {
    if (!from.presence) return
    const copy = from.presence.clone()
    copy.attrs.from = from.fullJid
    copy.attrs.to = to.fullJid
    if (await this.stopped(copy, sessionAccount(to), from.jid!)) return
    to.send(copy)
  }

  // ---- messages (RFC 6121 §8.5) ------------------------------------------

  private async message(stanza: Element, to: Jid, sender: Sender): Promise<void> {
    const type = stanza.attrs.type ?? 'normal'
    if (!this.isLocalHost(to.domain)) {
      // Only a local sender's message leaves: one from another server is never relayed (RFC 6120 §13.9.4).
      if (sender.jid && (this.isLocalHost(sender.jid.domain) || this.serviceAt(sender.jid.domain))) return this.sendRemote(stanza, sender)
      if (type !== 'error') sender.send(errorReply(stanza, 'remote-server-not-found'))
      return
    }

    if (to.local === '') {
      if (type !== 'error') sender.send(errorReply(stanza, 'service-unavailable'))
      return
    }

    // Every message asks the inbound hooks: no await unless one has to wait.
    const stopped = this.stopped(stanza, accountOf(to), sender.jid!)
    if (stopped === true || (stopped !== false && (await stopped))) return
    for (const module of this.routingHooks) {
      const pending = module.messageRouting!(stanza, sender, to)
      if (pending) await pending
    }

    const {router} = this.context
    const bare = bareJid(to)
    if (to.resource !== '') {
      const target = router.get(bare, to.resource) ?? (await router.locate(bare, to.resource))
      if (target) {
        target.send(stanza)
        return this.delivered(stanza, sender, to, [target])
      }
      // §8.5.3.2: to an offline resource, groupchat and errors are not redirected.
      if (type === 'groupchat' || type === 'error') {
        if (type === 'groupchat') sender.send(errorReply(stanza, 'service-unavailable'))
        return
      }
    }

    if (type === 'error') return
    // §8.5.2.1.2, §8.5.2.2.2: a groupchat message to a bare JID is never delivered, and its sender is told.
    if (type === 'groupchat') return sender.send(errorReply(stanza, 'service-unavailable'))
    const targets = router.available(bare).filter((candidate) => candidate.priority >= 0)
    if (targets.length > 0) {
      for (const target of targets) target.send(stanza)
      return this.delivered(stanza, sender, to, targets)
    }

    if (type === 'headline') return
    for (const module of this.modules) if (await module.messageUndelivered?.(stanza, accountOf(to), sender, false)) return
    // §8.5.2.2.1 with no offline storage, and §8.5.1 for an account that does not exist.
    sender.send(errorReply(stanza, 'service-unavailable'))
  }

  private delivered(stanza: Element, sender: Sender, to: Jid, recipients: readonly C2sSession[]): void {
    for (const module of this.deliveredHooks) module.messageDelivered!(stanza, sender, to, recipients)
  }

  // ---- stanzas from hosted services ---------------------------------------

  /**
   * A stanza a hosted service sends from `from`, a JID on its domain: to a
   * local account under the rules a client's stanza meets (the inbound
   * hooks, offline storage, RFC 6121 §8.5), or to another service. What
   * cannot be delivered goes back to the sending service as an error
   * (RFC 6120 §8.3), never an error to an error.
   */
  private async routeFromService(stanza: Element, from: Jid): Promise<void> {
    const sender = this.serviceSender(from)
    const to = stanza.attrs.to === undefined ? undefined : parseJid(stanza.attrs.to)
    stanza.attrs.from = sender.fullJid
    const type = stanza.attrs.type
    if (!to) {
      this.context.logger.warn(`${sender.fullJid} sent <${stanza.name}/> to ${stanza.attrs.to === undefined ? 'no address' : 'a malformed address'}; dropped`)
      return
    }

    const service = this.serviceAt(to.domain)
    if (service) return this.serve(service, stanza, sender, to, 'service')
    const request = stanza.name === 'iq' ? type === 'get' || type === 'set' : type !== 'error'
    if (!this.isLocalHost(to.domain)) {
      if (this.context.remote) return this.sendRemote(stanza, sender)
      if (request) sender.send(errorReply(stanza, 'remote-server-not-found'))
      return
    }

    if (to.local === '') {
      if (request) sender.send(errorReply(stanza, 'service-unavailable'))
      return
    }

    if (stanza.name === 'message') return this.message(stanza, to, sender)
    // An iq to a resource goes on to it; to the bare JID, the server answers for the account as it does for other
    // servers' users. Either way the account's own rules (blocking) apply first, in remoteIq.
    if (stanza.name === 'iq') return this.remoteIq(stanza, from, to, sender)
    if (await this.stopped(stanza, accountOf(to), from)) return
    // A presence. Subscriptions change rosters, which only a contact with an address of its own may do.
    if (type !== undefined && (SUBSCRIPTION_TYPES.has(type) || type === 'probe')) return sender.send(errorReply(stanza, 'feature-not-implemented'))
    for (const target of this.sessionsOf(to)) target.send(stanza)
  }

  /** The sessions a stanza to `to` (a local account's JID) reaches: every available resource for a bare JID, else the one resource named. */
  private sessionsOf(to: Jid): C2sSession[] {
    const bare = bareJid(to)
    if (to.resource === '') return this.context.router.available(bare)
    const session = this.context.router.get(bare, to.resource)
    return session ? [session] : []
  }

  /** A hosted service's JID as a sender: what is sent back to it goes to the service's own handle(), from the address it answers. */
  private serviceSender(jid: Jid): Sender {
    const full = fullJid(jid)
    return {
      jid,
      bareJid: bareJid(jid),
      fullJid: full,
      localSession: undefined,
      send: (reply) => {
        const service = this.serviceAt(jid.domain)
        const from = reply.attrs.from === undefined ? undefined : parseJid(reply.attrs.from)
        if (!service || !from) return
        reply.attrs.to = full
        void Promise.resolve(service.handle(reply, this.entitySender(from), jid)).catch((error: unknown) => this.context.logger.error(`${full}: ${error instanceof Error ? error.message : String(error)}`))
      },
    }
  }

  /** The sender of an error the core returns on behalf of `jid`: nothing answers an error (RFC 6120 §8.3.1). */
  private entitySender(jid: Jid): Sender {
    return {jid, bareJid: bareJid(jid), fullJid: fullJid(jid), localSession: undefined, send: () => {}}
  }

  /**
   * A stanza for a hosted service: handled here, or in a cluster sent to the
   * node that serves the service's domain, with its sender's authenticated
   * address as `from` (RFC 6120 §8.1.2.1). A request the serving node cannot
   * be reached for gets an error at once rather than vanish.
   */
  private async serve(service: HostedService, stanza: Element, sender: Sender, to: Jid, kind: ServiceSenderKind): Promise<void> {
    const routing = this.context.services
    if (routing) {
      stanza.attrs.from = sender.fullJid
      const where = await routing.toService(to.domain, stanza, kind)
      if (where === 'sent') return
      if (where === 'unreachable') {
        const type = stanza.attrs.type
        const request = stanza.name === 'iq' ? type === 'get' || type === 'set' : type !== 'error' && type !== 'unavailable'
        if (request) sender.send(errorReply(stanza, 'recipient-unavailable', undefined, `the node that serves ${to.domain} is not answering; try again shortly`))
        return
      }
    }

    return service.handle(stanza, sender, to)
  }

  /**
   * A stanza another node of the cluster sent to a hosted service this node
   * serves (see serve()), its `from` set there: answers go back through the
   * router (a client of any node), over s2s, or to the sending service.
   */
  async forwardedToService(stanza: Element, kind: ServiceSenderKind): Promise<void> {
    const from = parseJid(stanza.attrs.from ?? '')
    const to = parseJid(stanza.attrs.to ?? '')
    const service = to && this.serviceAt(to.domain)
    if (!from || !service) return
    await service.handle(stanza, this.forwardedSender(from, kind), to)
  }

  /**
   * A stanza this node sent to the node serving a hosted service, which died
   * before it acknowledged it (see serve()): served again, here or by the
   * node that took the service over, so that its sender hears an answer.
   */
  async serveAgain(stanza: Element, kind: ServiceSenderKind): Promise<void> {
    const from = parseJid(stanza.attrs.from ?? '')
    const to = parseJid(stanza.attrs.to ?? '')
    const service = to && this.serviceAt(to.domain)
    if (!from || !service) return
    await this.serve(service, stanza, this.forwardedSender(from, kind), to, kind)
  }

  /** The sender of a stanza whose `from` a node of the cluster set, of the kind it said. */
  private forwardedSender(from: Jid, kind: ServiceSenderKind): Sender {
    return kind === 'remote' ? this.remoteSender(from) : kind === 'service' ? this.serviceSender(from) : this.clientSender(from)
  }

  /** A client bound to another node of the cluster as a sender: what it is sent goes to its session through the router. */
  private clientSender(jid: Jid): Sender {
    return this.addressSender(jid, (reply) => this.deliverLocal(reply))
  }

  /** A session on another node of the cluster ended or became unavailable: modules let go of what it joined here. */
  remoteSessionGone(fullJid: string): void {
    for (const module of this.modules) module.remoteSessionGone?.(fullJid)
  }

  // ---- federation (RFC 6120 §8.1.1.2, RFC 6121 over s2s) --------------------

  /**
   * `stanza` to the server of its `to` domain. What cannot be delivered
   * comes back to `sender` (or, for a stanza a module sent on an account's
   * behalf, to the account's resources) as the error the s2s layer names;
   * presence other than a subscription request, errors and iq results
   * never come back (RFC 6120 §8.3.1, RFC 6121 §4.6.3).
   */
  private sendRemote(stanza: Element, sender?: Sender): void {
    const type = stanza.attrs.type
    const bounce = (condition: 'remote-server-not-found' | 'remote-server-timeout' | 'resource-constraint') => {
      if (type === 'error' || (stanza.name === 'iq' && type === 'result')) return
      if (stanza.name === 'presence' && type !== 'subscribe' && type !== 'subscribed') return
      const reply = errorReply(stanza, condition)
      if (sender) return sender.send(reply)
      this.deliverLocal(reply)
    }

    if (!this.context.remote) return bounce('remote-server-not-found')
    this.context.remote.send(stanza, bounce)
  }

  /** A stanza for a local account from the server itself (an error it returns): to the resource it names, or the available ones. */
  private deliverLocal(stanza: Element): void {
    const to = stanza.attrs.to === undefined ? undefined : parseJid(stanza.attrs.to)
    if (!to || !this.isLocalHost(to.domain)) return
    const targets = this.sessionsOf(to)
    for (const target of targets) target.send(stanza)
  }

  /** Another server's entity as a sender: what the core answers goes back over s2s. */
  private remoteSender(jid: Jid): Sender {
    return this.addressSender(jid, (reply) => this.sendRemote(reply))
  }

  /** A sender without a session here: what it is sent, addressed to it, goes on through `deliver`. */
  private addressSender(jid: Jid, deliver: (reply: Element) => void): Sender {
    const full = fullJid(jid)
    return {
      jid,
      bareJid: bareJid(jid),
      fullJid: full,
      localSession: undefined,
      send: (reply) => {
        reply.attrs.to ??= full
        deliver(reply)
      },
    }
  }

  /**
   * A stanza from another server, its `from` domain authenticated by the
   * s2s stream and its `to` on this server: it meets the rules a local
   * client's stanza meets on its way to an account (inbound hooks such as
   * blocking, RFC 6121 §8.5 delivery, offline storage, MAM, the roster's
   * subscription handling), and what cannot be delivered goes back as an error.
   */
  async remoteStanza(stanza: Element): Promise<void> {
    const from = parseJid(stanza.attrs.from ?? '')
    const to = parseJid(stanza.attrs.to ?? '')
    if (!from || !to) return
    const sender = this.remoteSender(from)
    const type = stanza.attrs.type
    const request = stanza.name === 'iq' ? type === 'get' || type === 'set' : type !== 'error'
    try {
      const service = this.serviceAt(to.domain)
      if (service) return await this.serve(service, stanza, sender, to, 'remote')
      if (!this.isLocalHost(to.domain)) return
      if (stanza.name === 'message') return await this.message(stanza, to, sender)
      if (stanza.name === 'presence') return await this.remotePresence(stanza, from, to, sender)
      return await this.remoteIq(stanza, from, to, sender)
    } catch (error) {
      if (!(error instanceof StoreError)) throw error
      this.context.logger.error(`store error handling <${stanza.name}/> from ${sender.fullJid}: ${error.message}`)
      if (request && type !== 'result') sender.send(errorReply(stanza, error.code === 'store-corrupt' ? 'internal-server-error' : 'resource-constraint', undefined, 'the server cannot store this now; try again later'))
    }
  }

  private async remotePresence(stanza: Element, from: Jid, to: Jid, sender: Sender): Promise<void> {
    const type = stanza.attrs.type
    if (to.local === '') return
    const account = accountOf(to)
    if (await this.stopped(stanza, account, from)) return
    if (type !== undefined && SUBSCRIPTION_TYPES.has(type)) {
      // RFC 6121 §3.1.3: subscription stanzas are about bare JIDs.
      const contact = {...from, resource: ''}
      stanza.attrs.from = bareJid(contact)
      stanza.attrs.to = account.bare
      for (const module of this.modules) await module.inboundSubscription?.(stanza, account, contact)
      return
    }

    if (type === 'probe') {
      // RFC 6121 §4.3.2: the contact's presence if the prober may see it, else unsubscribed (the same for no account).
      const asker = bareJid(from)
      if (!(await this.presenceAllowed(account, asker))) return sender.send(x('presence', NS.client, {type: 'unsubscribed', from: account.bare, to: asker}))
      const available = this.context.router.available(account.bare)
      if (available.length === 0) return sender.send(x('presence', NS.client, {type: 'unavailable', from: account.bare, to: fullJid(from)}))
      for (const source of available) {
        if (!source.presence) continue
        const copy = source.presence.clone()
        copy.attrs.from = source.fullJid
        copy.attrs.to = fullJid(from)
        sender.send(copy)
      }

      return
    }

    if (type !== undefined && type !== 'unavailable' && type !== 'error') return
    const targets = this.sessionsOf(to)
    for (const target of targets) target.send(stanza)
  }

  private async remoteIq(stanza: Element, from: Jid, to: Jid, sender: Sender): Promise<void> {
    const {type, id} = stanza.attrs
    const request = type === 'get' || type === 'set'
    if (id === undefined || !(request || type === 'result' || type === 'error')) {
      if (type !== 'error') sender.send(errorReply(stanza, 'bad-request'))
      return
    }

    if (request && stanza.elements().length !== 1) return sender.send(errorReply(stanza, 'bad-request'))
    if (to.resource !== '' && to.local !== '') {
      const target = this.context.router.get(bareJid(to), to.resource)
      if (target) {
        if (await this.stopped(stanza, accountOf(to), from)) return
        return target.send(stanza)
      }

      if (request) sender.send(errorReply(stanza, 'service-unavailable'))
      return
    }

    if (!request) return
    const query = stanza.elements()[0]
    const target: 'server' | 'account' = to.local === '' ? 'server' : 'account'
    if (target === 'account' && (await this.stopped(stanza, accountOf(to), from))) return
    const handler = this.iqHandlers.get(`${type} ${query.ns} ${query.name}`)?.find((candidate) => candidate.remote === true && candidate.to.includes(target))
    // Handlers that answer remote senders read `sender` only (modules/types.ts IqHandler.remote).
    if (handler) return handler.handle({session: undefined as unknown as C2sSession, sender, stanza, query, own: false, domain: to.domain, account: target === 'server' ? undefined : accountOf(to)})
    sender.send(errorReply(stanza, 'service-unavailable'))
  }

  /**
   * Stanzas a session's client never acknowledged (XEP-0198 §5 "the server
   * SHOULD treat unacknowledged stanzas as undelivered"): messages go to
   * offline storage as if the account had no resource, or back to their
   * senders as errors (redirectUndelivered); an iq request gets the error a
   * request to a resource that is gone gets (unanswered()), so its sender
   * does not wait forever; presence, results and errors are dropped.
   */
  async unacknowledged(session: C2sSession, stanzas: readonly string[]): Promise<void> {
    const parser = new XmppStreamParser({maxStanzaBytes: 16 * 1024 * 1024})
    parser.write(Buffer.from(`<stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}'>`))
    const account = sessionAccount(session)
    // All started in this turn, in order: a message for the account that comes in meanwhile is stored after them (mod_offline stores one account's messages in turn).
    const outcomes: Array<Promise<boolean>> = []
    for (const text of stanzas) {
      for (const event of parser.write(Buffer.from(text))) {
        if (event.type !== 'stanza') continue
        if (event.element.name === 'iq') this.unanswered(event.element)
        if (event.element.name !== 'message') continue
        const type = event.element.attrs.type ?? 'normal'
        if (type === 'error' || type === 'groupchat' || type === 'headline') continue
        outcomes.push(this.redirectUndelivered(event.element, account))
      }
    }

    const stored = (await Promise.all(outcomes)).filter(Boolean).length
    if (stored > 0) this.context.logger.info(`${session.fullJid}: ${stored} unacknowledged message(s) stored offline`)
  }

  /**
   * A message this server took for `account` and could not deliver after
   * all: offline storage, as for an account with no available resource
   * (RFC 6121 §8.5.2.2.1). When it is not stored (the account's storage is
   * full, mod_offline is off, the store fails), its sender gets an error
   * (RFC 6120 §8.3.1) wherever it is: the message is never lost in silence.
   * Says whether it was stored.
   */
  private async redirectUndelivered(message: Element, account: Account): Promise<boolean> {
    const from = parseJid(message.attrs.from ?? '')
    const sender = from ? this.returnAddress(from) : this.entitySender(parseJid(account.bare)!)
    try {
      for (const module of this.modules) if (await module.messageUndelivered?.(message, account, sender, true)) return true
    } catch (error) {
      // Whatever failed, the sender hears of it: the message itself is not thrown away with the error.
      this.context.logger.error(`storing a message for ${account.bare} that could not be delivered: ${error instanceof Error ? error.message : String(error)}`)
      const condition = error instanceof StoreError && error.code !== 'store-corrupt' ? 'resource-constraint' : 'internal-server-error'
      sender.send(errorReply(message, condition, undefined, 'the message was not delivered, and the server cannot store it now; send it again later'))
      return false
    }

    sender.send(errorReply(message, 'service-unavailable'))
    return false
  }

  /**
   * An iq request that reached a session which then ended before it could
   * answer: the sender gets what RFC 6120 §10.5.3.2 gives a request to a
   * full JID with no session, wherever the sender is.
   */
  private unanswered(iq: Element): void {
    if (iq.attrs.type !== 'get' && iq.attrs.type !== 'set') return
    const from = parseJid(iq.attrs.from ?? '')
    if (from) this.returnError(errorReply(iq, 'service-unavailable'), from)
  }

  /**
   * An error the server answers on an account's behalf, to the sender of the
   * stanza it answers: a local sender's session directly (through message()
   * a blocker's own list would stop it), anything else as returnAddress()
   * says. What the server itself sent from an account's bare JID or its own
   * domain (a roster push, a ping) has no session to tell.
   */
  private returnError(error: Element, sender: Jid): void {
    if (!this.isLocalHost(sender.domain)) return this.returnAddress(sender).send(error)
    if (sender.local !== '' && sender.resource !== '') this.deliverLocal(error)
  }

  /**
   * The sender of a message that redirectUndelivered() returns, or of a
   * stanza returnError() answers, as a Sender: an error goes to its session
   * wherever it is bound in the cluster (a message error under RFC 6121
   * §8.5, as any message), to the hosted service that sent it, or over s2s
   * to its server.
   */
  private returnAddress(from: Jid): Sender {
    if (this.serviceAt(from.domain)) return this.serviceSender(from)
    if (!this.isLocalHost(from.domain)) return this.remoteSender(from)
    return this.addressSender(from, (reply) => {
      const to = parseJid(reply.attrs.to ?? '')
      const by = parseJid(reply.attrs.from ?? '')
      if (!to || !by) return
      this.message(reply, to, this.entitySender(by)).catch((error: unknown) => this.context.logger.error(`returning an error to ${reply.attrs.to}: ${error instanceof Error ? error.message : String(error)}`))
    })
  }

  /** What modules keep of a session in memory, by module name, for the cluster node it moves to (XEP-0198 resumption there). */
  sessionState(session: C2sSession): Record<string, unknown> {
    const state: Record<string, unknown> = {}
    for (const module of this.modules) {
      const kept = module.exportSession?.(session)
      if (kept !== undefined) state[module.name] = kept
    }

    return state
  }

  /** What modules kept of a session on the node it came from; each module reads its own part. */
  adoptSessionState(session: C2sSession, state: Record<string, unknown>): void {
    for (const module of this.modules) if (state[module.name] !== undefined) module.importSession?.(session, state[module.name])
  }

  /** The account was deleted while the server runs: modules forget what they keep of it in memory. */
  accountDeleted(account: Account): void {
    for (const module of this.modules) module.accountDeleted?.(account)
  }

  /** Another node of the cluster changed what the store keeps of the account: modules drop what they cache of it. */
  accountDataChanged(account: Account): void {
    for (const module of this.modules) module.accountDataChanged?.(account)
  }

  /** A roster item changed outside the server; returns how many sessions were told. */
  async rosterChanged(account: Account, contact: string): Promise<number> {
    let told = 0
    for (const module of this.modules) told += (await module.rosterChanged?.(account, contact)) ?? 0
    return told
  }

  /**
   * A session on another node of the cluster ended without a word (its node
   * died): unavailable presence on its behalf (RFC 6121 §4.5.2) to the
   * contacts and own resources bound here. Every node does this for its own
   * sessions, so each contact hears it once; one node tells contacts on
   * other servers (remoteSessionEndedForOtherServers()).
   */
  async remoteSessionEnded(session: C2sSession): Promise<void> {
    const account = sessionAccount(session)
    const unavailable = x('presence', NS.client, {type: 'unavailable', from: session.fullJid})
    const {router} = this.context
    for (const module of this.modules) {
      for (const contact of (await module.presenceSubscribers?.(account)) ?? []) {
        const targets = router.localAvailable(contact)
        if (targets.length === 0 || (await this.stopped(unavailable, storedAccount(contact), session.jid!))) continue
        this.deliverTo(unavailable, targets)
      }
    }

    this.deliverTo(unavailable, router.localAvailable(account.bare))
  }

  /** The same for the session's contacts on other servers, as a broadcast would reach them (RFC 6121 §4.2.2: one copy per contact's bare JID). */
  async remoteSessionEndedForOtherServers(session: C2sSession): Promise<void> {
    if (!this.context.remote) return
    const unavailable = x('presence', NS.client, {type: 'unavailable', from: session.fullJid})
    for (const module of this.modules) {
      for (const contact of (await module.presenceSubscribers?.(sessionAccount(session))) ?? []) {
        if (this.isLocalHost(storedAccount(contact).host)) continue
        const copy = unavailable.clone()
        copy.attrs.to = contact
        this.sendRemote(copy)
      }
    }
  }

  /**
   * A stanza another node sent for a session of this node that is gone (or
   * for a node gone before it took it): a message is stored offline or
   * returned to its sender, as redirectUndelivered() says, an iq request
   * is answered with an error (unanswered()); presence is dropped, as for
   * a session that closed in flight.
   */
  async undeliverable(stanza: Element): Promise<void> {
    if (stanza.name === 'iq') return this.unanswered(stanza)
    if (stanza.name !== 'message') return
    const type = stanza.attrs.type ?? 'normal'
    const to = parseJid(stanza.attrs.to ?? '')
    if (!to || to.local === '' || type === 'error' || type === 'groupchat' || type === 'headline') return
    if (await this.redirectUndelivered(stanza, accountOf(to))) this.context.logger.debug(`a message for ${stanza.attrs.to} that another node did not deliver was stored offline`)
  }

  /** A session ended: unavailable presence on its behalf (RFC 6121 §4.5.2). */
  async sessionEnded(session: C2sSession): Promise<void> {
    for (const module of this.modules) module.sessionEnded?.(session)
    if (!session.available) return
    session.available = false
    const unavailable = x('presence', NS.client, {type: 'unavailable', from: session.fullJid})
    for (const module of this.modules) await module.becameUnavailable?.(session, sessionAccount(session), unavailable)
    await this.broadcast(session, unavailable)
  }
}
