/**
 * mod_client_state: Client State Indication (XEP-0352). The session holds
 * stanzas for a client that says it is inactive; this module decides which
 * may wait (§6 leaves that to the server), with ejabberd's options: presence
 * broadcasts and messages that carry nothing but a chat state (XEP-0085).
 * Messages with a body, receipts, carbons, iq and subscription requests
 * never wait.
 */
import {CSI_NS} from '../client-state.js'
import {NS} from '../../xml/namespaces.js'
import {x} from '../../xml/element.js'
import type {Element} from '../../xml/element.js'
import type {ServerModule} from './types.js'

const CHAT_STATES = 'http://jabber.org/protocol/chatstates'

export interface ClientStateOptions {
  queuePresence: boolean
  queueChatStates: boolean
}

/** A message whose only payload is a chat state (and perhaps its thread): "is typing" can wait, a body cannot. */
function chatStateOnly(stanza: Element): boolean {
  const type = stanza.attrs.type
  if (type === 'error' || type === 'groupchat') return false
  const children = stanza.elements()
  return children.some((child) => child.ns === CHAT_STATES) && children.every((child) => child.ns === CHAT_STATES || (child.name === 'thread' && child.ns === NS.client))
}

export function createClientStateModule(options: ClientStateOptions): ServerModule {
  return {
    name: 'mod_client_state',
    streamFeatures: () => [x('csi', CSI_NS)],
    canWait(stanza) {
      if (stanza.name === 'presence') {
        const type = stanza.attrs.type
        return options.queuePresence && (type === undefined || type === 'unavailable')
      }

      return options.queueChatStates && stanza.name === 'message' && chatStateOnly(stanza)
    },
  }
}
