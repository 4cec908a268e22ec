/**
 * mod_disco: service discovery (XEP-0030) of the server (its identity and
 * every module's features, with XEP-0157 contact addresses, announced as
 * XEP-0115 caps in the stream features) and of accounts
 * (`account/registered`, and the identities, features and items modules
 * declare), the latter only to the account itself and to contacts allowed
 * its presence.
 */
import {capsVer} from '../caps.js'
import {NS} from '../../xml/namespaces.js'
import {errorReply, iqResult} from '../stanza.js'
import {type Element, x} from '../../xml/element.js'
import type {IqRequest, ModuleContext, ServerModule} from './types.js'

/** The node of the server's entity capabilities (XEP-0115 §4): the software's URI. */
const CAPS_NODE = 'https://github.com/xmppctl/xmppctl'
/** XEP-0157's FORM_TYPE. */
const SERVER_INFO = 'http://jabber.org/network/serverinfo'
const DATA_FORMS = 'jabber:x:data'

export interface DiscoOptions {
  /** XEP-0157 fields (abuse-addresses, admin-addresses, …) and their URIs. */
  serverInfo: ReadonlyArray<{name: string; urls: readonly string[]}>
}

export function createDiscoModule(context: ModuleContext, options: DiscoOptions): ServerModule {
  /** Whether the sender may learn about this account: no answer reveals that an account exists to a stranger. */
  const visible = async ({own, account, sender}: IqRequest) => own || (account !== undefined && (await context.presenceAllowed(account, sender.bareJid)))

  /** The server's disco#info: the same for every host, and fixed once the modules are (they are fixed at start). */
  const serverInfo = (): Element => {
    const result = x('query', NS.discoInfo)
    result.c('identity', {category: 'server', type: 'im', name: 'xmppctl'})
    for (const feature of context.features('server')) result.c('feature', {var: feature})
    if (options.serverInfo.length > 0) {
      const form = result.c('x', {type: 'result'}, DATA_FORMS)
      form.c('field', {var: 'FORM_TYPE', type: 'hidden'}).c('value').append(SERVER_INFO)
      for (const {name, urls} of options.serverInfo) {
        const field = form.c('field', {var: name})
        for (const url of urls) field.c('value').append(url)
      }
    }

    return result
  }

  let caps: {ver: string; node: string} | undefined
  /** XEP-0115 §6.3: the server's caps, computed on first use, once every module has declared its features. */
  const serverCaps = (): {ver: string; node: string} => {
    caps ??= {ver: capsVer(serverInfo(), 'sha-1')!, node: CAPS_NODE}
    return caps
  }

  const info = async (request: IqRequest): Promise<void> => {
    const {sender, stanza, query, account, domain} = request
    const node = query.attrs.node
    if (account === undefined) {
      // §6.2: a query for node#ver of the server's own caps is answered as the plain query is.
      if (node !== undefined && node !== `${serverCaps().node}#${serverCaps().ver}`) return sender.send(errorReply(stanza, 'item-not-found', domain))
      const result = serverInfo()
      if (node !== undefined) result.attrs.node = node
      return sender.send(iqResult(stanza, domain, result))
    }

    if (node !== undefined) {
      // A node nobody serves, or one the requester may not see, looks the same (XEP-0060 §5.3).
      const nodeInfo = await context.accountNodeInfo(account, node, sender.bareJid)
      if (!nodeInfo) return sender.send(errorReply(stanza, 'item-not-found', request.own ? undefined : account.bare))
      return sender.send(iqResult(stanza, request.own ? undefined : account.bare, x('query', NS.discoInfo, {node}, ...nodeInfo)))
    }

    const result = x('query', NS.discoInfo)
    if (!(await visible(request))) return sender.send(errorReply(stanza, 'service-unavailable', account.bare))
    result.c('identity', {category: 'account', type: 'registered'})
    for (const identity of context.accountIdentities()) result.c('identity', identity)
    for (const feature of context.features('account')) result.c('feature', {var: feature})
    sender.send(iqResult(stanza, request.own ? undefined : account.bare, result))
  }

  const items = async (request: IqRequest): Promise<void> => {
    const {sender, stanza, query, account, domain} = request
    if (query.attrs.node !== undefined) return sender.send(errorReply(stanza, 'item-not-found', domain))
    // The server's items are the services it hosts on domains of their own (XEP-0030 §4.1: rooms, upload).
    if (account === undefined) return sender.send(iqResult(stanza, domain, x('query', NS.discoItems, {}, ...context.serviceDomains(domain).map((jid) => x('item', NS.discoItems, {jid})))))
    if (!(await visible(request))) return sender.send(errorReply(stanza, 'service-unavailable', account.bare))
    const result = x('query', NS.discoItems, {}, ...(await context.accountItems(account, sender.bareJid)))
    sender.send(iqResult(stanza, request.own ? undefined : account.bare, result))
  }

  return {
    name: 'mod_disco',
    streamFeatures: () => [x('c', NS.caps, {hash: 'sha-1', node: serverCaps().node, ver: serverCaps().ver})],
    features: [NS.discoInfo, NS.discoItems],
    accountFeatures: [NS.discoInfo, NS.discoItems],
    iq: [
      {ns: NS.discoInfo, name: 'query', types: ['get'], to: ['server', 'account'], remote: true, handle: info},
      {ns: NS.discoItems, name: 'query', types: ['get'], to: ['server', 'account'], remote: true, handle: items},
    ],
  }
}
