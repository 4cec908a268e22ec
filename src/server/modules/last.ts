/**
 * mod_last: last activity (XEP-0012). To the server: its uptime (§5). To an
 * account's bare JID: 0 while it has an available resource, otherwise the
 * seconds since it was last available and the status it left with (§4);
 * only to the account itself and to contacts allowed its presence.
 */
import {NS} from '../../xml/namespaces.js'
import {errorReply, iqResult} from '../stanza.js'
import {x} from '../../xml/element.js'
import type {IqRequest, ModuleContext, ServerModule} from './types.js'

export function createLastModule(context: ModuleContext): ServerModule {
  const {router, lastActivity} = context
  const seconds = (since: number) => String(Math.max(0, Math.floor((Date.now() - since) / 1000)))

  const query = async ({sender, stanza, account, own, domain}: IqRequest): Promise<void> => {
    if (account === undefined) return sender.send(iqResult(stanza, domain, x('query', NS.last, {seconds: seconds(context.startedAt())})))
    const from = own ? undefined : account.bare
    if (!own && !(await context.presenceAllowed(account, sender.bareJid))) return sender.send(errorReply(stanza, 'forbidden', account.bare))
    if (router.available(account.bare).length > 0) return sender.send(iqResult(stanza, from, x('query', NS.last, {seconds: '0'})))
    const last = await lastActivity.getLastActivity(account.host, account.username)
    if (!last) return sender.send(errorReply(stanza, 'service-unavailable', account.bare))
    sender.send(iqResult(stanza, from, x('query', NS.last, {seconds: seconds(last.at.getTime())}, last.status || undefined)))
  }

  return {
    name: 'mod_last',
    features: [NS.last],
    iq: [{ns: NS.last, name: 'query', types: ['get'], to: ['server', 'account'], remote: true, handle: query}],

    async becameUnavailable(session, account, presence) {
      if (router.available(account.bare).some((other) => other !== session)) return
      await lastActivity.setLastActivity(account.host, account.username, new Date(), presence.getChildText('status') ?? '')
    },
  }
}
