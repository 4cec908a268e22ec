/**
 * The per-user data of a XEP-0227 `<user>` that the server stores: roster
 * (RFC 6121 §2), pending inbound subscription requests (§3.1.3), vCard
 * (XEP-0054), offline messages (XEP-0160, with their XEP-0203 delay) and
 * private XML (XEP-0049), in the shapes ejabberd's export_piefxis and
 * Prosody's mod_storage_xep0227 write. Anything else stays XML for the side file.
 */
import {formatJid, parseBareJid} from '../jid/index.js'
import {NS} from '../server/namespaces.js'
import {type Element, x} from '../server/xml/element.js'
import {parseElement} from '../server/xml/parser.js'
import type {ImportedAccountData} from '../store/account-store.js'
import type {RosterItem, RosterLimits, Subscription} from '../store/roster-store.js'

export const DATA_KINDS = ['rosterItems', 'subscriptionRequests', 'vcards', 'offlineMessages', 'privateItems'] as const
export type DataKind = (typeof DATA_KINDS)[number]
export const DATA_LABELS: Record<DataKind, string> = {
  rosterItems: 'roster items',
  subscriptionRequests: 'subscription requests',
  vcards: 'vCards',
  offlineMessages: 'offline messages',
  privateItems: 'private XML items',
}

const PIE_NS = 'urn:xmpp:pie:0'
const SUBSCRIPTIONS = new Set<string>(['none', 'to', 'from', 'both'])

/** The known children of one `<user>`, parsed; `other` keeps the rest as written. */
export interface SourceUserData {
  roster: Element[]
  subscriptionRequests: Element[]
  vcard: Element | undefined
  offline: Element[]
  private: Element[]
  other: string[]
}

export function emptyUserData(): SourceUserData {
  return {roster: [], subscriptionRequests: [], vcard: undefined, offline: [], private: [], other: []}
}

/** Whether a stanza-level child was written without a namespace of its own (inheriting XEP-0227's). */
const isClient = (element: Element) => element.ns === NS.client || element.ns === PIE_NS

/** Sorts one serialised top-level child of `<user>` into `data`. */
export function addUserChild(data: SourceUserData, serialised: string): void {
  const element = parseElement(serialised)
  if (!element) {
    data.other.push(serialised)
    return
  }

  if (element.name === 'query' && element.ns === NS.roster) data.roster.push(...element.getChildren('item', NS.roster))
  else if (element.name === 'presence' && isClient(element) && element.attr('type') === 'subscribe') data.subscriptionRequests.push(element)
  else if (element.name === 'vCard' && element.ns === NS.vcard) data.vcard = element
  else if (element.name === 'offline-messages') data.offline.push(...element.getChildren('message').filter(isClient))
  else if (element.name === 'query' && element.ns === NS.private) data.private.push(...element.elements())
  else data.other.push(serialised)
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
  limits: {roster: RosterLimits; offlineMessages: number},
  now: Date,
): {data: ImportedAccountData; problems: DataProblem[]} {
  const problems: DataProblem[] = []
  const out: ImportedAccountData = {roster: [], subscriptionRequests: [], vcard: undefined, offline: [], private: []}
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

  return {data: out, problems}
}

/** Entries per kind of prepared data. */
export function countUserData(data: ImportedAccountData): Record<DataKind, number> {
  return {
    rosterItems: data.roster.length,
    subscriptionRequests: data.subscriptionRequests.length,
    vcards: data.vcard === undefined ? 0 : 1,
    offlineMessages: data.offline.length,
    privateItems: data.private.length,
  }
}
