/**
 * mod_blocking: the blocking command (XEP-0191). A user blocks bare JIDs,
 * full JIDs or whole domains; from then on the server delivers nothing
 * from them to the user and routes nothing from the user to them (§3.3),
 * until they are unblocked (§3.4, §3.5). Every resource that fetched the
 * list hears of each change (§3.2 to §3.5).
 *
 * The presence path asks about every contact it reaches, so lists are held
 * in memory: loaded on first use, in a cache bounded by the JIDs it holds.
 */
import type {C2sSession} from '../c2s.js'
import {type Account, type Jid, accountOf, bareJid, fullJid, parseJid} from '../jid.js'
import {NS} from '../../xml/namespaces.js'
import {PerKeyQueue} from '../serial.js'
import {errorReply, iqResult} from '../stanza.js'
import {Element, x} from '../../xml/element.js'
import type {IqRequest, ModuleContext, ServerModule} from './types.js'

export interface BlockingOptions {
  /** JIDs one account may block. */
  maxItems: number
  /** JIDs the cache holds across accounts, an empty list counting as one. */
  cacheSize: number
}

/**
 * Whether `list` blocks `jid`: its full JID, its bare JID, or its domain is
 * on it (XEP-0191 §6, the matching of XEP-0016 §2.1). A `domain/resource`
 * item is a full JID of its own; subdomains do not match their parent.
 */
export function isBlocked(list: ReadonlySet<string>, jid: Jid): boolean {
  if (list.size === 0) return false
  if (list.has(jid.domain)) return true
  if (jid.local !== '' && list.has(bareJid(jid))) return true
  return jid.resource !== '' && list.has(fullJid(jid))
}

/**
 * Blocklists by bare JID, weighed by the JIDs they hold, oldest first. Every
 * stanza reads two lists, so a hit only marks its entry as used: moving it
 * to the end of the map on each read cost more than the rest of the hook.
 * Eviction gives used entries a second chance (the CLOCK approximation of
 * least recently used): it moves them to the end, unmarked, and evicts the
 * first unused one.
 */
export class BlocklistCache {
  private readonly entries = new Map<string, {list: ReadonlySet<string>; used: boolean}>()
  private readonly loading = new Map<string, Promise<ReadonlySet<string>>>()
  private weight = 0

  constructor(
    private readonly load: (account: Account) => Promise<readonly string[]>,
    private readonly capacity: () => number,
  ) {}

  /** The list itself when it is cached (no await needed), a promise of it otherwise. */
  get(account: Account): Promise<ReadonlySet<string>> | ReadonlySet<string> {
    const {bare} = account
    const cached = this.entries.get(bare)
    if (cached) {
      cached.used = true
      return cached.list
    }

    let pending = this.loading.get(bare)
    if (!pending) {
      const loaded: Promise<ReadonlySet<string>> = this.load(account).then((jids) => new Set(jids))
      pending = loaded
      this.loading.set(bare, loaded)
      // Kept only if no write came in meanwhile (a write drops the load in flight).
      loaded.then(
        (list) => {
          if (this.loading.get(bare) !== loaded) return
          this.loading.delete(bare)
          this.put(bare, list)
        },
        () => {
          if (this.loading.get(bare) === loaded) this.loading.delete(bare)
        },
      )
    }

    return pending
  }

  /** After a write: the account's list as it now is, or undefined to forget it. */
  set(bare: string, list: ReadonlySet<string> | undefined): void {
    this.loading.delete(bare)
    this.remove(bare)
    if (list) this.put(bare, list)
  }

  get size(): number {
    return this.entries.size
  }

  private put(bare: string, list: ReadonlySet<string>): void {
    this.remove(bare)
    this.entries.set(bare, {list, used: false})
    this.weight += 1 + list.size
    // Bounded: an entry is passed over at most once before it is unmarked (or it is the new one, which stays), so three rounds empty the rest.
    for (let steps = 3 * this.entries.size; steps > 0 && this.weight > this.capacity() && this.entries.size > 1; steps--) {
      const [oldest, entry] = this.entries.entries().next().value!
      if (entry.used || oldest === bare) {
        entry.used = false
        this.entries.delete(oldest)
        this.entries.set(oldest, entry)
      } else {
        this.remove(oldest)
      }
    }
  }

  private remove(bare: string): void {
    const entry = this.entries.get(bare)
    if (!entry) return
    this.entries.delete(bare)
    this.weight -= 1 + entry.list.size
  }
}

/** `use(value)`, at once when `value` is there, after it settles when it is a promise. */
function then<T, R>(value: T | Promise<T>, use: (value: T) => R | Promise<R>): R | Promise<R> {
  return value instanceof Promise ? value.then(use) : use(value)
}

const NAME = 'mod_blocking'

/** Whether the resource fetched the blocklist, and so gets its pushes (§3.2); on any node of a cluster, and on the node it is resumed on. */
const fetchedList = (session: C2sSession): boolean => session.shared[NAME] === 1

export function createBlockingModule(context: ModuleContext, options: BlockingOptions): ServerModule {
  const {router, rosters, blocklists} = context
  const cache = new BlocklistCache((account) => blocklists.getBlocklist(account.host, account.username), () => options.cacheSize)
  /** Edits of one account's list, one at a time: each reads the list the one before it left. */
  const edits = new PerKeyQueue()
  let pushCounter = 0

  const sessionAccount = (session: C2sSession): Account => ({host: session.host!, username: session.username!, bare: session.bareJid})
  const jidOf = (account: Account): Jid => ({local: account.username, domain: account.host, resource: ''})

  const serialised = (bare: string, edit: () => Promise<void>): Promise<void> => edits.run(bare, edit)

  /** The JIDs of a block or unblock command, normalised; undefined when one is not a JID. */
  const itemsOf = (query: Element): string[] | undefined => {
    const jids = new Set<string>()
    for (const item of query.getChildren('item', NS.blocking)) {
      const jid = parseJid(item.attrs.jid ?? '')
      if (!jid) return undefined
      jids.add(fullJid(jid))
    }

    return [...jids]
  }

  /** The change to every resource that fetched the list (§3.3, §3.4, §3.5). */
  const push = (account: Account, action: 'block' | 'unblock', jids: readonly string[]): void => {
    for (const target of router.all(account.bare)) {
      if (!fetchedList(target)) continue
      const change = new Element(action, NS.blocking, {}, jids.map((jid) => x('item', NS.blocking, {jid})))
      target.send(x('iq', NS.client, {type: 'set', id: `block-push-${++pushCounter}`, to: target.fullJid}, change))
    }
  }

  /**
   * Presence as the block leaves it: unavailable from each of the user's
   * available resources to each newly blocked contact allowed to see it
   * (§3.3), and unavailable from the newly blocked resources of contacts the
   * user sees to the user's resources, whose presence will no longer come.
   * Their pending subscription requests go too: the user could no longer
   * answer them, and they would come back at each login.
   */
  const afterBlock = async (account: Account, before: ReadonlySet<string>, after: ReadonlySet<string>): Promise<void> => {
    const newly = (jid: Jid) => isBlocked(after, jid) && !isBlocked(before, jid)
    const own = router.available(account.bare)
    if (own.length > 0) {
      for (const contact of await rosters.getContacts(account.host, account.username, ['from', 'both'])) {
        const jid = parseJid(contact)
        if (!jid || !newly(jid) || !(await context.presenceAllowed(account, contact))) continue
        for (const session of own) context.deliverPresence(x('presence', NS.client, {type: 'unavailable', from: session.fullJid}), contact)
      }

      for (const contact of await rosters.getContacts(account.host, account.username, ['to', 'both'])) {
        for (const source of router.available(contact)) {
          if (!newly(source.jid!)) continue
          for (const session of own) session.send(x('presence', NS.client, {type: 'unavailable', from: source.fullJid, to: session.fullJid}))
        }
      }
    }

    for (const request of await rosters.getSubscriptionRequests(account.host, account.username)) {
      const jid = parseJid(request.contact)
      if (jid && isBlocked(after, jid)) await rosters.removeSubscriptionRequest(account.host, account.username, request.contact)
    }
  }

  /**
   * Presence as the unblock leaves it: the user's current presence to each
   * newly unblocked contact allowed to see it (§3.4), and the current
   * presence of the newly unblocked resources of contacts the user sees.
   * Both go through the inbound hooks: the contact may block the user too.
   */
  const afterUnblock = async (account: Account, before: ReadonlySet<string>, after: ReadonlySet<string>): Promise<void> => {
    const newly = (jid: Jid) => isBlocked(before, jid) && !isBlocked(after, jid)
    const own = router.available(account.bare)
    if (own.length === 0) return
    for (const contact of await rosters.getContacts(account.host, account.username, ['from', 'both'])) {
      const jid = parseJid(contact)
      if (!jid || !newly(jid) || !(await context.presenceAllowed(account, contact))) continue
      for (const target of router.available(contact)) for (const session of own) await context.sendPresenceOf(session, target)
    }

    for (const contact of await rosters.getContacts(account.host, account.username, ['to', 'both'])) {
      for (const source of router.available(contact)) {
        if (!newly(source.jid!)) continue
        for (const session of own) await context.sendPresenceOf(source, session)
      }
    }
  }

  /** The command was answered: what fails after it is logged, not answered a second time. */
  const settle = async (command: string, account: Account, effects: Promise<void>): Promise<void> => {
    try {
      await effects
    } catch (error) {
      context.logger.error(`presence after the ${command} of ${account.bare}: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  const blocklist = async ({session, stanza}: IqRequest): Promise<void> => {
    const list = await cache.get(sessionAccount(session))
    // Shared, so that a change made through a resource on another node of a cluster reaches it too.
    await router.share(session, NAME, 1)
    const items = [...list].sort().map((jid) => x('item', NS.blocking, {jid}))
    session.send(iqResult(stanza, undefined, new Element('blocklist', NS.blocking, {}, items)))
  }

  const block = async ({session, stanza, query}: IqRequest): Promise<void> => {
    const jids = itemsOf(query)
    if (!jids) return session.send(errorReply(stanza, 'jid-malformed'))
    // §3.3: a block names at least one JID.
    if (jids.length === 0) return session.send(errorReply(stanza, 'bad-request', undefined, 'a block needs at least one item'))
    const account = sessionAccount(session)
    await serialised(account.bare, async () => {
      const before = await cache.get(account)
      const result = await blocklists.addToBlocklist(account.host, account.username, jids, options.maxItems)
      if (result === 'blocklist-full') return session.send(errorReply(stanza, 'resource-constraint', undefined, `a blocklist holds at most ${options.maxItems} JIDs`))
      if (result === 'no-account') return session.send(errorReply(stanza, 'not-allowed', undefined, 'this account has no stored blocklist'))
      const after = new Set([...before, ...jids])
      cache.set(account.bare, after)
      await context.cachedDataChanged(account)
      session.send(iqResult(stanza, undefined))
      push(account, 'block', jids)
      await settle('block', account, afterBlock(account, before, after))
    })
  }

  const unblock = async ({session, stanza, query}: IqRequest): Promise<void> => {
    const jids = itemsOf(query)
    if (!jids) return session.send(errorReply(stanza, 'jid-malformed'))
    const account = sessionAccount(session)
    await serialised(account.bare, async () => {
      const before = await cache.get(account)
      // §3.5: no item unblocks every JID.
      const all = jids.length === 0
      await blocklists.removeFromBlocklist(account.host, account.username, all ? undefined : jids)
      const after = all ? new Set<string>() : new Set([...before].filter((jid) => !jids.includes(jid)))
      cache.set(account.bare, after)
      await context.cachedDataChanged(account)
      session.send(iqResult(stanza, undefined))
      push(account, 'unblock', jids)
      await settle('unblock', account, afterUnblock(account, before, after))
    })
  }

  /** §3.3: nothing the user sends reaches a JID it blocks; the user learns why (not-acceptable, <blocked/>). */
  const refuseOutbound = (session: C2sSession, stanza: Element): true => {
    const type = stanza.attrs.type
    // An error or a result is not answered with an error (RFC 6120 §8.3.1); it is just not routed.
    if (type === 'error' || (stanza.name === 'iq' && type === 'result')) return true
    const reply = errorReply(stanza, 'not-acceptable', undefined, 'you have blocked this JID')
    const error = reply.getChild('error')!
    error.attrs.type = 'cancel'
    error.c('blocked', {}, NS.blockingErrors)
    session.send(reply)
    return true
  }

  /** §3.3: a blocked sender's message (normal, chat) and iq request get service-unavailable, as if the user were offline; the rest is dropped. */
  const refuse = (stanza: Element, from: Jid): void => {
    const type = stanza.attrs.type
    const answered = stanza.name === 'message' ? type === undefined || type === 'normal' || type === 'chat' : stanza.name === 'iq' && (type === 'get' || type === 'set')
    // To the sender wherever it is: a user of another server or a room waits for an iq's answer as a local client does.
    if (answered) context.returnError(errorReply(stanza, 'service-unavailable'), from)
  }

  return {
    name: NAME,
    features: [NS.blocking],
    iq: [
      {ns: NS.blocking, name: 'blocklist', types: ['get'], to: ['own'], handle: blocklist},
      {ns: NS.blocking, name: 'block', types: ['set'], to: ['own'], handle: block},
      {ns: NS.blocking, name: 'unblock', types: ['set'], to: ['own'], handle: unblock},
    ],

    // Both hooks run on every stanza: a cached list is answered without an await.
    outbound(session, stanza, to) {
      // A user's own resources never block one another (XEP-0191 §5).
      if (!to || (to.local === session.username && to.domain === session.host)) return false
      return then(cache.get(sessionAccount(session)), (list) => isBlocked(list, to) && refuseOutbound(session, stanza))
    },

    inbound(stanza, to, from) {
      if (from.local === to.username && from.domain === to.host) return false
      // Presence that no resource of the account could receive stops nowhere: the broadcast path spares the lookups.
      const type = stanza.attrs.type
      if (stanza.name === 'presence' && (type === undefined || type === 'unavailable') && router.all(to.bare).length === 0) return false
      return then(cache.get(to), (list) => {
        if (isBlocked(list, from)) {
          refuse(stanza, from)
          return true
        }

        // What the core sends on the sender's behalf without its outbound hook (broadcasts, current presence) must not reach what it blocks either.
        if (from.local === '' || !context.isLocalHost(from.domain)) return false
        return then(cache.get(accountOf(from)), (senders) => isBlocked(senders, jidOf(to)))
      })
    },

    accountDeleted(account) {
      cache.set(account.bare, undefined)
    },

    accountDataChanged(account) {
      cache.set(account.bare, undefined)
    },
  }
}
