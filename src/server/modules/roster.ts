/**
 * mod_roster: the roster (RFC 6121 §2: get, set, push, with versioning,
 * §2.6) and presence subscriptions with their state machine (§3, Appendix
 * A) and pre-approvals (§3.4), which decide who receives an account's
 * presence and who may probe it (§4.3).
 */
import type {RosterItem, RosterLimits, RosterVersion, Subscription} from '../../store/roster-store.js'
import type {C2sSession} from '../c2s.js'
import {type Account, type Jid, accountOf, bareJid, parseJid} from '../jid.js'
import {NS} from '../../xml/namespaces.js'
import {errorReply, iqResult} from '../stanza.js'
import {Element, x} from '../../xml/element.js'
import type {IqRequest, ModuleContext, ServerModule} from './types.js'

type SubscriptionType = 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed'

type PushedItem = RosterItem | {contact: string; subscription: 'remove'}

function rosterItemElement(item: PushedItem): Element {
  if (item.subscription === 'remove') return x('item', NS.roster, {jid: item.contact, subscription: 'remove'})
  const full = item as RosterItem
  return x(
    'item',
    NS.roster,
    {jid: full.contact, name: full.name, subscription: full.subscription, ask: full.ask ? 'subscribe' : undefined, approved: full.approved ? 'true' : undefined},
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

export interface RosterOptions {
  limits: RosterLimits
}

export function createRosterModule(context: ModuleContext, options: RosterOptions): ServerModule {
  const {router, rosters} = context
  let pushCounter = 0

  const sessionAccount = (session: C2sSession): Account => ({host: session.host!, username: session.username!, bare: session.bareJid})

  /** A roster push to every interested resource (RFC 6121 §2.1.6), with the roster's version after the change (§2.6.3); returns how many got it. */
  const push = (account: Account, item: PushedItem, version: RosterVersion): number => {
    let pushed = 0
    for (const target of router.all(account.bare)) {
      if (!target.interested) continue
      target.send(x('iq', NS.client, {type: 'set', id: `push${++pushCounter}`, to: target.fullJid}, x('query', NS.roster, {ver: version}, rosterItemElement(item))))
      pushed++
    }

    return pushed
  }

  /**
   * Changes (or, with `create`, adds) the roster item of `contact`; 'full'
   * when adding it would pass the roster limits, which hold on this path as
   * on roster sets.
   */
  const update = async (account: Account, contact: string, change: (item: RosterItem) => RosterItem, create: boolean): Promise<RosterItem | 'full' | undefined> => {
    const existing = await rosters.getItem(account.host, account.username, contact)
    if (!existing && !create) return undefined
    const before = existing ?? {contact, name: undefined, subscription: 'none' as const, ask: false, approved: false, groups: []}
    const after = change({...before})
    if (existing && after.subscription === existing.subscription && after.ask === existing.ask && after.approved === existing.approved) return existing
    const result = await rosters.putItem(account.host, account.username, after, options.limits)
    if (result === 'roster-full') return 'full'
    if (result === 'no-account') return undefined
    push(account, after, result.version)
    return after
  }

  /**
   * The account grants `contact` a subscription to its presence, answering
   * a request (RFC 6121 §3.1.5) or a pre-approval answering it (§3.4): the
   * item gains "from" and uses the pre-approval up, the request is
   * dropped, the contact's side learns of it and gets the account's
   * current presence. 'full' when the item would not fit in the roster.
   */
  const approve = async (account: Account, contact: Jid): Promise<'full' | undefined> => {
    const contactBare = bareJid(contact)
    // The request stays stored until the approval is: a full roster must not lose it.
    const item = await update(account, contactBare, (current) => ({...current, subscription: gain.from(current.subscription), approved: false}), true)
    if (item === 'full') return 'full'
    await rosters.removeSubscriptionRequest(account.host, account.username, contactBare)
    await inbound(contact, 'subscribed', account)
    for (const own of router.available(account.bare)) {
      if (!own.presence) continue
      const copy = own.presence.clone()
      copy.attrs.from = own.fullJid
      context.deliverPresence(copy, contactBare)
    }

    return undefined
  }

  /** Unavailable presence from each available resource of `account` to `contactBare` (RFC 6121 §3.2.2, §3.3.3). */
  const sendUnavailableTo = (account: Account, contactBare: string): void => {
    for (const session of router.available(account.bare)) {
      context.deliverPresence(x('presence', NS.client, {type: 'unavailable', from: session.fullJid}), contactBare)
    }
  }

  /**
   * The contact's side of a subscription stanza from `from`, when the contact
   * is local. `original` is what the user sent: a subscription request is
   * stored and delivered complete, extensions included (RFC 6121 §3.1.3).
   */
  const inbound = async (contact: Pick<Jid, 'local' | 'domain'>, type: SubscriptionType, from: Account, original?: Element): Promise<void> => {
    if (contact.local === '') return
    if (!context.isLocalHost(contact.domain)) {
      // The contact's server handles its side (RFC 6121 §3.1.2): the stanza goes there from the user's bare JID.
      const stanza = original ? original.clone() : x('presence', NS.client, {type})
      Object.assign(stanza.attrs, {type, from: from.bare, to: `${contact.local}@${contact.domain}`})
      context.sendRemote(stanza)
      return
    }

    const target = accountOf(contact)
    const stanza = original ? original.clone() : x('presence', NS.client, {type})
    Object.assign(stanza.attrs, {type, from: from.bare, to: target.bare})
    // §3.1.3 delivers a request to available resources; §3.1.6, §3.2.3 and §3.3.3 the rest to interested ones.
    const deliver = (onlyInterested: boolean) => {
      for (const session of router.available(target.bare)) if (!onlyInterested || session.interested) session.send(stanza)
    }

    switch (type) {
      case 'subscribe': {
        const item = await rosters.getItem(target.host, target.username, from.bare)
        if (item && (item.subscription === 'from' || item.subscription === 'both')) {
          // Already approved: the contact's server answers for it (RFC 6121 §3.1.3).
          await inbound(parseJid(from.bare)!, 'subscribed', target)
          return
        }

        // RFC 6121 §3.4: pre-approved, so approved now without asking the contact (an item that exists always fits).
        if (item?.approved) {
          await approve(target, parseJid(from.bare)!)
          return
        }

        if (await rosters.putSubscriptionRequest(target.host, target.username, from.bare, stanza.toString(NS.client))) deliver(false)
        return
      }

      case 'subscribed': {
        const item = await rosters.getItem(target.host, target.username, from.bare)
        if (!item?.ask) return
        await update(target, from.bare, (current) => ({...current, subscription: gain.to(current.subscription), ask: false}), false)
        // The contact's presence follows from the contact's side (§3.1.5, outboundSubscription below).
        deliver(true)
        return
      }

      case 'unsubscribe': {
        await rosters.removeSubscriptionRequest(target.host, target.username, from.bare)
        const item = await rosters.getItem(target.host, target.username, from.bare)
        if (!item || (item.subscription !== 'from' && item.subscription !== 'both')) return
        await update(target, from.bare, (current) => ({...current, subscription: lose.from(current.subscription)}), false)
        deliver(true)
        sendUnavailableTo(target, from.bare)
        return
      }

      case 'unsubscribed': {
        const item = await rosters.getItem(target.host, target.username, from.bare)
        if (!item || (item.subscription !== 'to' && item.subscription !== 'both' && !item.ask)) return
        await update(target, from.bare, (current) => ({...current, subscription: lose.to(current.subscription), ask: false}), false)
        deliver(true)
      }
    }
  }

  /**
   * RFC 6121 §2.6.3: a client that holds the current version gets an
   * empty result (and pushes of later changes); any other gets the whole
   * roster with its version, which §2.6.3 allows in place of pushes of
   * what changed, and which needs no history of changes.
   */
  const rosterGet = async ({session, stanza, query}: IqRequest): Promise<void> => {
    const {host, username} = sessionAccount(session)
    const {version, items} = await rosters.getVersionedRoster(host, username, query.attrs.ver)
    if (!session.interested) {
      session.interested = true
      // In a cluster, pushes from other nodes reach this session too, from the moment the client has the roster.
      await router.changed(session)
    }
    if (!items) return session.send(iqResult(stanza, undefined))
    // Built without spreading: an argument list of a whole roster can overflow the stack.
    session.send(iqResult(stanza, undefined, new Element('query', NS.roster, {ver: version}, items.map(rosterItemElement))))
  }

  const rosterSet = async ({session, stanza, query}: IqRequest): Promise<void> => {
    const items = query.getChildren('item', NS.roster)
    if (items.length !== 1) return session.send(errorReply(stanza, 'bad-request'))
    const [element] = items
    const contact = parseJid(element.attrs.jid ?? '')
    if (!contact || contact.resource !== '') return session.send(errorReply(stanza, 'bad-request', undefined, 'the item needs a bare JID'))
    const account = sessionAccount(session)
    const contactBare = bareJid(contact)
    const existing = await rosters.getItem(account.host, account.username, contactBare)
    if (element.attrs.subscription === 'remove') {
      const version = existing ? await rosters.removeItem(account.host, account.username, contactBare) : undefined
      if (!existing || version === undefined) return session.send(errorReply(stanza, 'item-not-found'))
      session.send(iqResult(stanza, undefined))
      push(account, {contact: contactBare, subscription: 'remove'}, version)
      // RFC 6121 §2.5.2: cancel both directions.
      if (existing.subscription === 'to' || existing.subscription === 'both' || existing.ask) await inbound(contact, 'unsubscribe', account)
      const hadRequest = await rosters.removeSubscriptionRequest(account.host, account.username, contactBare)
      if (existing.subscription === 'from' || existing.subscription === 'both' || hadRequest) {
        await inbound(contact, 'unsubscribed', account)
        sendUnavailableTo(account, contactBare)
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
      // RFC 6121 §2.1.2.1: pre-approvals are managed by presence stanzas; an 'approved' in a set is ignored.
      approved: existing?.approved ?? false,
      groups,
    }
    const result = await rosters.putItem(account.host, account.username, item, options.limits)
    if (result === 'roster-full') return session.send(errorReply(stanza, 'resource-constraint', undefined, 'the roster is full'))
    if (result === 'no-account') return session.send(errorReply(stanza, 'not-allowed', undefined, 'this account has no stored roster'))
    session.send(iqResult(stanza, undefined))
    push(account, item, result.version)
  }

  return {
    name: 'mod_roster',
    features: [NS.roster, 'presence'],
    streamFeatures: () => [x('ver', NS.rosterVersioning), x('sub', NS.preApproval)],
    iq: [
      {ns: NS.roster, name: 'query', types: ['get'], to: ['own'], handle: rosterGet},
      {ns: NS.roster, name: 'query', types: ['set'], to: ['own'], handle: rosterSet},
    ],

    async rosterChanged(account, contact) {
      // The version before the item: a version read after could include a change whose push is still to come.
      const version = await rosters.getRosterVersion(account.host, account.username)
      const item = await rosters.getItem(account.host, account.username, contact)
      return push(account, item ?? {contact, subscription: 'remove'}, version)
    },

    async presenceSubscribers(account) {
      return rosters.getContacts(account.host, account.username, ['from', 'both'])
    },

    async presenceAllowed(account, contact) {
      const item = await rosters.getItem(account.host, account.username, contact)
      return item !== undefined && (item.subscription === 'from' || item.subscription === 'both')
    },

    /** RFC 6121 §4.2.2: the presence of contacts the user subscribes to, and pending requests. */
    async initialPresence(session, account) {
      for (const contact of await rosters.getContacts(account.host, account.username, ['to', 'both'])) {
        // RFC 6121 §4.2.1: a remote contact's presence is asked of its server with a probe.
        if (!context.isLocalHost(contact.slice(contact.lastIndexOf('@') + 1))) {
          context.sendRemote(x('presence', NS.client, {type: 'probe', from: account.bare, to: contact}))
          continue
        }

        for (const source of router.available(contact)) await context.sendPresenceOf(source, session)
      }

      for (const request of await rosters.getSubscriptionRequests(account.host, account.username)) session.send(request.stanza)
    },

    /** A remote user's subscription stanza: the local account's side of it, as for a local user's. */
    async inboundSubscription(stanza, to, from) {
      await inbound(to.username === '' ? {local: '', domain: to.host} : {local: to.username, domain: to.host}, stanza.attrs.type as SubscriptionType, {host: from.domain, username: from.local, bare: `${from.local}@${from.domain}`}, stanza)
    },

    /** The user's side of a subscription stanza (RFC 6121 §3.1.2, §3.2.2, §3.3.2, §3.4.2). */
    async outboundSubscription(session, stanza, to) {
      const account = sessionAccount(session)
      const type = stanza.attrs.type as SubscriptionType
      const contactBare = bareJid(to)
      switch (type) {
        case 'subscribe': {
          const item = await update(account, contactBare, (current) => (current.subscription === 'to' || current.subscription === 'both' ? current : {...current, ask: true}), true)
          if (item === 'full') return session.send(errorReply(stanza, 'resource-constraint', undefined, 'the roster is full'))
          return inbound(to, type, account, stanza)
        }

        case 'subscribed': {
          const answered = await rosters.hasSubscriptionRequest(account.host, account.username, contactBare)
          // RFC 6121 §3.4.2: with no request to answer, a pre-approval, kept on the roster item; ignored when the contact already has a subscription.
          const result = answered
            ? await approve(account, to)
            : await update(account, contactBare, (current) => (current.subscription === 'from' || current.subscription === 'both' ? current : {...current, approved: true}), true)
          if (result === 'full') return session.send(errorReply(stanza, 'resource-constraint', undefined, 'the roster is full'))
          return
        }

        case 'unsubscribe': {
          await update(account, contactBare, (item) => ({...item, subscription: lose.to(item.subscription), ask: false}), false)
          return inbound(to, type, account)
        }

        case 'unsubscribed': {
          const hadRequest = await rosters.removeSubscriptionRequest(account.host, account.username, contactBare)
          const before = await rosters.getItem(account.host, account.username, contactBare)
          // A pre-approval is cancelled too (RFC 6121 §3.4), which only the user's roster knows of.
          await update(account, contactBare, (item) => ({...item, subscription: lose.from(item.subscription), approved: false}), false)
          const cancelled = before !== undefined && (before.subscription === 'from' || before.subscription === 'both')
          if (!cancelled && !hadRequest) return
          await inbound(to, 'unsubscribed', account)
          if (cancelled) sendUnavailableTo(account, contactBare)
        }
      }
    },
  }
}
