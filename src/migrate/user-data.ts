/**
 * The per-user data of a XEP-0227 `<user>` that the server stores: roster
 * (RFC 6121 §2), pending inbound subscription requests (§3.1.3), vCard
 * (XEP-0054), offline messages (XEP-0160, with their XEP-0203 delay),
 * private XML (XEP-0049), PEP nodes and items (XEP-0163; XEP-0227 §4 writes
 * them as XEP-0060 owner `<configure>` forms and `<items>`) and the message
 * archive (XEP-0313, in Prosody's `urn:xmpp:pie:0#mam` extension: XEP-0227
 * itself has no archive), in the shapes ejabberd's export_piefxis and
 * Prosody's mod_storage_xep0227 write. Anything else stays XML for the side file.
 */
import {formatJid, parseBareJid} from '../jid/index.js'
import {bareJid, fullJid, parseJid} from '../server/jid.js'
import {NS} from '../xml/namespaces.js'
import {type Element, x} from '../xml/element.js'
import type {ImportedAccountData, ImportedPepNode} from '../store/account-store.js'
import {ACCESS_MODELS, type AccessModel, type PepLimits, type PepNodeConfig, SEND_LAST_PUBLISHED_ITEM, type SendLastPublishedItem} from '../store/pep-store.js'
import type {RosterItem, RosterLimits, Subscription} from '../store/roster-store.js'

export const DATA_KINDS = ['rosterItems', 'subscriptionRequests', 'vcards', 'offlineMessages', 'privateItems', 'pepNodes', 'pepItems', 'archivedMessages'] as const
export type DataKind = (typeof DATA_KINDS)[number]
export const DATA_LABELS: Record<DataKind, string> = {
  rosterItems: 'roster items',
  subscriptionRequests: 'subscription requests',
  vcards: 'vCards',
  offlineMessages: 'offline messages',
  privateItems: 'private XML items',
  pepNodes: 'PEP nodes',
  pepItems: 'PEP items',
  archivedMessages: 'archived messages',
}

const PIE_NS = 'urn:xmpp:pie:0'
/** Prosody's extension of XEP-0227 for the message archive (mod_storage_xep0227): `<archive>` of XEP-0313 `<result>`s. */
export const PIE_MAM_NS = 'urn:xmpp:pie:0#mam'
/** A node whose source gives no configuration: XEP-0163 §4.4's defaults, as mod_pep creates one (Prosody and ejabberd agree). */
export const DEFAULT_PEP_CONFIG: PepNodeConfig = {accessModel: 'presence', persistItems: true, maxItems: 1, sendLastPublishedItem: 'on_sub_and_presence'}
const SUBSCRIPTIONS = new Set<string>(['none', 'to', 'from', 'both'])

/** The known children of one `<user>`, parsed; `other` keeps the rest as written. */
export interface SourceUserData {
  roster: Element[]
  subscriptionRequests: Element[]
  vcard: Element | undefined
  offline: Element[]
  private: Element[]
  /** XEP-0060 §8 owner elements (`<configure node>` with its form), from `<pubsub xmlns='…#owner'>`. */
  pepConfig: Element[]
  /** `<items node>` from `<pubsub xmlns='http://jabber.org/protocol/pubsub'>`, items oldest first. */
  pepItems: Element[]
  /** XEP-0313 `<result>`s of the archive, oldest first. */
  archive: Element[]
  other: string[]
}

export function emptyUserData(): SourceUserData {
  return {roster: [], subscriptionRequests: [], vcard: undefined, offline: [], private: [], pepConfig: [], pepItems: [], archive: [], other: []}
}

/** Whether a stanza-level child was written without a namespace of its own (inheriting XEP-0227's). */
const isClient = (element: Element) => element.ns === NS.client || element.ns === PIE_NS

/** Sorts one top-level child of `<user>` into `data`; what the server does not keep stays XML, for the side file. */
export function addUserChild(data: SourceUserData, element: Element): void {
  if (element.name === 'query' && element.ns === NS.roster) data.roster.push(...element.getChildren('item', NS.roster))
  else if (element.name === 'presence' && isClient(element) && element.attr('type') === 'subscribe') data.subscriptionRequests.push(element)
  else if (element.name === 'vCard' && element.ns === NS.vcard) data.vcard = element
  else if (element.name === 'offline-messages') data.offline.push(...element.getChildren('message').filter(isClient))
  else if (element.name === 'query' && element.ns === NS.private) data.private.push(...element.elements())
  else if (element.name === 'pubsub' && element.ns === NS.pubsubOwner) data.pepConfig.push(...element.elements())
  else if (element.name === 'pubsub' && element.ns === NS.pubsub) data.pepItems.push(...element.getChildren('items', NS.pubsub))
  else if (element.name === 'archive' && element.ns === PIE_MAM_NS) data.archive.push(...element.elements().filter((result) => result.name === 'result'))
  else data.other.push(element.toString())
}

export interface DataProblem {
  kind: DataKind
  reason: string
}

/** The same tree in jabber:client where it inherited XEP-0227's namespace, as the server stores stanzas. */
function asClient(element: Element): Element {
  const copy = element.clone()
  const visit = (node: Element) => {
    if (node.ns === PIE_NS) node.ns = NS.client
    for (const child of node.elements()) visit(child)
  }

  visit(copy)
  return copy
}

function contactOf(jid: string | undefined): string {
  if (jid === undefined) throw new Error('it has no jid')
  return formatJid(parseBareJid(jid, {allowDomainOnly: true}))
}

/**
 * What the store writes for the account `owner`, normalised and within the
 * host's limits; what cannot be stored is named in `problems`, one per entry.
 */
export function prepareUserData(
  data: SourceUserData,
  owner: {host: string; username: string},
  limits: {roster: RosterLimits; offlineMessages: number; pep: PepLimits},
  now: Date,
): {data: ImportedAccountData; problems: DataProblem[]} {
  const problems: DataProblem[] = []
  const out: ImportedAccountData = {roster: [], subscriptionRequests: [], vcard: undefined, offline: [], private: [], pep: [], archive: []}
  const bare = `${owner.username}@${owner.host}`
  const seen = new Set<string>()
  let rosterBytes = 0
  for (const item of data.roster) {
    try {
      const contact = contactOf(item.attr('jid'))
      const subscription = item.attr('subscription') ?? 'none'
      if (!SUBSCRIPTIONS.has(subscription)) throw new Error(`subscription "${subscription}" is not none, to, from or both`)
      if (seen.has(contact)) throw new Error(`${contact} is listed twice`)
      const groups = [...new Set(item.getChildren('group', NS.roster).map((group) => group.text()))]
      const rosterItem: RosterItem = {contact, name: item.attr('name') || undefined, subscription: subscription as Subscription, ask: item.attr('ask') === 'subscribe', approved: false, groups}
      // The server's own limits (max_roster_items, max_roster_bytes), counted as sqlite/roster.ts counts them.
      const bytes = Buffer.byteLength(contact) + Buffer.byteLength(rosterItem.name ?? '') + Buffer.byteLength(JSON.stringify(groups))
      if (out.roster.length >= limits.roster.items) throw new Error(`the roster already holds max_roster_items (${limits.roster.items})`)
      if (rosterBytes + bytes > limits.roster.bytes) throw new Error(`the roster would exceed max_roster_bytes (${limits.roster.bytes})`)
      seen.add(contact)
      rosterBytes += bytes
      out.roster.push(rosterItem)
    } catch (error) {
      problems.push({kind: 'rosterItems', reason: `roster item ${JSON.stringify(item.attr('jid') ?? '')}: ${(error as Error).message}`})
    }
  }

  const requested = new Set<string>()
  for (const presence of data.subscriptionRequests) {
    try {
      const contact = contactOf(presence.attr('from'))
      if (requested.has(contact)) continue // one pending request per contact (RFC 6121 §3.1.3)
      requested.add(contact)
      const stanza = asClient(presence)
      stanza.ns = NS.client
      stanza.attrs.from = contact
      stanza.attrs.to = bare
      out.subscriptionRequests.push({contact, stanza: stanza.toString(NS.client)})
    } catch (error) {
      problems.push({kind: 'subscriptionRequests', reason: `subscription request from ${JSON.stringify(presence.attr('from') ?? '')}: ${(error as Error).message}`})
    }
  }

  if (data.vcard) out.vcard = data.vcard.toString()
  for (const message of data.offline) {
    if (out.offline.length >= limits.offlineMessages) {
      problems.push({kind: 'offlineMessages', reason: `more offline messages than max_user_offline_messages (${limits.offlineMessages})`})
      continue
    }

    const stanza = asClient(message)
    stanza.attrs.to ??= bare
    // XEP-0203: the stamp tells the client when the message was first stored; one the source lacks is at least now.
    let delay = stanza.getChild('delay', NS.delay)
    if (!delay) stanza.append((delay = x('delay', NS.delay, {from: owner.host, stamp: now.toISOString()})))
    const stamp = new Date(delay.attr('stamp') ?? '')
    out.offline.push({stanza: stanza.toString(NS.client), createdAt: Number.isNaN(stamp.getTime()) ? now : stamp})
  }

  // XEP-0049 keeps one element per namespace and name: the last one written wins.
  const byKey = new Map<string, Element>()
  for (const item of data.private) byKey.set(`${item.ns}\u0000${item.name}`, item)
  for (const item of byKey.values()) out.private.push({ns: item.ns, name: item.name, xml: item.toString()})

  out.pep = preparePep(data, bare, limits.pep, now, problems)
  for (const result of data.archive) {
    try {
      out.archive.push(archivedMessage(result, bare))
    } catch (error) {
      problems.push({kind: 'archivedMessages', reason: `archived message ${JSON.stringify(result.attr('id') ?? '')}: ${(error as Error).message}`})
    }
  }

  return {data: out, problems}
}

/** The value of a XEP-0004 field of `form`, or undefined. */
function formValue(form: Element | undefined, name: string): string | undefined {
  const field = form?.getChildren('field', NS.dataForms).find((candidate) => candidate.attr('var') === name)
  return field?.getChildText('value', NS.dataForms)?.trim()
}

/**
 * A node's configuration from its XEP-0060 §16.4.3 form, within what this
 * server serves: an access model it does not serve (`roster`, `authorize`)
 * becomes `whitelist` (the owner alone), which shows nobody what the source
 * showed only some; a max_items above mod_pep's max_items_node is lowered to it.
 */
export function pepConfigOf(form: Element | undefined, limits: PepLimits): PepNodeConfig {
  const config = {...DEFAULT_PEP_CONFIG}
  const access = formValue(form, 'pubsub#access_model')
  if (access !== undefined) config.accessModel = (ACCESS_MODELS as readonly string[]).includes(access) ? (access as AccessModel) : 'whitelist'
  const persist = formValue(form, 'pubsub#persist_items')
  if (persist !== undefined) config.persistItems = persist === 'true' || persist === '1'
  const maxItems = formValue(form, 'pubsub#max_items')
  if (maxItems === 'max') config.maxItems = 'max'
  else if (maxItems !== undefined && /^\d{1,9}$/.test(maxItems) && Number(maxItems) > 0) config.maxItems = Math.min(Number(maxItems), limits.maxItems)
  const send = formValue(form, 'pubsub#send_last_published_item')
  if (send !== undefined && (SEND_LAST_PUBLISHED_ITEM as readonly string[]).includes(send)) config.sendLastPublishedItem = send as SendLastPublishedItem
  return config
}

/** The nodes of `<pubsub#owner>` and `<pubsub>`, with their items, as mod_pep would keep them. */
function preparePep(data: SourceUserData, bare: string, limits: PepLimits, now: Date, problems: DataProblem[]): ImportedPepNode[] {
  const nodes = new Map<string, {form: Element | undefined; items: Element[]; subscribers: string[]}>()
  const nodeOf = (name: string) => {
    let node = nodes.get(name)
    if (!node) nodes.set(name, (node = {form: undefined, items: [], subscribers: []}))
    return node
  }

  for (const element of data.pepConfig) {
    const name = element.attr('node')
    // Affiliations are not kept: a PEP node's owner is its account, its readers come from the access model.
    if (!name) continue
    if (element.name === 'configure') nodeOf(name).form = element.getChild('x', NS.dataForms)
    // Explicit subscriptions (XEP-0060 §8.8's owner view), each JID normalised; one that is not a JID is dropped.
    if (element.name !== 'subscriptions') continue
    for (const subscription of element.getChildren('subscription', NS.pubsubOwner)) {
      const jid = parseJid(subscription.attr('jid') ?? '')
      if (jid && (subscription.attr('subscription') ?? 'subscribed') === 'subscribed') nodeOf(name).subscribers.push(jid.resource === '' ? bareJid(jid) : fullJid(jid))
    }
  }

  for (const items of data.pepItems) {
    const name = items.attr('node')
    if (!name) {
      problems.push({kind: 'pepItems', reason: 'an <items> element has no node'})
      continue
    }

    nodeOf(name).items.push(...items.getChildren('item', NS.pubsub))
  }

  const out: ImportedPepNode[] = []
  let bytes = 0
  for (const [name, source] of nodes) {
    if (out.length >= limits.nodes) {
      problems.push({kind: 'pepNodes', reason: `node ${JSON.stringify(name)}: the account already has mod_pep's max_nodes (${limits.nodes})`})
      problems.push(...source.items.map(() => ({kind: 'pepItems' as const, reason: `an item of node ${JSON.stringify(name)}: its node was not imported`})))
      continue
    }

    const config = pepConfigOf(source.form, limits)
    const node: ImportedPepNode = {node: name, config, items: [], ...(source.subscribers.length > 0 ? {subscribers: [...new Set(source.subscribers)]} : {})}
    out.push(node)
    // One item per id, the last written winning; the newest max_items are kept (XEP-0060 §4.5 "oldest first out").
    const byId = new Map<string, Element>()
    for (const item of source.items) {
      const id = item.attr('id')
      if (!id) {
        problems.push({kind: 'pepItems', reason: `an item of node ${JSON.stringify(name)} has no id`})
        continue
      }

      byId.delete(id)
      byId.set(id, item)
    }

    const keep = !config.persistItems ? 0 : config.maxItems === 'max' ? limits.maxItems : Math.min(config.maxItems, limits.maxItems)
    const items = [...byId.entries()]
    for (const [id] of items.slice(0, Math.max(0, items.length - keep))) {
      problems.push({kind: 'pepItems', reason: `item ${JSON.stringify(id)} of node ${JSON.stringify(name)}: older than the node's max_items (${keep}) newest`})
    }

    for (const [id, item] of items.slice(Math.max(0, items.length - keep))) {
      const payload = item.elements()[0]
      if (!payload) {
        problems.push({kind: 'pepItems', reason: `item ${JSON.stringify(id)} of node ${JSON.stringify(name)} has no payload`})
        continue
      }

      const xml = payload.toString()
      if (bytes + Buffer.byteLength(xml) > limits.totalBytes) {
        problems.push({kind: 'pepItems', reason: `item ${JSON.stringify(id)} of node ${JSON.stringify(name)}: the account's items would exceed mod_pep's max_total_size (${limits.totalBytes})`})
        continue
      }

      bytes += Buffer.byteLength(xml)
      let publisher = bare
      try {
        if (item.attr('publisher')) publisher = contactOf(item.attr('publisher'))
      } catch {
        // A publisher that is no JID: the owner published it (only the owner publishes to PEP, XEP-0163 §6.1.3).
      }

      node.items.push({id, payload: xml, publisher, publishedAt: now})
    }
  }

  return out
}

/** One XEP-0313 `<result>` (`<forwarded>`: `<delay stamp>` and the message) as the archive keeps it for `owner`. */
export function archivedMessage(result: Element, owner: string): {stanza: string; at: Date; with: string; withResource: string} {
  const forwarded = result.getChild('forwarded', NS.forward)
  const message = forwarded?.elements().find((child) => child.name === 'message' && (child.ns === NS.client || child.ns === PIE_NS))
  if (!forwarded || !message) throw new Error('it has no <forwarded> message')
  const at = new Date(forwarded.getChild('delay', NS.delay)?.attr('stamp') ?? '')
  if (Number.isNaN(at.getTime())) throw new Error('it has no valid <delay stamp>')
  const stanza = asClient(message)
  // A stanza-id the old server gave (XEP-0359 §4) names its archive, not ours: the archive gives its own id.
  stanza.children = stanza.children.filter((child) => typeof child === 'string' || !(child.name === 'stanza-id' && child.ns === NS.stanzaId))
  // A full JID: its bare part normalised, its resource as written (RFC 7622 §3.4 leaves it to the OpaqueString profile).
  const split = (jid: string | undefined) => {
    const slash = jid === undefined ? -1 : jid.indexOf('/')
    return {bare: contactOf(slash === -1 ? jid : jid!.slice(0, slash)), resource: slash === -1 ? '' : jid!.slice(slash + 1)}
  }

  // The other party: the sender of what the owner received, else the recipient (as mod_mam files it).
  const to = stanza.attr('to') === undefined ? undefined : split(stanza.attr('to'))
  const incoming = to !== undefined && to.bare === owner
  const other = incoming ? stanza.attr('from') : stanza.attr('to')
  if (other === undefined) throw new Error(`it has no ${incoming ? 'from' : 'to'}`)
  const {bare, resource} = split(other)
  return {stanza: stanza.toString(), at, with: bare, withResource: resource}
}

/** Entries per kind of prepared data. */
export function countUserData(data: ImportedAccountData): Record<DataKind, number> {
  return {
    rosterItems: data.roster.length,
    subscriptionRequests: data.subscriptionRequests.length,
    vcards: data.vcard === undefined ? 0 : 1,
    offlineMessages: data.offline.length,
    privateItems: data.private.length,
    pepNodes: data.pep.length,
    pepItems: data.pep.reduce((sum, node) => sum + node.items.length, 0),
    archivedMessages: data.archive.length,
  }
}
