/**
 * Room bookmarks in their two forms (XEP-0402 §5.3 "Compatibility"): a
 * legacy `<storage xmlns='storage:bookmarks'/>` (XEP-0048) that older
 * clients keep in private XML storage (XEP-0049), and one PEP item per room
 * on `urn:xmpp:bookmarks:1`, its id the room's JID. Converting both ways
 * keeps what either form holds: a legacy conference's unknown children go
 * into the new form's <extensions/> and come back out of it.
 */
import type {PepNodeConfig} from '../store/pep-store.js'
import {NS} from '../xml/namespaces.js'
import {type Element, x} from '../xml/element.js'

export const BOOKMARKS_NODE = 'urn:xmpp:bookmarks:1'
export const LEGACY_BOOKMARKS = 'storage:bookmarks'

/** XEP-0402 §5: the node keeps every bookmark and only its owner sees them; a new bookmark is no news to contacts. */
export const BOOKMARKS_NODE_CONFIG: PepNodeConfig = {accessModel: 'whitelist', persistItems: true, maxItems: 'max', sendLastPublishedItem: 'never'}

const truthy = (value: string | undefined) => value === 'true' || value === '1'

/** The rooms of a legacy <storage/>, as PEP items by room JID (later duplicates win, as a client rereading the list would see). */
export function pepItemsOfLegacy(storage: Element): Map<string, Element> {
  const items = new Map<string, Element>()
  for (const conference of storage.getChildren('conference', LEGACY_BOOKMARKS)) {
    const jid = conference.attrs.jid
    if (!jid) continue
    const item = x('conference', BOOKMARKS_NODE, {name: conference.attrs.name, autojoin: truthy(conference.attrs.autojoin) ? 'true' : undefined})
    const extensions: Element[] = []
    for (const child of conference.elements()) {
      if (child.ns === LEGACY_BOOKMARKS && (child.name === 'nick' || child.name === 'password')) item.c(child.name).append(child.text())
      else extensions.push(child.clone())
    }

    if (extensions.length > 0) item.append(x('extensions', BOOKMARKS_NODE, {}, ...extensions))
    items.set(jid, item)
  }

  return items
}

/** A legacy conference element for the room `id` of a PEP payload. */
function legacyConference(id: string, payload: Element): Element {
  const conference = x('conference', LEGACY_BOOKMARKS, {jid: id, name: payload.attrs.name, autojoin: truthy(payload.attrs.autojoin) ? 'true' : 'false'})
  for (const name of ['nick', 'password']) {
    const text = payload.getChildText(name, BOOKMARKS_NODE)
    if (text !== undefined) conference.c(name).append(text)
  }

  for (const extension of payload.getChild('extensions', BOOKMARKS_NODE)?.elements() ?? []) conference.append(extension.clone())
  return conference
}

/**
 * A legacy <storage/> holding the rooms of `items` (id, payload), in the
 * order and form of `previous`, the element last stored: its other children
 * (URLs, say) stay where they were, a room the node still holds unchanged
 * stays exactly as it was written, a changed one is written anew in its
 * place, and rooms `previous` lacks follow in the node's order.
 */
export function legacyOfPepItems(items: ReadonlyArray<{id: string; payload: Element}>, previous: Element | undefined): Element {
  const rooms = new Map(items.filter(({payload}) => payload.name === 'conference' && payload.ns === BOOKMARKS_NODE).map(({id, payload}) => [id, payload]))
  const before = previous ? pepItemsOfLegacy(previous) : new Map<string, Element>()
  const storage = x('storage', LEGACY_BOOKMARKS)
  for (const child of previous?.elements() ?? []) {
    const id = child.name === 'conference' && child.ns === LEGACY_BOOKMARKS ? child.attrs.jid : undefined
    if (id === undefined) {
      storage.append(child.clone())
      continue
    }

    const payload = rooms.get(id)
    if (!payload) continue
    rooms.delete(id)
    storage.append(before.get(id)?.toString() === payload.toString() ? child.clone() : legacyConference(id, payload))
  }

  for (const [id, payload] of rooms) storage.append(legacyConference(id, payload))
  return storage
}

/** The private XML query of a legacy bookmarks request: `<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>` and nothing else. */
export function legacyBookmarksRequest(stanza: Element): Element | undefined {
  const [query, extra] = stanza.elements()
  if (!query || extra || query.name !== 'query' || query.ns !== NS.private) return undefined
  const [storage, more] = query.elements()
  if (!storage || more || storage.name !== 'storage' || storage.ns !== LEGACY_BOOKMARKS) return undefined
  return storage
}
