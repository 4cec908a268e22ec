/**
 * The IM core (RFC 6121) and basic services: stanza routing to full and bare
 * JIDs, presence broadcast and probes, roster get/set/push with the
 * subscription state machine (§3, Appendix A), offline storage and
 * delivery, disco#info/items (XEP-0030), ping (XEP-0199), software version
 * (XEP-0092, off by default); service-unavailable for everything else.
 */
import {StoreError} from '../errors.js'
import type {AccountStore} from '../store/account-store.js'
import type {RosterItem, RosterLimits, RosterStore, Subscription} from '../store/roster-store.js'
import type {C2sSession} from './c2s.js'
import {type Jid, bareJid, parseJid} from './jid.js'
import type {Logger} from './log.js'
import {NS} from './namespaces.js'
import type {Router} from './router.js'
import {errorReply, iqResult} from './stanza.js'
import {Element, x} from './xml/element.js'

export interface ImOptions {
  /** Answer XEP-0092 software version queries (off by default: it helps attackers). */
  version: boolean
  /** Offline messages kept per account. */
  offlineLimit: number
  /** Roster size per account, on every path that adds to it (roster set, subscriptions). */
  rosterLimits: RosterLimits
}

export const DEFAULT_IM_OPTIONS: ImOptions = {version: false, offlineLimit: 1000, rosterLimits: {items: 2000, bytes: 1024 * 1024}}

/** Offline messages read from the store at a time, so a large backlog is never held whole. */
const OFFLINE_PAGE = 50

const SUBSCRIPTION_TYPES = new Set(['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed'])

export interface ImContext {
  hosts(): readonly string[]
  router: Router
  accounts: AccountStore
  rosters: RosterStore
  logger: Logger
  options: ImOptions
  softwareVersion: string
}

interface Account {
  host: string
  username: string
  bare: string
}

function accountOf(jid: Pick<Jid, 'local' | 'domain'>): Account {
  return {host: jid.domain, username: jid.local, bare: bareJid(jid)}
}

function sessionAccount(session: C2sSession): Account {
  return {host: session.host!, username: session.username!, bare: session.bareJid}
}

function rosterItemElement(item: RosterItem | {contact: string; subscription: 'remove'}): Element {
  if (item.subscription === 'remove') return x('item', NS.roster, {jid: item.contact, subscription: 'remove'})
  const full = item as RosterItem
  return x(
    'item',
    NS.roster,
    {jid: full.contact, name: full.name, subscription: full.subscription, ask: full.ask ? 'subscribe' : undefined},
    ...full.groups.map((group) => x('group', NS.roster, {}, group)),
  )
}

/** RFC 6121 Appendix A state transitions, as functions of the current subscription. */
const gain = {
  to: (s: Subscription): Subscription => (s === 'none' ? 'to' : s === 'from' ? 'both' : s),
  from: (s: Subscription): Subscription => (s === 'none' ? 'from' : s === 'to' ? 'both' : s),
}
const lose = {
  to: (s: Subscription): Subscription => (s === 'to' ? 'none' : s === 'both' ? 'from' : s),
  from: (s: Subscription): Subscription => (s === 'from' ? 'none' : s === 'both' ? 'to' : s),
}

export class ImService {
  private readonly context: ImContext
  private pushCounter = 0

  constructor(context: ImContext) {
    this.context = context
  }

  private isLocalHost(domain: string): boolean {
    return this.context.hosts().includes(domain)
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
      if (stanza.name === 'iq') return await this.iq(session, stanza, to)
      if (stanza.name === 'message') return await this.message(stanza, to ?? {...session.jid!, resource: ''}, session)
      return await this.presence(session, stanza, to)
    } catch (error) {
      if (!(error instanceof StoreError)) throw error
      // A store that cannot write now (full disk, lock, damage) fails this
      // stanza, not the sender's stream (RFC 6120 §8.3.3.18, §8.3.3.11).
      this.context.logger.error(`store error handling <${stanza.name}/> from ${session.fullJid}: ${error.message}`)
      if (stanza.attrs.type !== 'error' && !(stanza.name === 'iq' && (stanza.attrs.type === 'result'))) {
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
    if (own || (to!.local === '' && to!.resource === '' && this.isLocalHost(to!.domain))) {
      if (request) await this.serverIq(session, stanza, own, to?.domain ?? session.host!)
      return
    }

    // To another entity: a full JID of a local session, or a bare JID handled on the account's behalf.
    if (this.isLocalHost(to!.domain) && to!.resource !== '' && to!.local !== '') {
      const target = this.context.router.get(bareJid(to!), to!.resource)
      if (target) return target.send(stanza)
    }

    if (!request) return
    if (!this.isLocalHost(to!.domain)) return session.send(errorReply(stanza, 'remote-server-not-found'))
    session.send(errorReply(stanza, 'service-unavailable'))
  }

  private async serverIq(session: C2sSession, stanza: Element, own: boolean, domain: string): Promise<void> {
    const query = stanza.elements()[0]
    const get = stanza.attrs.type === 'get'
    const from = own ? undefined : domain
    if (query.ns === NS.roster && query.name === 'query' && own) return get ? this.rosterGet(session, stanza) : this.rosterSet(session, stanza, query)
    if (query.ns === NS.ping && query.name === 'ping' && get) return session.send(iqResult(stanza, from))
    if (query.ns === NS.session && query.name === 'session') return session.send(iqResult(stanza, from))
    if (query.ns === NS.discoInfo && query.name === 'query' && get && !query.attrs.node) {
      const result = x('query', NS.discoInfo)
      if (own) result.c('identity', {category: 'account', type: 'registered'})
      else {
        result.c('identity', {category: 'server', type: 'im', name: 'xmppctl'})
        for (const feature of this.features()) result.c('feature', {var: feature})
      }

      return session.send(iqResult(stanza, from, result))
    }

    if (query.ns === NS.discoItems && query.name === 'query' && get && !query.attrs.node) return session.send(iqResult(stanza, from, x('query', NS.discoItems)))
    if (query.ns === NS.version && query.name === 'query' && get && this.context.options.version && !own) {
      return session.send(iqResult(stanza, from, x('query', NS.version, {}, x('name', NS.version, {}, 'xmppctl'), x('version', NS.version, {}, this.context.softwareVersion))))
    }

    session.send(errorReply(stanza, 'service-unavailable', own ? session.bareJid : domain))
  }

  private features(): string[] {
    const features: string[] = [NS.discoInfo, NS.discoItems, NS.ping, NS.roster, 'msgoffline', 'presence']
    if (this.context.options.version) features.push(NS.version)
    return features.sort()
  }

  // ---- roster (RFC 6121 §2) ----------------------------------------------

  private async rosterGet(session: C2sSession, stanza: Element): Promise<void> {
    const {host, username} = sessionAccount(session)
    const items = await this.context.rosters.getRoster(host, username)
    session.interested = true
    // Built without spreading: an argument list of a whole roster can overflow the stack.
    const query = new Element('query', NS.roster, {}, items.map(rosterItemElement))
    session.send(iqResult(stanza, undefined, query))
  }

  private async rosterSet(session: C2sSession, stanza: Element, query: Element): Promise<void> {
    const items = query.getChildren('item', NS.roster)
    if (items.length !== 1) return session.send(errorReply(stanza, 'bad-request'))
    const [element] = items
    const contact = parseJid(element.attrs.jid ?? '')
    if (!contact || contact.resource !== '') return session.send(errorReply(stanza, 'bad-request', undefined, 'the item needs a bare JID'))
    const account = sessionAccount(session)
    const contactBare = bareJid(contact)
    const {rosters} = this.context
    const existing = await rosters.getItem(account.host, account.username, contactBare)
    if (element.attrs.subscription === 'remove') {
      if (!existing) return session.send(errorReply(stanza, 'item-not-found'))
      await rosters.removeItem(account.host, account.username, contactBare)
      session.send(iqResult(stanza, undefined))
      this.push(account, {contact: contactBare, subscription: 'remove'})
      // RFC 6121 §2.5.2: cancel both directions.
      if (existing.subscription === 'to' || existing.subscription === 'both' || existing.ask) await this.inbound(contact, 'unsubscribe', account)
      const hadRequest = await rosters.removeSubscriptionRequest(account.host, account.username, contactBare)
      if (existing.subscription === 'from' || existing.subscription === 'both' || hadRequest) {
        await this.inbound(contact, 'unsubscribed', account)
        this.sendUnavailableTo(account, contactBare)
      }

      return
    }

    const groups = [...new Set(element.getChildren('group', NS.roster).map((group) => group.text()))]
    if (groups.some((group) => group === '' || Buffer.byteLength(group) > 1023) || Buffer.byteLength(element.attrs.name ?? '') > 1023) {
      return session.send(errorReply(stanza, 'not-acceptable'))
    }

    const item: RosterItem = {
      contact: contactBare,
      name: element.attrs.name === '' ? undefined : element.attrs.name,
      subscription: existing?.subscription ?? 'none',
      ask: existing?.ask ?? false,
      groups,
    }
    const result = await rosters.putItem(account.host, account.username, item, this.context.options.rosterLimits)
    if (result === 'roster-full') return session.send(errorReply(stanza, 'resource-constraint', undefined, 'the roster is full'))
    if (result === 'no-account') return session.send(errorReply(stanza, 'not-allowed', undefined, 'this account has no stored roster'))
    session.send(iqResult(stanza, undefined))
    this.push(account, item)
  }

  /** A roster push to every interested resource (RFC 6121 §2.1.6). */
  private push(account: Account, item: RosterItem | {contact: string; subscription: 'remove'}): void {
    for (const target of this.context.router.all(account.bare)) {
      if (!target.interested) continue
      target.send(x('iq', NS.client, {type: 'set', id: `push${++this.pushCounter}`, to: target.fullJid}, x('query', NS.roster, {}, rosterItemElement(item))))
    }
  }

  /**
   * Changes (or, with `create`, adds) the roster item of `contact`; 'full'
   * when adding it would pass the roster limits, which hold on this path as
   * on roster sets.
   */
  private async update(account: Account, contact: string, change: (item: RosterItem) => RosterItem, create: boolean): Promise<RosterItem | 'full' | undefined> {
    const existing = await this.context.rosters.getItem(account.host, account.username, contact)
    if (!existing && !create) return undefined
    const before = existing ?? {contact, name: undefined, subscription: 'none' as const, ask: false, groups: []}
    const after = change({...before})
    if (existing && after.subscription === existing.subscription && after.ask === existing.ask) return existing
    const result = await this.context.rosters.putItem(account.host, account.username, after, this.context.options.rosterLimits)
    if (result === 'roster-full') return 'full'
    if (result === 'no-account') return undefined
    this.push(account, after)
    return after
  }

  // ---- presence (RFC 6121 §3, §4) ----------------------------------------

  private async presence(session: C2sSession, stanza: Element, to: Jid | undefined): Promise<void> {
    const type = stanza.attrs.type
    const account = sessionAccount(session)
    if (type !== undefined && SUBSCRIPTION_TYPES.has(type)) {
      if (!to) return
      return this.outboundSubscription(session, stanza, account, {...to, resource: ''}, type as 'subscribe')
    }

    if (type === 'probe') return
    if (type !== undefined && type !== 'unavailable' && type !== 'error') return session.send(errorReply(stanza, 'bad-request'))
    if (to) return this.directed(stanza, to)
    if (type === 'error') return
    if (type === 'unavailable') {
      if (!session.available) return
      session.available = false
      session.presence = undefined
      await this.broadcast(session, stanza)
      return
    }

    const priority = Number.parseInt(stanza.getChildText('priority') ?? '0', 10)
    session.priority = Number.isInteger(priority) && priority >= -128 && priority <= 127 ? priority : 0
    const initial = !session.available
    session.available = true
    session.presence = stanza
    await this.broadcast(session, stanza)
    if (initial) await this.initialPresence(session, account)
  }

  private directed(stanza: Element, to: Jid): void {
    if (!this.isLocalHost(to.domain) || to.local === '') return
    const bare = bareJid(to)
    const targets = to.resource === '' ? this.context.router.available(bare) : [this.context.router.get(bare, to.resource)].filter((s) => s !== undefined)
    for (const target of targets) target.send(stanza)
  }

  /** Presence of `session` to subscribers and to the account's own available resources. */
  private async broadcast(session: C2sSession, stanza: Element): Promise<void> {
    const account = sessionAccount(session)
    for (const contact of await this.context.rosters.getContacts(account.host, account.username, ['from', 'both'])) this.deliverPresence(stanza, contact)

    for (const own of this.context.router.available(account.bare).concat(session.available ? [] : [session])) {
      const copy = stanza.clone()
      copy.attrs.to = own.fullJid
      own.send(copy)
    }
  }

  private deliverPresence(stanza: Element, contactBare: string): void {
    const contact = parseJid(contactBare)
    if (!contact || !this.isLocalHost(contact.domain)) return
    for (const target of this.context.router.available(contactBare)) {
      const copy = stanza.clone()
      copy.attrs.to = target.fullJid
      target.send(copy)
    }
  }

  /** RFC 6121 §4.2.2: probes, pending subscription requests, offline messages. */
  private async initialPresence(session: C2sSession, account: Account): Promise<void> {
    const {router, rosters} = this.context
    for (const contact of await rosters.getContacts(account.host, account.username, ['to', 'both'])) {
      for (const source of router.available(contact)) this.sendPresenceOf(source, session)
    }

    for (const other of router.available(account.bare)) if (other !== session) this.sendPresenceOf(other, session)
    for (const request of await rosters.getSubscriptionRequests(account.host, account.username)) session.send(request.stanza)
    if (session.priority >= 0) this.startOfflineDelivery(session, account)
  }

  private sendPresenceOf(from: C2sSession, to: C2sSession): void {
    if (!from.presence) return
    const copy = from.presence.clone()
    copy.attrs.from = from.fullJid
    copy.attrs.to = to.fullJid
    to.send(copy)
  }

  /** Unavailable presence from each available resource of `account` to `contactBare` (RFC 6121 §3.2.2, §3.3.3). */
  private sendUnavailableTo(account: Account, contactBare: string): void {
    for (const session of this.context.router.available(account.bare)) {
      this.deliverPresence(x('presence', NS.client, {type: 'unavailable', from: session.fullJid}), contactBare)
    }
  }

  /** The user's side of a subscription stanza (RFC 6121 §3.1.2, §3.2.2, §3.3.2, §3.4.2). */
  private async outboundSubscription(
    session: C2sSession,
    stanza: Element,
    account: Account,
    contact: Jid,
    type: 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed',
  ): Promise<void> {
    const contactBare = bareJid(contact)
    const {rosters} = this.context
    switch (type) {
      case 'subscribe': {
        const item = await this.update(account, contactBare, (current) => (current.subscription === 'to' || current.subscription === 'both' ? current : {...current, ask: true}), true)
        if (item === 'full') return session.send(errorReply(stanza, 'resource-constraint', undefined, 'the roster is full'))
        break
      }

      case 'subscribed': {
        if (!(await rosters.hasSubscriptionRequest(account.host, account.username, contactBare))) return
        // The request stays stored until the approval is: a full roster must not lose it.
        const item = await this.update(account, contactBare, (current) => ({...current, subscription: gain.from(current.subscription)}), true)
        if (item === 'full') return session.send(errorReply(stanza, 'resource-constraint', undefined, 'the roster is full'))
        await rosters.removeSubscriptionRequest(account.host, account.username, contactBare)
        await this.inbound(contact, 'subscribed', account)
        for (const own of this.context.router.available(account.bare)) {
          if (!own.presence) continue
          const copy = own.presence.clone()
          copy.attrs.from = own.fullJid
          this.deliverPresence(copy, contactBare)
        }

        return
      }

      case 'unsubscribe': {
        await this.update(account, contactBare, (item) => ({...item, subscription: lose.to(item.subscription), ask: false}), false)
        break
      }

      case 'unsubscribed': {
        const hadRequest = await rosters.removeSubscriptionRequest(account.host, account.username, contactBare)
        const before = await rosters.getItem(account.host, account.username, contactBare)
        await this.update(account, contactBare, (item) => ({...item, subscription: lose.from(item.subscription)}), false)
        const cancelled = before !== undefined && (before.subscription === 'from' || before.subscription === 'both')
        if (!cancelled && !hadRequest) return
        await this.inbound(contact, 'unsubscribed', account)
        if (cancelled) this.sendUnavailableTo(account, contactBare)
        return
      }
    }

    await this.inbound(contact, type, account)
  }

  /** The contact's side of a subscription stanza from `from`, when the contact is local. */
  private async inbound(contact: Pick<Jid, 'local' | 'domain'>, type: 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed', from: Account): Promise<void> {
    if (!this.isLocalHost(contact.domain) || contact.local === '') return
    const target = accountOf(contact)
    const {rosters, router} = this.context
    const stanza = x('presence', NS.client, {type, from: from.bare, to: target.bare})
    const deliver = () => {
      for (const session of router.available(target.bare)) session.send(stanza)
    }

    switch (type) {
      case 'subscribe': {
        const item = await rosters.getItem(target.host, target.username, from.bare)
        if (item && (item.subscription === 'from' || item.subscription === 'both')) {
          // Already approved: the contact's server answers for it (RFC 6121 §3.1.3).
          await this.inbound(parseJid(from.bare)!, 'subscribed', target)
          return
        }

        if (await rosters.putSubscriptionRequest(target.host, target.username, from.bare, stanza.toString(NS.client))) deliver()
        return
      }

      case 'subscribed': {
        const item = await rosters.getItem(target.host, target.username, from.bare)
        if (!item?.ask) return
        await this.update(target, from.bare, (current) => ({...current, subscription: gain.to(current.subscription), ask: false}), false)
        deliver()
        // RFC 6121 §3.1.6: the contact's available resources' presence follows.
        const fromSessions = router.available(from.bare)
        for (const session of router.available(target.bare)) for (const source of fromSessions) this.sendPresenceOf(source, session)
        return
      }

      case 'unsubscribe': {
        await rosters.removeSubscriptionRequest(target.host, target.username, from.bare)
        const item = await rosters.getItem(target.host, target.username, from.bare)
        if (!item || (item.subscription !== 'from' && item.subscription !== 'both')) return
        await this.update(target, from.bare, (current) => ({...current, subscription: lose.from(current.subscription)}), false)
        deliver()
        this.sendUnavailableTo(target, from.bare)
        return
      }

      case 'unsubscribed': {
        const item = await rosters.getItem(target.host, target.username, from.bare)
        if (!item || (item.subscription !== 'to' && item.subscription !== 'both' && !item.ask)) return
        await this.update(target, from.bare, (current) => ({...current, subscription: lose.to(current.subscription), ask: false}), false)
        deliver()
      }
    }
  }

  // ---- messages (RFC 6121 §8.5) ------------------------------------------

  private async message(stanza: Element, to: Jid, session: C2sSession): Promise<void> {
    const type = stanza.attrs.type ?? 'normal'
    if (!this.isLocalHost(to.domain)) {
      if (type !== 'error') session.send(errorReply(stanza, 'remote-server-not-found'))
      return
    }

    if (to.local === '') {
      if (type !== 'error') session.send(errorReply(stanza, 'service-unavailable'))
      return
    }

    const {router} = this.context
    const bare = bareJid(to)
    if (to.resource !== '') {
      const target = router.get(bare, to.resource)
      if (target) return target.send(stanza)
      // §8.5.3.2: to an offline resource, groupchat and errors are not redirected.
      if (type === 'groupchat' || type === 'error') {
        if (type === 'groupchat') session.send(errorReply(stanza, 'service-unavailable'))
        return
      }
    }

    if (type === 'error' || type === 'groupchat') return
    const targets = router.available(bare).filter((candidate) => candidate.priority >= 0)
    if (targets.length > 0) {
      for (const target of targets) target.send(stanza)
      return
    }

    if (type === 'headline') return
    await this.storeOffline(stanza, accountOf(to), session)
  }

  private async storeOffline(stanza: Element, account: Account, sender: C2sSession): Promise<void> {
    const copy = stanza.clone()
    copy.append(x('delay', NS.delay, {from: account.host, stamp: new Date().toISOString()}))
    const stored = await this.context.rosters.storeOfflineMessage(account.host, account.username, copy.toString(NS.client), this.context.options.offlineLimit)
    if (!stored) sender.send(errorReply(stanza, 'service-unavailable'))
  }

  /** Offline delivery runs beside the session's other stanzas, once at a time per session. */
  private startOfflineDelivery(session: C2sSession, account: Account): void {
    if (session.offlineDelivery) return
    session.offlineDelivery = this.deliverOffline(session, account)
      .catch((error: unknown) => this.context.logger.error(`offline delivery to ${session.fullJid}: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => (session.offlineDelivery = undefined))
  }

  /**
   * RFC 6121 §8.5.2.1.1 offline delivery, paced by what the client reads: a
   * page at a time from the store, each message written only once the
   * client has drained what came before, and deleted only once it reached
   * the connection. A client that leaves midway finds the rest next time.
   */
  private async deliverOffline(session: C2sSession, account: Account): Promise<void> {
    const {rosters} = this.context
    let afterId = 0
    for (;;) {
      const page = await rosters.getOfflineMessages(account.host, account.username, {afterId, limit: OFFLINE_PAGE})
      if (page.length === 0) return
      const writes: Array<Promise<number | undefined>> = []
      for (const message of page) {
        if (!session.available || !(await session.drained())) break
        writes.push(session.sendConfirmed(message.stanza).then((written) => (written ? message.id : undefined)))
      }

      const delivered = (await Promise.all(writes)).filter((id) => id !== undefined)
      if (delivered.length > 0) await rosters.deleteOfflineMessages(account.host, account.username, delivered)
      if (delivered.length < page.length) return
      afterId = page.at(-1)!.id
    }
  }

  /** A session ended: unavailable presence on its behalf (RFC 6121 §4.5.2). */
  async sessionEnded(session: C2sSession): Promise<void> {
    if (!session.available) return
    session.available = false
    await this.broadcast(session, x('presence', NS.client, {type: 'unavailable', from: session.fullJid}))
  }
}
