/** mod_ping: XMPP ping (XEP-0199 §4.2) to the server, or to the user's own account. */
import {NS} from '../../xml/namespaces.js'
import {iqResult} from '../stanza.js'
import type {ServerModule} from './types.js'

export function createPingModule(): ServerModule {
  return {
    name: 'mod_ping',
    features: [NS.ping],
    iq: [{ns: NS.ping, name: 'ping', types: ['get'], to: ['server', 'own'], remote: true, handle: ({sender, stanza, own, domain}) => sender.send(iqResult(stanza, own ? undefined : domain))}],
  }
}
