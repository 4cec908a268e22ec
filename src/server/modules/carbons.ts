/**
 * mod_carbons: Message Carbons (XEP-0280). A session that enabled carbons
 * (§4) gets a copy of each message eligible under §6.1 that another
 * resource of its account sent (<sent/>, §7), and of each one that reached
 * its account without reaching it (<received/>, §6): sent to another
 * resource's full JID, to the bare JID while it has a negative priority, or
 * stored offline. Only the server sends carbons: a client's message that
 * carries <sent/> or <received/> is refused (§11).
 */
import type {C2sSession} from '../c2s.js'
import {bareJid} from '../jid.js'
import {NS} from '../../xml/namespaces.js'
import {errorReply, iqResult, isCarbon} from '../stanza.js'
import {type Element, x} from '../../xml/element.js'
import type {IqRequest, ModuleContext, Sender, ServerModule} from './types.js'

type Direction = 'sent' | 'received'

/** §6.1's "payload elements typically used in IM": chat states (XEP-0085), receipts (XEP-0184), chat markers (XEP-0333). */
const IM_PAYLOADS = new Set(['http://jabber.org/protocol/chatstates', 'urn:xmpp:receipts', 'urn:xmpp:chat-markers:0'])
const MUC_USER = 'http://jabber.org/protocol/muc#user'
/** XEP-0249 direct invitations. */
const CONFERENCE = 'jabber:x:conference'

/** XEP-0280 §6.1's rules (announced as urn:xmpp:carbons:rules:0). */
function eligible(stanza: Element, direction: Direction): boolean {
  const type = stanza.attrs.type ?? 'normal'
  // §6.1 also copies the bounce of an eligible message, which needs tracking what was sent: errors are not copied.
  if (type === 'groupchat' || type === 'error') return false
  // §8 and XEP-0334 §4.2; a carbon is never copied again.
  if (stanza.getChild('private', NS.carbons) || stanza.getChild('no-copy', NS.hints) || isCarbon(stanza)) return false
  const mucUser = stanza.getChild('x', MUC_USER)
  if (mucUser?.getChild('invite', MUC_USER) || stanza.getChild('x', CONFERENCE)) return true
  // A private message from a room occupant, to a full JID: the room itself sends it to each joined resource.
  if (mucUser && direction === 'received' && stanza.attrs.to?.includes('/')) return false
  if (type === 'chat') return true
  if (type !== 'normal') return false
  return stanza.getChild('body', NS.client) !== undefined || stanza.elements().some((child) => IM_PAYLOADS.has(child.ns))
}

export function createCarbonsModule(context: ModuleContext): ServerModule {
  const {router} = context
  /** Messages whose <private/> was removed before delivery (§8): never copied. */
  const privateMessages = new WeakSet<Element>()

  const toggle = async ({session, stanza, query, own, domain}: IqRequest): Promise<void> => {
    // §10.1: enabling twice, or disabling twice, is no error.
    const enable = query.name === 'enable'
    if (session.carbons !== enable) {
      session.carbons = enable
      // In a cluster, the other nodes copy to this session too, from the moment the client has the result.
      await router.changed(session)
    }
    session.send(iqResult(stanza, own ? undefined : domain))
  }

  /** The `direction` carbon of `stanza` for each carbons-enabled session of `bare` not in `skip`, from `bare` to each (§6, §7). */
  const copy = (stanza: Element, direction: Direction, bare: string, skip: readonly C2sSession[], to: string): void => {
    const targets = router.all(bare).filter((session) => session.carbons && !skip.includes(session))
    if (targets.length === 0) return
    const original = stanza.clone()
    // A message without 'to' went to the sender's own account (RFC 6120 §10.3.1): the copy says so.
    original.attrs.to ??= to
    for (const target of targets) {
      target.send(x('message', NS.client, {from: bare, to: target.fullJid, type: stanza.attrs.type}, x(direction, NS.carbons, {}, x('forwarded', NS.forward, {}, original))))
    }
  }

  /** Carbons of a message `sender` sent to the account `recipient`, which `recipients` received as it was. */
  const carbons = (stanza: Element, sender: Sender, recipient: string, recipients: readonly C2sSession[]): void => {
    if (privateMessages.has(stanza)) return
    // Within one account every resource gets the message once: as itself, or as a sent carbon.
    const own = sender.bareJid === recipient
    const local = sender.localSession
    // Only a sender that is a client of this server has other resources here to copy to.
    if (local && eligible(stanza, 'sent')) copy(stanza, 'sent', sender.bareJid, own ? [local, ...recipients] : [local], recipient)
    if (!own && eligible(stanza, 'received')) copy(stanza, 'received', recipient, recipients, recipient)
  }

  return {
    name: 'mod_carbons',
    features: [NS.carbons, 'urn:xmpp:carbons:rules:0'],
    iq: [
      {ns: NS.carbons, name: 'enable', types: ['set'], to: ['own', 'server'], handle: toggle},
      {ns: NS.carbons, name: 'disable', types: ['set'], to: ['own', 'server'], handle: toggle},
    ],

    outbound(session, stanza, to) {
      if (stanza.name !== 'message') return false
      if (isCarbon(stanza)) {
        // §11: a client's carbon would pass for a copy of another resource's message with clients that check only the sender's bare JID.
        if (stanza.attrs.type !== 'error') session.send(errorReply(stanza, 'forbidden', undefined, 'only the server sends message carbons (<sent/>, <received/>)'))
        return true
      }

      const hidden = stanza.getChild('private', NS.carbons)
      // §8: the recipient's server SHOULD remove <private/>; for a local recipient that is this one.
      if (hidden && (to === undefined || context.isLocalHost(to.domain))) {
        stanza.children = stanza.children.filter((child) => child !== hidden)
        privateMessages.add(stanza)
      }

      return false
    },

    messageDelivered(stanza, sender, to, recipients) {
      carbons(stanza, sender, bareJid(to), recipients)
    },

    // Runs before mod_offline stores the message (index.ts): a message stored offline is copied too,
    // unless it was copied when it was first delivered.
    async messageUndelivered(stanza, account, sender, redirected) {
      if (!redirected) carbons(stanza, sender, account.bare, [])
      return false
    },
  }
}
