/**
 * mod_private: private XML storage (XEP-0049), where legacy clients keep
 * XEP-0048 bookmarks. Only the account itself reads and writes it (anyone
 * else: forbidden, whether or not the account exists). One item per
 * namespace and element name; a set replaces it, a set of an empty element
 * removes it, and a get of an item never stored answers the element as asked.
 */
import {StoreError} from '../../errors.js'
import type {PrivateItem} from '../../store/private-store.js'
import {NS} from '../../xml/namespaces.js'
import {errorReply, iqResult} from '../stanza.js'
import {type Element, detached, hasContent, x} from '../../xml/element.js'
import {parseElement} from '../../xml/parser.js'
import type {IqRequest, ModuleContext, ServerModule} from './types.js'

export interface PrivateOptions {
  /** Bytes of one serialised item. */
  maxSize: number
  /** Bytes of all of an account's items together. */
  maxTotalSize: number
}

/** XEP-0049 §2.3's reserved namespaces, which a server may refuse with not-acceptable. */
function reserved(ns: string): boolean {
  return ns.startsWith('jabber:') || ns.startsWith('http://jabber.org/') || ns === NS.vcard
}

/** Why the query's children cannot be items, or undefined when they can. */
function invalid(items: readonly Element[]): {condition: 'bad-request' | 'not-acceptable'; text: string} | undefined {
  // §2.3: at least one child, each in a namespace of its own.
  if (items.length === 0) return {condition: 'bad-request', text: 'the query needs a child element'}
  if (items.some((item) => item.ns === NS.private)) return {condition: 'bad-request', text: 'each child needs a namespace of its own'}
  const refused = items.find((item) => reserved(item.ns))
  if (refused) return {condition: 'not-acceptable', text: `the namespace ${refused.ns} is reserved`}
  return undefined
}

export function createPrivateModule(context: ModuleContext, options: PrivateOptions): ServerModule {
  const {privateStorage} = context

  const query = async (request: IqRequest): Promise<void> => {
    const {session, stanza, query, account, own} = request
    if (!own) return session.send(errorReply(stanza, 'forbidden', account!.bare))
    const items = query.elements()
    const problem = invalid(items)
    if (problem) return session.send(errorReply(stanza, problem.condition, undefined, problem.text))
    const {host, username} = account!
    if (stanza.attrs.type === 'get') {
      const stored = await privateStorage.getPrivateItems(host, username, items)
      const answer = x('query', NS.private)
      for (const item of items) {
        const found = stored.find((candidate) => candidate.ns === item.ns && candidate.name === item.name)
        const element = found ? parseElement(found.xml) : item
        if (!element) throw new StoreError('store-corrupt', `the private item ${item.name} in ${item.ns} of ${account!.bare} is not well-formed XML`, 'store it again from a client')
        answer.append(element)
      }

      return session.send(iqResult(stanza, undefined, answer))
    }

    const puts: PrivateItem[] = []
    for (const item of items) {
      if (puts.some((put) => put.ns === item.ns && put.name === item.name)) return session.send(errorReply(stanza, 'bad-request', undefined, `two items named ${item.name} in ${item.ns}`))
      const xml = hasContent(item) ? detached(item, [query, stanza]).toString() : undefined
      if (xml !== undefined && Buffer.byteLength(xml) > options.maxSize) {
        return session.send(errorReply(stanza, 'not-acceptable', undefined, `the item ${item.name} in ${item.ns} is larger than ${options.maxSize} bytes`))
      }

      puts.push({ns: item.ns, name: item.name, xml})
    }

    const result = await privateStorage.putPrivateItems(host, username, puts, options.maxTotalSize)
    if (result === 'storage-full') return session.send(errorReply(stanza, 'resource-constraint', undefined, `private storage is limited to ${options.maxTotalSize} bytes per account`))
    if (result === 'no-account') return session.send(errorReply(stanza, 'not-allowed', undefined, 'this account no longer exists'))
    session.send(iqResult(stanza, undefined))
  }

  return {
    name: 'mod_private',
    // On the server's JID, as Prosody does; XEP-0049 names no feature.
    features: [NS.private],
    iq: [{ns: NS.private, name: 'query', types: ['get', 'set'], to: ['account'], handle: query}],
  }
}
