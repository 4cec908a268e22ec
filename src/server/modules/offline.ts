/**
 * mod_offline: messages for an account with no resource able to take them
 * are stored (RFC 6121 §8.5.2.2.1) up to a quota, and delivered at the next
 * initial presence with non-negative priority, paced by what the client reads.
 */
import type {C2sSession} from '../c2s.js'
import type {Account} from '../jid.js'
import {NS} from '../../xml/namespaces.js'
import {PerKeyQueue} from '../serial.js'
import {errorReply, isCarbon} from '../stanza.js'
import {x} from '../../xml/element.js'
import type {ModuleContext, ServerModule} from './types.js'

/** Offline messages read from the store at a time, so a large backlog is never held whole. */
const OFFLINE_PAGE = 50

export interface OfflineOptions {
  /** Messages kept per account. */
  limit: number
}

export function createOfflineModule(context: ModuleContext, options: OfflineOptions): ServerModule {
  const {offline, logger} = context
  /** Stores of one account's messages, one at a time. */
  const stores = new PerKeyQueue()

  /**
   * RFC 6121 §8.5.2.1.1 offline delivery, paced by what the client reads: a
   * page at a time from the store, each message written only once the
   * client has drained what came before, and deleted only once it reached
   * the connection. A client that leaves midway finds the rest next time.
   */
  const deliver = async (session: C2sSession, account: Account): Promise<void> => {
    let afterId = 0
    for (;;) {
      const page = await offline.getOfflineMessages(account.host, account.username, {afterId, limit: OFFLINE_PAGE})
      if (page.length === 0) return
      const writes: Array<Promise<number | undefined>> = []
      for (const message of page) {
        if (!session.available || !(await session.drained())) break
        writes.push(session.sendConfirmed(message.stanza).then((written) => (written ? message.id : undefined)))
      }

      const delivered = (await Promise.all(writes)).filter((id) => id !== undefined)
      if (delivered.length > 0) await offline.deleteOfflineMessages(account.host, account.username, delivered)
      if (delivered.length < page.length) return
      afterId = page.at(-1)!.id
    }
  }

  return {
    name: 'mod_offline',
    features: ['msgoffline'],

    async messageUndelivered(stanza, account, sender) {
      const type = stanza.attrs.type ?? 'normal'
      // §8.5.2.2.1: headlines are discarded, errors never bounce; neither is stored.
      if (type === 'headline' || type === 'error' || type === 'groupchat') return false
      // A carbon copies a message to the resources that were online (XEP-0280 §6); the account's own
      // copy was delivered or stored. One that its resource never took (it ended, or its node died)
      // would come back later as a second copy of that message.
      if (isCarbon(stanza)) return false
      const copy = stanza.clone()
      // A message that was already stored once (then never acknowledged, XEP-0198) keeps its first stamp.
      if (!copy.getChild('delay', NS.delay)) copy.append(x('delay', NS.delay, {from: account.host, stamp: new Date().toISOString()}))
      // One account's messages are stored in the order they came here, each after the one before (their ids give the delivery order).
      let stored = false
      await stores.run(account.bare, async () => {
        stored = await offline.storeOfflineMessage(account.host, account.username, copy.toString(NS.client), options.limit)
      })
      if (!stored) sender.send(errorReply(stanza, 'service-unavailable'))
      return true
    },

    async initialPresence(session, account) {
      // Offline delivery runs beside the session's other stanzas, once at a time per session.
      if (session.priority < 0 || session.offlineDelivery) return
      session.offlineDelivery = deliver(session, account)
        .catch((error: unknown) => logger.error(`offline delivery to ${session.fullJid}: ${error instanceof Error ? error.message : String(error)}`))
        .finally(() => (session.offlineDelivery = undefined))
    },
  }
}
