/**
 * mod_pep: the Personal Eventing Protocol (XEP-0163) on each account's
 * bare JID, with the part of XEP-0060 clients use: publish (the node made
 * on first use, publish-options as preconditions, XEP-0223), retract,
 * item retrieval, node creation, deletion and configuration by the owner.
 *
 * A resource gets a node's notifications when its entity capabilities
 * (XEP-0115) list `NODE+notify` and the node's access model lets its account
 * see them (§4.2, "filtered notifications"). Anyone may also subscribe
 * explicitly (XEP-0060 §6.1), by its bare JID (every available resource) or
 * a full one; the access model is checked again at each notification, so a
 * subscription outlives no loss of access. Users of other servers read items
 * and subscribe over s2s; their notifications go to their server. Caps-based
 * notifications reach local resources only: the server learns no remote
 * resource's caps.
 * The server learns a resource's features by asking it (disco#info of the
 * caps node), and trusts a feature set across users only when it hashes to
 * the announced `ver`.
 *
 * Bookmarks (XEP-0402 §5.3, "#compat"): a legacy client's XEP-0048
 * bookmarks in private XML storage are the rooms of the PEP node
 * urn:xmpp:bookmarks:1, both ways, so that old and new clients of one
 * account see the same rooms. Legacy bookmarks stored before the node
 * existed move to it when either kind of client first uses it.
 */
import {randomUUID} from 'node:crypto'

import {StoreError} from '../../errors.js'
import {ACCESS_MODELS, type AccessModel, type PepLimits, type PepNode, type PepNodeConfig, SEND_LAST_PUBLISHED_ITEM, type SendLastPublishedItem} from '../../store/pep-store.js'
import {BOOKMARKS_NODE, BOOKMARKS_NODE_CONFIG, LEGACY_BOOKMARKS, legacyBookmarksRequest, legacyOfPepItems, pepItemsOfLegacy} from '../bookmarks.js'
import type {C2sSession} from '../c2s.js'
import {type Caps, CapsCache, capsOf, featuresOf, verifiable, verified} from '../caps.js'
import {type Account, type Jid, accountOf, bareJid, fullJid, parseJid} from '../jid.js'
import {NS} from '../../xml/namespaces.js'
import {PerKeyQueue} from '../serial.js'
import {type StanzaErrorCondition, errorReply, iqResult} from '../stanza.js'
import {type Element, detached, x} from '../../xml/element.js'
import {parseElement} from '../../xml/parser.js'
import type {IqRequest, ModuleContext, ServerModule} from './types.js'

export interface PepOptions {
  /** Items one node keeps at most (its max_items cannot be set higher). */
  maxItemsNode: number
  /** Bytes of one serialised payload. */
  maxPayloadSize: number
  /** Nodes one account may have. */
  maxNodes: number
  /** Bytes of all of one account's payloads together. */
  maxTotalSize: number
  /** Verified caps (ver → features) kept in memory. */
  capsCacheSize: number
  /** Explicit subscriptions one node keeps at most. */
  maxSubscriptionsNode: number
}

const NAME = 'mod_pep'
/** XEP-0060 §9.2, XEP-0163 §4.2: a caps feature NODE+notify asks for the notifications of node NODE. */
const NOTIFY = '+notify'
const PUBLISH_OPTIONS = `${NS.pubsub}#publish-options`
const NODE_CONFIG = `${NS.pubsub}#node_config`
/** Bytes of a node name or an item id: they are stored and sent to every contact. */
const MAX_NAME_BYTES = 1024
/** How long a resource has to answer the server's disco#info about its caps. */
const CAPS_QUERY_TIMEOUT_MS = 30_000

/** XEP-0163 §4.4 (Prosody and ejabberd agree): a PEP node keeps its last item only, its contacts see it. */
const DEFAULT_CONFIG: PepNodeConfig = {accessModel: 'presence', persistItems: true, maxItems: 1, sendLastPublishedItem: 'on_sub_and_presence'}

/** The data form field (XEP-0060 §16.4.3) of each configuration value. */
const FIELDS: Record<keyof PepNodeConfig, string> = {
  accessModel: 'pubsub#access_model',
  persistItems: 'pubsub#persist_items',
  maxItems: 'pubsub#max_items',
  sendLastPublishedItem: 'pubsub#send_last_published_item',
}

/** XEP-0060 §10 features, in the order of the sections that define them. */
const FEATURES = [
  'access-open',
  'access-presence',
  'access-whitelist',
  'auto-create',
  'config-node',
  'create-and-configure',
  'create-nodes',
  'delete-items',
  'delete-nodes',
  'filtered-notifications',
  'item-ids',
  'last-published',
  'persistent-items',
  'presence-notifications',
  'publish',
  'publish-options',
  'retract-items',
  'retrieve-items',
  'retrieve-subscriptions',
  'subscribe',
]

/** What a pubsub request this module does not serve asks for, as the XEP-0060 §10 feature the `unsupported` error names. */
const UNSUPPORTED: Record<string, Record<string, string>> = {
  [NS.pubsub]: {
    affiliations: 'retrieve-affiliations',
    options: 'subscription-options',
    default: 'retrieve-default',
  },
  [NS.pubsubOwner]: {subscriptions: 'manage-subscriptions', affiliations: 'modify-affiliations', purge: 'purge-nodes', default: 'retrieve-default'},
}

/** An error reply with a pubsub#errors condition after the stanza condition (RFC 6120 §8.3.2, XEP-0060 §7.1.3 and others). */
function pubsubError(stanza: Element, condition: StanzaErrorCondition, specific?: string, text?: string, attrs: Record<string, string> = {}): Element {
  const reply = errorReply(stanza, condition, undefined, text)
  if (specific) reply.getChild('error')!.c(specific, attrs, NS.pubsubErrors)
  return reply
}

const bytes = (text: string) => Buffer.byteLength(text)

/** Why a configuration form cannot be applied, naming the field. */
interface FormProblem {
  field: string
  text: string
  /** For `unsupported`: the XEP-0060 §10 feature it would need. */
  feature?: string
}

/** The node configuration a data form (XEP-0004) of `formType` asks for, or what is wrong with it. */
export function configFromForm(form: Element, formType: string, maxItemsNode: number): Partial<PepNodeConfig> | FormProblem {
  const config: Partial<PepNodeConfig> = {}
  for (const field of form.getChildren('field', NS.dataForms)) {
    const name = field.attrs.var ?? ''
    const value = field.getChildText('value', NS.dataForms)?.trim() ?? ''
    const invalid = (text: string): FormProblem => ({field: name, text})
    switch (name) {
      case 'FORM_TYPE': {
        if (value !== formType) return invalid(`the form's FORM_TYPE must be ${formType}`)
        break
      }

      case 'pubsub#access_model': {
        if (value === 'authorize' || value === 'roster') return {field: name, text: `the access model ${value} is not supported; use open, presence or whitelist`, feature: `access-${value}`}
        if (!ACCESS_MODELS.includes(value as AccessModel)) return invalid(`${name} must be open, presence or whitelist`)
        config.accessModel = value as AccessModel
        break
      }

      case 'pubsub#persist_items': {
        if (!['0', '1', 'true', 'false'].includes(value)) return invalid(`${name} must be a boolean`)
        config.persistItems = value === '1' || value === 'true'
        break
      }

      case 'pubsub#max_items': {
        const count = Number(value)
        if (value !== 'max' && !(/^\d+$/.test(value) && count >= 1 && count <= maxItemsNode)) return invalid(`${name} must be max or a number from 1 to ${maxItemsNode}`)
        config.maxItems = value === 'max' ? 'max' : count
        break
      }

      case 'pubsub#send_last_published_item': {
        if (!SEND_LAST_PUBLISHED_ITEM.includes(value as SendLastPublishedItem)) return invalid(`${name} must be never, on_sub or on_sub_and_presence`)
        config.sendLastPublishedItem = value as SendLastPublishedItem
        break
      }

      default: {
        return invalid(`this server does not support the field ${name}`)
      }
    }
  }

  return config
}

const isProblem = (value: Partial<PepNodeConfig> | FormProblem): value is FormProblem => 'text' in value

/** The node configuration form (XEP-0060 §8.2.1) with the node's values. */
function configForm(config: PepNodeConfig): Element {
  const form = x('x', NS.dataForms, {type: 'form'})
  const field = (name: string, type: string, value: string, options: readonly string[] = []) => {
    const element = form.c('field', {var: name, type})
    for (const option of options) element.c('option').c('value').append(option)
    element.c('value').append(value)
  }

  field('FORM_TYPE', 'hidden', NODE_CONFIG)
  field('pubsub#access_model', 'list-single', config.accessModel, ACCESS_MODELS)
  field('pubsub#persist_items', 'boolean', config.persistItems ? '1' : '0')
  field('pubsub#max_items', 'text-single', String(config.maxItems))
  field('pubsub#send_last_published_item', 'list-single', config.sendLastPublishedItem, SEND_LAST_PUBLISHED_ITEM)
  return form
}

export function createPepModule(context: ModuleContext, options: PepOptions): ServerModule {
  const {router, pep, rosters, privateStorage} = context
  const limits = (): PepLimits => ({nodes: options.maxNodes, maxItems: options.maxItemsNode, totalBytes: options.maxTotalSize})
  const capsCache = new CapsCache(() => options.capsCacheSize)
  /** The caps each available resource announced last, and its features once known. */
  const sessionCaps = new WeakMap<C2sSession, Caps>()
  const sessionFeatures = new WeakMap<C2sSession, ReadonlySet<string>>()
  /** disco#info queries in flight, by iq id: one per caps, other resources with the same caps wait for its answer. */
  const queries = new Map<string, {session: C2sSession; caps: Caps; timer: NodeJS.Timeout}>()
  const waiting = new Map<string, Set<C2sSession>>()
  /** Changes to one account's nodes, one at a time: a publish checks its preconditions against the configuration it then writes under. */
  const changes = new PerKeyQueue()
  let counter = 0

  const sessionAccount = (session: C2sSession): Account => ({host: session.host!, username: session.username!, bare: session.bareJid})
  const jidOf = (account: Account): Jid => ({local: account.username, domain: account.host, resource: ''})
  const capsKey = (caps: Caps) => `${caps.hash ?? ''}\n${caps.node}\n${caps.ver}`

  const serialised = (bare: string, change: () => Promise<void>): Promise<void> => changes.run(bare, change)

  /** Whether the account `reader` (a bare JID) may see the node's items and notifications (XEP-0060 §4.5). */
  const mayAccess = async (owner: Account, config: PepNodeConfig, reader: string): Promise<boolean> => {
    if (reader === owner.bare) return true
    if (config.accessModel === 'whitelist') return false
    // Only contacts hear of a node, whatever its model: the server knows no other audience (no directed presence, no explicit subscription).
    return config.accessModel === 'open' || (await context.presenceAllowed(owner, reader))
  }

  const payloadOf = (owner: Account, node: string, stored: string): Element => {
    const payload = parseElement(stored)
    if (!payload) throw new StoreError('store-corrupt', `an item of the PEP node ${node} of ${owner.bare} is not well-formed XML`, 'publish it again from a client')
    return payload
  }

  const notification = (owner: Account, event: Element, delay?: Date): Element => {
    const message = x('message', NS.client, {type: 'headline', from: owner.bare, id: `pep-${++counter}`}, x('event', NS.pubsubEvent, {}, event))
    // XEP-0163 §4.3.2: an item sent later than published says when it was.
    if (delay) message.c('delay', {from: owner.bare, stamp: delay.toISOString()}, NS.delay)
    return message
  }

  /** Whether the resource asked for the node's notifications (XEP-0163 §4.2), wherever in the cluster it is bound. */
  const notifies = (session: C2sSession, node: string) => (session.shared[NAME] as readonly string[] | undefined)?.includes(node) === true

  /** A copy of `message` to `to`: to the local session given, or to another server. */
  const sendTo = (message: Element, to: string, session?: C2sSession): void => {
    const copy = message.clone()
    copy.attrs.to = to
    if (session) session.send(copy)
    else context.sendRemote(copy)
  }

  /** The available sessions a subscription names: the one resource of a full JID, every available resource of a bare one. */
  const sessionsOf = (subscriber: Jid): C2sSession[] => {
    if (subscriber.resource === '') return router.available(bareJid(subscriber))
    const session = router.get(bareJid(subscriber), subscriber.resource)
    return session?.available ? [session] : []
  }

  /**
   * `event` to every available resource allowed the node that asked for its
   * notifications (§4.2): the owner's, its contacts', and those of explicit
   * subscribers (§6.1; `subscribers`, read before a deletion took them), each
   * resource once.
   */
  const broadcast = async (owner: Account, node: string, config: PepNodeConfig, event: Element, subscribers?: readonly string[]): Promise<void> => {
    const message = notification(owner, event)
    const notified = new Set<C2sSession>()
    const deliver = (session: C2sSession) => {
      if (notified.has(session)) return
      notified.add(session)
      const copy = message.clone()
      copy.attrs.to = session.fullJid
      session.send(copy)
    }

    const send = (session: C2sSession) => {
      if (notifies(session, node)) deliver(session)
    }

    for (const session of router.available(owner.bare)) send(session)
    if (config.accessModel !== 'whitelist') {
      for (const contact of await rosters.getContacts(owner.host, owner.username, ['from', 'both'])) {
        const targets = router.available(contact)
        const jid = parseJid(contact)
        if (targets.length === 0 || !jid || !(await mayAccess(owner, config, contact))) continue
        if (await context.inboundStopped(message, accountOf(jid), jidOf(owner))) continue
        for (const session of targets) send(session)
      }
    }

    for (const subscriber of subscribers ?? (await pep.getSubscribers(owner.host, owner.username, node))) {
      const jid = parseJid(subscriber)
      if (!jid) continue
      if (!context.isLocalHost(jid.domain)) {
        // A subscriber on another server: its server delivers to its resources (RFC 6121 §8.5.2 for a bare JID).
        if (await mayAccess(owner, config, bareJid(jid))) sendTo(message, subscriber)
        continue
      }

      const targets = sessionsOf(jid).filter((session) => !notified.has(session))
      if (targets.length === 0 || !(await mayAccess(owner, config, bareJid(jid)))) continue
      if (bareJid(jid) !== owner.bare && (await context.inboundStopped(message, accountOf(jid), jidOf(owner)))) continue
      for (const session of targets) deliver(session)
    }
  }

  /**
   * The last item of each node of the account and of its contacts that the
   * session newly asks notifications of and may see (XEP-0163 §4.3.2,
   * send_last_published_item on_sub_and_presence).
   */
  const sendLastItems = async (session: C2sSession, features: ReadonlySet<string>, before: ReadonlySet<string> | undefined): Promise<void> => {
    const reader = sessionAccount(session)
    const wanted = (node: string) => features.has(`${node}+notify`) && !before?.has(`${node}+notify`)
    const owners = [reader.bare, ...(await rosters.getContacts(reader.host, reader.username, ['to', 'both']))]
    for (const bare of owners) {
      const jid = parseJid(bare)
      if (!jid || !context.isLocalHost(jid.domain) || !session.available) continue
      const owner = accountOf(jid)
      for (const {node, config} of await pep.listNodes(owner.host, owner.username)) {
        if (!wanted(node) || config.sendLastPublishedItem !== 'on_sub_and_presence' || !(await mayAccess(owner, config, reader.bare))) continue
        const [last] = await pep.getItems(owner.host, owner.username, node, {last: 1})
        if (!last) continue
        const message = notification(owner, x('items', NS.pubsubEvent, {node}, x('item', NS.pubsubEvent, {id: last.id}, payloadOf(owner, node, last.payload))), last.publishedAt)
        message.attrs.to = session.fullJid
        if (owner.bare !== reader.bare && (await context.inboundStopped(message, reader, jidOf(owner)))) continue
        session.send(message)
      }
    }
  }

  /** The session's features are known now. */
  const learned = async (session: C2sSession, features: ReadonlySet<string>): Promise<void> => {
    const before = sessionFeatures.get(session)
    sessionFeatures.set(session, features)
    // The nodes it wants notifications of, for every node of a cluster to filter by.
    const notify = [...features].filter((feature) => feature.endsWith(NOTIFY)).map((feature) => feature.slice(0, -NOTIFY.length)).sort()
    await router.share(session, NAME, notify.length > 0 ? notify : undefined)
    if (!session.available) return
    try {
      await sendLastItems(session, features, before)
    } catch (error) {
      context.logger.error(`last PEP items for ${session.fullJid}: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  /** Asks the session what its caps mean (XEP-0115 §6.2), from the server's JID as Prosody does; one question per caps at a time. */
  const ask = (session: C2sSession, caps: Caps): void => {
    const key = capsKey(caps)
    const others = waiting.get(key)
    if (others) {
      others.add(session)
      return
    }

    waiting.set(key, new Set())
    const id = `caps-${++counter}`
    const timer = setTimeout(() => settle(id, undefined), CAPS_QUERY_TIMEOUT_MS)
    timer.unref()
    queries.set(id, {session, caps, timer})
    session.send(x('iq', NS.client, {type: 'get', id, from: session.host, to: session.fullJid}, x('query', NS.discoInfo, {node: `${caps.node}#${caps.ver}`})))
  }

  /** The answer to query `id` (undefined: an error, or none in time). */
  const settle = (id: string, answer: Element | undefined): void => {
    const query = queries.get(id)
    if (!query) return
    queries.delete(id)
    clearTimeout(query.timer)
    const {session, caps} = query
    const key = capsKey(caps)
    const others = [...(waiting.get(key) ?? [])]
    waiting.delete(key)
    const current = (candidate: C2sSession) => sessionCaps.get(candidate) !== undefined && capsKey(sessionCaps.get(candidate)!) === key
    if (answer && verifiable(caps) && verified(caps, answer)) {
      const features = featuresOf(answer)
      capsCache.set(caps, features)
      for (const candidate of [session, ...others]) if (current(candidate)) void learned(candidate, features)
      return
    }

    // Legacy caps (no hash) vouch for the one resource that answered; a wrong hash for nothing (§5.4), and the next resource is asked.
    if (answer && !verifiable(caps) && current(session)) void learned(session, featuresOf(answer))
    const next = others.find(current)
    if (next) {
      for (const other of others) if (other !== next && current(other)) ask(other, caps)
      ask(next, caps)
    }
  }

  /** The account's node, answering item-not-found when it does not exist. */
  const existingNode = async ({sender, stanza, account}: IqRequest, node: string): Promise<PepNode | undefined> => {
    const found = await pep.getNode(account!.host, account!.username, node)
    if (!found) sender.send(errorReply(stanza, 'item-not-found'))
    return found
  }

  /** The node named by `element`, answering the error when it names none or too long a one. */
  const nodeName = ({sender, stanza}: IqRequest, element: Element): string | undefined => {
    const node = element.attrs.node
    if (node === undefined || node === '') sender.send(pubsubError(stanza, 'bad-request', 'nodeid-required'))
    else if (bytes(node) > MAX_NAME_BYTES) sender.send(errorReply(stanza, 'not-acceptable', undefined, `a node name is at most ${MAX_NAME_BYTES} bytes`))
    else return node
    return undefined
  }

  const formProblem = ({sender, stanza}: IqRequest, problem: FormProblem): void => {
    if (problem.feature) return sender.send(pubsubError(stanza, 'feature-not-implemented', 'unsupported', problem.text, {feature: problem.feature}))
    sender.send(errorReply(stanza, 'not-acceptable', undefined, problem.text))
  }

  // ---- bookmarks compatibility (XEP-0402 §5.3) ---------------------------

  /** The legacy bookmarks the account keeps in private XML storage, if any. */
  const storedLegacyBookmarks = async (owner: Account): Promise<Element | undefined> => {
    const [stored] = await privateStorage.getPrivateItems(owner.host, owner.username, [{ns: LEGACY_BOOKMARKS, name: 'storage'}])
    return stored ? parseElement(stored.xml) : undefined
  }

  /**
   * Makes the bookmarks node hold exactly `wanted` (room JID → payload),
   * publishing and retracting only what changed, each with its notification
   * to the owner's resources; the reason when the store refused. Runs
   * inside serialised(owner).
   */
  const syncBookmarks = async (owner: Account, wanted: ReadonlyMap<string, Element>): Promise<string | undefined> => {
    const config = (await pep.getNode(owner.host, owner.username, BOOKMARKS_NODE))?.config ?? BOOKMARKS_NODE_CONFIG
    const existing = new Map((await pep.getItems(owner.host, owner.username, BOOKMARKS_NODE)).map((item) => [item.id, item.payload]))
    for (const [id, payload] of wanted) {
      const text = payload.toString()
      if (existing.get(id) === text) continue
      const result = await pep.publish(owner.host, owner.username, BOOKMARKS_NODE, {id, payload: text, publisher: owner.bare}, config, limits())
      if (result === 'too-many-nodes') return `an account has at most ${options.maxNodes} nodes`
      if (result === 'storage-full') return `an account's items hold at most ${options.maxTotalSize} bytes`
      if (result !== 'published') return 'this account no longer exists'
      await broadcast(owner, BOOKMARKS_NODE, config, x('items', NS.pubsubEvent, {node: BOOKMARKS_NODE}, x('item', NS.pubsubEvent, {id}, payload)))
    }

    for (const id of existing.keys()) {
      if (wanted.has(id) || !(await pep.retract(owner.host, owner.username, BOOKMARKS_NODE, id))) continue
      await broadcast(owner, BOOKMARKS_NODE, config, x('items', NS.pubsubEvent, {node: BOOKMARKS_NODE}, x('retract', NS.pubsubEvent, {id})))
    }

    return undefined
  }

  /** Before the account's first use of the bookmarks node: its legacy bookmarks become the node's items. Inside serialised(owner). */
  const adoptLegacyBookmarks = async (owner: Account): Promise<void> => {
    if (await pep.getNode(owner.host, owner.username, BOOKMARKS_NODE)) return
    const legacy = await storedLegacyBookmarks(owner)
    const rooms = legacy ? pepItemsOfLegacy(legacy) : new Map<string, Element>()
    if (rooms.size === 0) return
    const failure = await syncBookmarks(owner, rooms)
    if (failure) context.logger.warn(`legacy bookmarks of ${owner.bare} not moved to PEP: ${failure}`)
  }

  /**
   * A legacy client's private XML request for its bookmarks: a get answers
   * the node's rooms (with what else the legacy element held, URLs say); a
   * set makes the node's rooms the element's, and then goes on to
   * mod_private, which stores the element as sent. False when the request
   * is left to mod_private alone.
   */
  const legacyBookmarks = async (session: C2sSession, stanza: Element, storage: Element): Promise<boolean> => {
    const owner = sessionAccount(session)
    let answered = false
    await serialised(owner.bare, async () => {
      if (stanza.attrs.type === 'get') {
        await adoptLegacyBookmarks(owner)
        if (!(await pep.getNode(owner.host, owner.username, BOOKMARKS_NODE))) return
        const items = (await pep.getItems(owner.host, owner.username, BOOKMARKS_NODE)).map((item) => ({id: item.id, payload: payloadOf(owner, BOOKMARKS_NODE, item.payload)}))
        session.send(iqResult(stanza, undefined, x('query', NS.private, {}, legacyOfPepItems(items, await storedLegacyBookmarks(owner)))))
        answered = true
        return
      }

      const failure = await syncBookmarks(owner, pepItemsOfLegacy(storage))
      if (failure) {
        session.send(errorReply(stanza, 'policy-violation', undefined, failure))
        answered = true
      }
    })
    return answered
  }

  // ---- publish (XEP-0060 §7.1, XEP-0163 §3) ------------------------------

  const publish = async (request: IqRequest, element: Element, publishOptions: Element | undefined): Promise<void> => {
    const {session, stanza, query, account} = request
    const node = nodeName(request, element)
    if (node === undefined) return
    const items = element.getChildren('item', NS.pubsub)
    // §7.1.3.6: a PEP node is persistent, so the item and its one payload are required.
    if (items.length === 0) return session.send(pubsubError(stanza, 'bad-request', 'item-required'))
    if (items.length > 1) return session.send(pubsubError(stanza, 'bad-request', 'invalid-payload', 'publish one item at a time'))
    const [item] = items
    const payloads = item.elements()
    if (payloads.length === 0) return session.send(pubsubError(stanza, 'bad-request', 'payload-required'))
    if (payloads.length > 1) return session.send(pubsubError(stanza, 'bad-request', 'invalid-payload', 'an item holds one payload element'))
    const payload = detached(payloads[0], [item, element, query, stanza]).toString()
    if (bytes(payload) > options.maxPayloadSize) return session.send(pubsubError(stanza, 'not-acceptable', 'payload-too-big', `a payload is at most ${options.maxPayloadSize} bytes`))
    const id = item.attrs.id ?? randomUUID()
    if (bytes(id) > MAX_NAME_BYTES) return session.send(errorReply(stanza, 'not-acceptable', undefined, `an item id is at most ${MAX_NAME_BYTES} bytes`))
    let required: Partial<PepNodeConfig> = {}
    if (publishOptions) {
      const form = publishOptions.getChild('x', NS.dataForms)
      if (!form) return session.send(errorReply(stanza, 'bad-request', undefined, 'publish-options needs a data form'))
      const asked = configFromForm(form, PUBLISH_OPTIONS, options.maxItemsNode)
      // §7.1.5: a precondition the server cannot meet is not met.
      if (isProblem(asked)) return session.send(pubsubError(stanza, 'conflict', 'precondition-not-met', `${asked.field}: ${asked.text}`))
      required = asked
    }

    const owner = account!
    await serialised(owner.bare, async () => {
      if (node === BOOKMARKS_NODE) await adoptLegacyBookmarks(owner)
      const existing = await pep.getNode(owner.host, owner.username, node)
      if (existing) {
        const mismatch = (Object.keys(required) as Array<keyof PepNodeConfig>).find((key) => required[key] !== existing.config[key])
        if (mismatch) return session.send(pubsubError(stanza, 'conflict', 'precondition-not-met', `the node's ${FIELDS[mismatch]} is not ${String(required[mismatch])}`))
      }

      const config = existing?.config ?? {...DEFAULT_CONFIG, ...required}
      const result = await pep.publish(owner.host, owner.username, node, {id, payload, publisher: owner.bare}, config, limits())
      if (result === 'too-many-nodes') return session.send(errorReply(stanza, 'policy-violation', undefined, `an account has at most ${options.maxNodes} nodes`))
      if (result === 'storage-full') return session.send(errorReply(stanza, 'policy-violation', undefined, `an account's items hold at most ${options.maxTotalSize} bytes`))
      if (result === 'no-account' || result === 'no-node') return session.send(errorReply(stanza, 'not-allowed', undefined, 'this account no longer exists'))
      session.send(iqResult(stanza, undefined, x('pubsub', NS.pubsub, {}, x('publish', NS.pubsub, {node}, x('item', NS.pubsub, {id})))))
      await broadcast(owner, node, config, x('items', NS.pubsubEvent, {node}, x('item', NS.pubsubEvent, {id}, payloads[0].clone())))
    })
  }

  // ---- retract (XEP-0060 §7.2) -------------------------------------------

  const retract = async (request: IqRequest, element: Element): Promise<void> => {
    const {session, stanza, account} = request
    const node = nodeName(request, element)
    if (node === undefined) return
    const id = element.getChild('item', NS.pubsub)?.attrs.id
    if (id === undefined) return session.send(pubsubError(stanza, 'bad-request', 'item-required'))
    const owner = account!
    await serialised(owner.bare, async () => {
      const found = await existingNode(request, node)
      if (!found) return
      if (!(await pep.retract(owner.host, owner.username, node, id))) return session.send(errorReply(stanza, 'item-not-found'))
      session.send(iqResult(stanza, undefined))
      // §7.2.2.1: subscribers hear of it when the publisher asks.
      if (element.attrs.notify === 'true' || element.attrs.notify === '1') await broadcast(owner, node, found.config, x('items', NS.pubsubEvent, {node}, x('retract', NS.pubsubEvent, {id})))
    })
  }

  // ---- items (XEP-0060 §6.5) ---------------------------------------------

  const retrieve = async (request: IqRequest, element: Element): Promise<void> => {
    const {sender, stanza, account, own} = request
    const node = nodeName(request, element)
    if (node === undefined) return
    const owner = account!
    if (own && node === BOOKMARKS_NODE) await serialised(owner.bare, () => adoptLegacyBookmarks(owner))
    const found = await existingNode(request, node)
    if (!found) return
    // §6.5.3: the access model says why not.
    if (await refusedAccess(request, found.config)) return

    const maxItems = element.attrs.max_items
    if (maxItems !== undefined && !/^[1-9]\d{0,8}$/.test(maxItems)) return sender.send(errorReply(stanza, 'bad-request', undefined, 'max_items must be a positive number'))
    const ids = element.getChildren('item', NS.pubsub).map((item) => item.attrs.id ?? '')
    if (ids.includes('')) return sender.send(errorReply(stanza, 'bad-request', undefined, 'each requested item needs an id'))
    const select = ids.length > 0 ? {ids} : maxItems === undefined ? {} : {last: Number(maxItems)}
    const stored = await pep.getItems(owner.host, owner.username, node, select)
    const items = stored.map((item) => x('item', NS.pubsub, {id: item.id}, payloadOf(owner, node, item.payload)))
    sender.send(iqResult(stanza, own ? undefined : owner.bare, x('pubsub', NS.pubsub, {}, x('items', NS.pubsub, {node}, ...items))))
  }

  // ---- explicit subscriptions (XEP-0060 §6.1, §6.2, §5.6) -------------------

  /** The JID a subscribe or unsubscribe names, which must be the sender's own, bare or full (§6.1.3.1); answers the error otherwise. */
  const subscriberOf = ({sender, stanza}: IqRequest, element: Element): string | undefined => {
    const jid = element.attrs.jid === undefined ? undefined : parseJid(element.attrs.jid)
    if (!jid || bareJid(jid) !== sender.bareJid) {
      sender.send(pubsubError(stanza, 'bad-request', 'invalid-jid', 'subscribe with your own JID, bare or full'))
      return undefined
    }

    return jid.resource === '' ? bareJid(jid) : fullJid(jid)
  }

  /** Whether the sender may not read or subscribe to the node (§6.5.3, §6.1.3.2, §6.1.3.4); when not, the access model's error is answered. */
  const refusedAccess = async ({sender, stanza, account, own}: IqRequest, config: PepNodeConfig): Promise<boolean> => {
    if (own || (await mayAccess(account!, config, sender.bareJid))) return false
    if (config.accessModel === 'whitelist') sender.send(pubsubError(stanza, 'not-allowed', 'closed-node'))
    else sender.send(pubsubError(stanza, 'not-authorized', 'presence-subscription-required'))
    return true
  }

  /** The node and the subscriber a subscribe or unsubscribe names, both checked (errors answered). */
  const subscriptionOf = (request: IqRequest, element: Element): {node: string; subscriber: string} | undefined => {
    const node = nodeName(request, element)
    const subscriber = node === undefined ? undefined : subscriberOf(request, element)
    return node === undefined || subscriber === undefined ? undefined : {node, subscriber}
  }

  const subscribeTo = async (request: IqRequest, element: Element): Promise<void> => {
    const {sender, stanza, account, own} = request
    const named = subscriptionOf(request, element)
    if (!named) return
    const {node, subscriber} = named
    const owner = account!
    const found = await existingNode(request, node)
    if (!found || (await refusedAccess(request, found.config))) return
    const result = await pep.subscribe(owner.host, owner.username, node, subscriber, options.maxSubscriptionsNode)
    if (result === 'no-node') return sender.send(errorReply(stanza, 'item-not-found'))
    if (result === 'too-many-subscriptions') return sender.send(errorReply(stanza, 'policy-violation', undefined, `a node keeps at most ${options.maxSubscriptionsNode} subscriptions`))
    // §6.1.2: the subscription as it now is.
    sender.send(iqResult(stanza, own ? undefined : owner.bare, x('pubsub', NS.pubsub, {}, x('subscription', NS.pubsub, {node, jid: subscriber, subscription: 'subscribed'}))))
    // §6.1.7: the last published item, unless the node says never.
    if (found.config.sendLastPublishedItem === 'never') return
    const [last] = await pep.getItems(owner.host, owner.username, node, {last: 1})
    if (!last) return
    const message = notification(owner, x('items', NS.pubsubEvent, {node}, x('item', NS.pubsubEvent, {id: last.id}, payloadOf(owner, node, last.payload))), last.publishedAt)
    const jid = parseJid(subscriber)!
    if (!context.isLocalHost(jid.domain)) return sendTo(message, subscriber)
    for (const target of sessionsOf(jid)) sendTo(message, target.fullJid, target)
  }

  const unsubscribeFrom = async (request: IqRequest, element: Element): Promise<void> => {
    const {sender, stanza, account, own} = request
    const named = subscriptionOf(request, element)
    if (!named) return
    const {node, subscriber} = named
    const owner = account!
    if (!(await existingNode(request, node))) return
    // §6.2.3.2
    if (!(await pep.unsubscribe(owner.host, owner.username, node, subscriber))) return sender.send(pubsubError(stanza, 'unexpected-request', 'not-subscribed'))
    sender.send(iqResult(stanza, own ? undefined : owner.bare))
  }

  /** §5.6: the sender's subscriptions to the account's nodes, or to one node. */
  const subscriptions = async ({sender, stanza, account, own}: IqRequest, element: Element): Promise<void> => {
    const owner = account!
    const only = element.attrs.node
    const found = (await pep.getSubscriptionsOf(owner.host, owner.username, sender.bareJid)).filter(({node}) => only === undefined || node === only)
    const listed = found.map(({node, subscriber}) => x('subscription', NS.pubsub, {node, jid: subscriber, subscription: 'subscribed'}))
    sender.send(iqResult(stanza, own ? undefined : owner.bare, x('pubsub', NS.pubsub, {}, x('subscriptions', NS.pubsub, only === undefined ? {} : {node: only}, ...listed))))
  }

  // ---- owner use cases (XEP-0060 §8) -------------------------------------

  const create = async (request: IqRequest, element: Element, configure: Element | undefined): Promise<void> => {
    const {session, stanza, account} = request
    // §8.1.2: no instant nodes.
    if (element.attrs.node === undefined) return session.send(pubsubError(stanza, 'not-acceptable', 'nodeid-required'))
    const node = nodeName(request, element)
    if (node === undefined) return
    let config = DEFAULT_CONFIG
    const form = configure?.getChild('x', NS.dataForms)
    if (form) {
      const asked = configFromForm(form, NODE_CONFIG, options.maxItemsNode)
      if (isProblem(asked)) return formProblem(request, asked)
      config = {...DEFAULT_CONFIG, ...asked}
    }

    const owner = account!
    await serialised(owner.bare, async () => {
      const result = await pep.createNode(owner.host, owner.username, node, config, limits())
      if (result === 'exists') return session.send(errorReply(stanza, 'conflict', undefined, `the node ${node} exists`))
      if (result === 'too-many-nodes') return session.send(errorReply(stanza, 'policy-violation', undefined, `an account has at most ${options.maxNodes} nodes`))
      if (result === 'no-account') return session.send(errorReply(stanza, 'not-allowed', undefined, 'this account no longer exists'))
      session.send(iqResult(stanza, undefined))
    })
  }

  const remove = async (request: IqRequest, element: Element): Promise<void> => {
    const {session, stanza, account} = request
    const node = nodeName(request, element)
    if (node === undefined) return
    const owner = account!
    await serialised(owner.bare, async () => {
      const found = await existingNode(request, node)
      if (!found) return
      const subscribers = await pep.getSubscribers(owner.host, owner.username, node)
      await pep.deleteNode(owner.host, owner.username, node)
      session.send(iqResult(stanza, undefined))
      // §8.4.2: those who got the node's notifications, subscribers included, hear it is gone.
      await broadcast(owner, node, found.config, x('delete', NS.pubsubEvent, {node}), subscribers)
    })
  }

  const configure = async (request: IqRequest, element: Element): Promise<void> => {
    const {session, stanza, account} = request
    const node = nodeName(request, element)
    if (node === undefined) return
    const owner = account!
    if (stanza.attrs.type === 'get') {
      const found = await existingNode(request, node)
      if (found) session.send(iqResult(stanza, undefined, x('pubsub', NS.pubsubOwner, {}, x('configure', NS.pubsubOwner, {node}, configForm(found.config)))))
      return
    }

    const form = element.getChild('x', NS.dataForms)
    if (!form) return session.send(errorReply(stanza, 'bad-request', undefined, 'configure needs a data form'))
    const asked = form.attrs.type === 'cancel' ? {} : configFromForm(form, NODE_CONFIG, options.maxItemsNode)
    if (isProblem(asked)) return formProblem(request, asked)
    await serialised(owner.bare, async () => {
      const found = await existingNode(request, node)
      if (!found) return
      await pep.configureNode(owner.host, owner.username, node, {...found.config, ...asked}, limits())
      session.send(iqResult(stanza, undefined))
    })
  }

  /** §7.1.3.1, §8: only the owner publishes, retracts and manages its nodes. */
  const ownerOnly = ({sender, stanza, own}: IqRequest): boolean => {
    if (!own) sender.send(errorReply(stanza, 'forbidden'))
    return own
  }

  const unsupported = ({sender, stanza}: IqRequest, action: Element): void => {
    const feature = UNSUPPORTED[action.ns]?.[action.name]
    if (feature) sender.send(pubsubError(stanza, 'feature-not-implemented', 'unsupported', undefined, {feature}))
    else sender.send(errorReply(stanza, 'bad-request', undefined, `unknown pubsub request <${action.name}/>`))
  }

  const pubsub = async (request: IqRequest): Promise<void> => {
    const {sender, stanza, query} = request
    const children = query.elements()
    const [action, extra] = children
    if (!action) return sender.send(errorReply(stanza, 'bad-request', undefined, 'the pubsub element needs a request'))
    const only = (companion: string) => children.length === 1 || (children.length === 2 && extra.name === companion && extra.ns === NS.pubsub)
    const type = stanza.attrs.type
    if (action.ns !== NS.pubsub) return unsupported(request, action)
    if (type === 'get' && action.name === 'items' && children.length === 1) return retrieve(request, action)
    if (type === 'set' && action.name === 'publish' && only('publish-options')) return ownerOnly(request) ? publish(request, action, extra) : undefined
    if (type === 'set' && action.name === 'retract' && children.length === 1) return ownerOnly(request) ? retract(request, action) : undefined
    if (type === 'set' && action.name === 'create' && only('configure')) return ownerOnly(request) ? create(request, action, extra) : undefined
    if (type === 'set' && action.name === 'subscribe' && children.length === 1) return subscribeTo(request, action)
    if (type === 'set' && action.name === 'unsubscribe' && children.length === 1) return unsubscribeFrom(request, action)
    if (type === 'get' && action.name === 'subscriptions' && children.length === 1) return subscriptions(request, action)
    unsupported(request, action)
  }

  const pubsubOwner = async (request: IqRequest): Promise<void> => {
    const {session, stanza, query} = request
    if (!ownerOnly(request)) return
    const children = query.elements()
    if (children.length !== 1) return session.send(errorReply(stanza, 'bad-request', undefined, 'the pubsub element needs one request'))
    const [action] = children
    if (action.name === 'configure') return configure(request, action)
    if (action.name === 'delete' && stanza.attrs.type === 'set') return remove(request, action)
    unsupported(request, action)
  }

  return {
    name: NAME,
    // The caps a resource announced and the features they mean go with it to the node it is resumed on: its +notify filters hold there (XEP-0163 §4.2).
    exportSession(session) {
      const caps = sessionCaps.get(session)
      if (!caps) return undefined
      const features = sessionFeatures.get(session)
      return {caps, ...(features ? {features: [...features]} : {})}
    },
    importSession(session, state) {
      const {caps, features} = state as {caps?: Caps; features?: unknown}
      if (typeof caps?.node !== 'string' || typeof caps.ver !== 'string') return
      sessionCaps.set(session, {node: caps.node, ver: caps.ver, hash: typeof caps.hash === 'string' ? caps.hash : undefined})
      if (Array.isArray(features)) sessionFeatures.set(session, new Set(features.filter((feature): feature is string => typeof feature === 'string')))
    },
    accountFeatures: [NS.pubsub, ...FEATURES.map((feature) => `${NS.pubsub}#${feature}`), `${BOOKMARKS_NODE}#compat`],
    // XEP-0163 §6.1.
    accountIdentities: [{category: 'pubsub', type: 'pep'}],
    iq: [
      // Other servers' users read items and subscribe too (XEP-0163 §5, XEP-0060 §6): handle() reads request.sender only for them.
      {ns: NS.pubsub, name: 'pubsub', types: ['get', 'set'], to: ['account'], remote: true, handle: pubsub},
      {ns: NS.pubsubOwner, name: 'pubsub', types: ['get', 'set'], to: ['account'], handle: pubsubOwner},
    ],

    /** A resource's answer about its caps, to the server's JID; a legacy client's bookmarks in private XML storage, to its own account. */
    outbound(session, stanza, to) {
      if (stanza.name !== 'iq') return false
      const type = stanza.attrs.type
      if (type === 'get' || type === 'set') {
        const own = to === undefined || (to.resource === '' && to.local === session.username && to.domain === session.host)
        const storage = own ? legacyBookmarksRequest(stanza) : undefined
        return storage ? legacyBookmarks(session, stanza, storage) : false
      }

      if ((type !== 'result' && type !== 'error') || !to || to.local !== '' || to.resource !== '') return false
      const query = queries.get(stanza.attrs.id ?? '')
      if (query?.session !== session) return false
      settle(stanza.attrs.id!, type === 'result' ? stanza.getChild('query', NS.discoInfo) : undefined)
      return true
    },

    async availablePresence(session, _account, presence) {
      const caps = capsOf(presence)
      // A presence without caps leaves what the resource announced before (XEP-0115 §4 asks for them in every presence).
      if (!caps) return
      const before = sessionCaps.get(session)
      if (before && capsKey(before) === capsKey(caps)) return
      sessionCaps.set(session, caps)
      const known = verifiable(caps) ? capsCache.get(caps) : undefined
      if (known) await learned(session, known)
      else ask(session, caps)
    },

    /** What the resource announced counts for this presence only: the next initial presence asks again, and gets the last items again. */
    async becameUnavailable(session) {
      sessionCaps.delete(session)
      sessionFeatures.delete(session)
      await router.share(session, NAME, undefined)
    },

    /** XEP-0060 §5.3: a leaf node, described by the pubsub#meta-data fields (§16.4.4) clients check before they publish. */
    async accountNodeInfo(account, node, requester) {
      const found = await pep.getNode(account.host, account.username, node)
      if (!found || !(await mayAccess(account, found.config, requester))) return undefined
      const form = x('x', NS.dataForms, {type: 'result'})
      form.c('field', {var: 'FORM_TYPE', type: 'hidden'}).c('value').append(`${NS.pubsub}#meta-data`)
      form.c('field', {var: 'pubsub#owner'}).c('value').append(account.bare)
      form.c('field', {var: 'pubsub#access_model'}).c('value').append(found.config.accessModel)
      form.c('field', {var: 'pubsub#max_items'}).c('value').append(String(found.config.maxItems))
      return [x('identity', NS.discoInfo, {category: 'pubsub', type: 'leaf'}), x('feature', NS.discoInfo, {var: NS.pubsub}), form]
    },

    async accountItems(account, requester) {
      const nodes = await pep.listNodes(account.host, account.username)
      const items: Element[] = []
      for (const {node, config} of nodes) if (await mayAccess(account, config, requester)) items.push(x('item', NS.discoItems, {jid: account.bare, node}))
      return items
    },

    accountDeleted(account) {
      for (const [id, query] of queries) if (query.session.bareJid === account.bare) settle(id, undefined)
    },
  }
}
