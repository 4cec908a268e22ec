/**
 * An account's stored data as children of its XEP-0227 `<user>`, in the
 * shapes ejabberd's import_piefxis and Prosody's mod_storage_xep0227 read:
 * roster (RFC 6121 §2, with `approved` of §3.4), pending inbound requests
 * as `<presence type='subscribe'>` (§3.1.3), vCard (XEP-0054), offline
 * messages with their XEP-0203 delay in `<offline-messages>`, private XML
 * (XEP-0049), PEP nodes as XEP-0060 owner `<configure>` forms and their
 * `<items>`, and the archive as Prosody writes it (`urn:xmpp:pie:0#mam`:
 * XEP-0313 `<result>`s; XEP-0227 itself has no archive). user-data.ts reads
 * all of it back.
 */
import {NS} from '../xml/namespaces.js'
import {type Element, x} from '../xml/element.js'
import {parseElement} from '../xml/parser.js'
import type {ExportedAccountData} from '../store/account-store.js'
import type {PepNodeConfig} from '../store/pep-store.js'
import {DATA_KINDS, type DataKind, PIE_MAM_NS} from './user-data.js'

const PIE_NS = 'urn:xmpp:pie:0'
/** The namespace parseElement gives a stored stanza written without one (in jabber:client, as the modules store them). */
const STORE_NS = 'urn:xmppctl:store'

/** A stored stanza or element, its implied namespace made jabber:client. */
function stored(text: string): Element | undefined {
  const element = parseElement(text)
  const visit = (node: Element) => {
    if (node.ns === STORE_NS) node.ns = NS.client
    for (const child of node.elements()) visit(child)
  }

  if (element) visit(element)
  return element
}

function configForm(config: PepNodeConfig): Element {
  const field = (name: string, value: string, type?: string) => x('field', NS.dataForms, {var: name, type}, x('value', NS.dataForms, {}, value))
  return x(
    'x',
    NS.dataForms,
    {type: 'submit'},
    field('FORM_TYPE', `${NS.pubsub}#node_config`, 'hidden'),
    field('pubsub#access_model', config.accessModel),
    field('pubsub#persist_items', config.persistItems ? 'true' : 'false'),
    field('pubsub#max_items', String(config.maxItems)),
    field('pubsub#send_last_published_item', config.sendLastPublishedItem),
  )
}

export interface UserDataXml {
  /** The children to write inside `<user>`, serialised. */
  xml: string
  counts: Record<DataKind, number>
  /** Stored entries that could not be read back (a damaged stanza): left out, counted. */
  unreadable: number
}

/**
 * The children of `<user>` for `data`. With `ejabberd`, only what ejabberd
 * 23.01's import_piefxis reads (roster, vCard, offline messages, private
 * XML): it has no PEP or archive import.
 */
export function formatUserData(data: ExportedAccountData, owner: {host: string; username: string}, options: {ejabberd?: boolean} = {}): UserDataXml {
  const counts = Object.fromEntries(DATA_KINDS.map((kind) => [kind, 0])) as Record<DataKind, number>
  const parts: string[] = []
  let unreadable = 0
  const add = (element: Element) => parts.push(element.toString(PIE_NS))
  const bare = `${owner.username}@${owner.host}`

  if (data.roster.length > 0) {
    const query = x('query', NS.roster)
    for (const item of data.roster) {
      const element = query.c('item', {
        jid: item.contact,
        name: item.name,
        subscription: item.subscription,
        ask: item.ask ? 'subscribe' : undefined,
        approved: item.approved ? 'true' : undefined,
      })
      for (const group of item.groups) element.c('group').append(group)
    }

    add(query)
    counts.rosterItems = data.roster.length
  }

  for (const request of data.subscriptionRequests) {
    const presence = stored(request.stanza)
    if (!presence) {
      unreadable++
      continue
    }

    presence.attrs.from = request.contact
    presence.attrs.to = bare
    add(presence)
    counts.subscriptionRequests++
  }

  if (data.vcard !== undefined) {
    const vcard = stored(data.vcard)
    if (vcard) {
      add(vcard)
      counts.vcards = 1
    } else unreadable++
  }

  if (data.offline.length > 0) {
    const offline = x('offline-messages', PIE_NS)
    for (const message of data.offline) {
      const stanza = stored(message.stanza)
      if (!stanza) {
        unreadable++
        continue
      }

      // XEP-0203: when it was stored; the offline module writes it, one stored otherwise gets the row's time.
      if (!stanza.getChild('delay', NS.delay)) stanza.append(x('delay', NS.delay, {from: owner.host, stamp: message.createdAt.toISOString()}))
      offline.append(stanza)
      counts.offlineMessages++
    }

    if (counts.offlineMessages > 0) add(offline)
  }

  if (data.private.length > 0) {
    const query = x('query', NS.private)
    for (const item of data.private) {
      const element = stored(item.xml)
      if (element) query.append(element)
      else unreadable++
    }

    counts.privateItems = query.children.length
    if (counts.privateItems > 0) add(query)
  }

  if (!options.ejabberd && data.pep.length > 0) {
    const owners = x('pubsub', NS.pubsubOwner)
    const items = x('pubsub', NS.pubsub)
    for (const node of data.pep) {
      owners.append(x('configure', NS.pubsubOwner, {node: node.node}, configForm(node.config)))
      // XEP-0060 §8.8's owner view of the subscriptions: what xmppctl reads back (Prosody and ejabberd ignore it).
      if (node.subscribers && node.subscribers.length > 0) {
        owners.append(x('subscriptions', NS.pubsubOwner, {node: node.node}, ...node.subscribers.map((jid) => x('subscription', NS.pubsubOwner, {jid, subscription: 'subscribed'}))))
      }
      // Written for an empty node too: Prosody 0.12's mod_storage_xep0227 finds no item store for a node without
      // <items>, and prosody-migrator stops there.
      const list = items.c('items', {node: node.node})
      for (const item of node.items) {
        const payload = stored(item.payload)
        if (!payload) {
          unreadable++
          continue
        }

        list.append(x('item', NS.pubsub, {id: item.id, publisher: item.publisher}, payload))
        counts.pepItems++
      }
    }

    add(owners)
    counts.pepNodes = data.pep.length
    add(items)
  }

  if (!options.ejabberd && data.archive.length > 0) {
    const archive = x('archive', PIE_MAM_NS)
    for (const message of data.archive) {
      const stanza = stored(message.stanza)
      if (!stanza) {
        unreadable++
        continue
      }

      archive.append(
        x('result', NS.mam, {id: message.id}, x('forwarded', NS.forward, {}, x('delay', NS.delay, {stamp: message.at.toISOString()}), stanza)),
      )
      counts.archivedMessages++
    }

    if (counts.archivedMessages > 0) add(archive)
  }

  return {xml: parts.map((part) => `  ${part}\n`).join(''), counts, unreadable}
}
