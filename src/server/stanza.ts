/** Builders for the error elements of RFC 6120 §4.9 (streams) and §8.3 (stanzas). */
import {NS} from '../xml/namespaces.js'
import {Element, x} from '../xml/element.js'

export type StreamErrorCondition =
  | 'bad-format'
  | 'conflict'
  | 'connection-timeout'
  | 'host-unknown'
  | 'improper-addressing'
  | 'invalid-from'
  | 'internal-server-error'
  | 'invalid-namespace'
  | 'invalid-xml'
  | 'not-authorized'
  | 'not-well-formed'
  | 'policy-violation'
  | 'reset'
  | 'resource-constraint'
  | 'restricted-xml'
  | 'system-shutdown'
  | 'undefined-condition'
  | 'unsupported-encoding'
  | 'unsupported-stanza-type'
  | 'unsupported-version'

export type StanzaErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait'

export type StanzaErrorCondition =
  | 'bad-request'
  | 'conflict'
  | 'feature-not-implemented'
  | 'forbidden'
  | 'internal-server-error'
  | 'item-not-found'
  | 'jid-malformed'
  | 'not-acceptable'
  | 'not-allowed'
  | 'not-authorized'
  | 'policy-violation'
  | 'recipient-unavailable'
  | 'registration-required'
  | 'remote-server-not-found'
  | 'remote-server-timeout'
  | 'resource-constraint'
  | 'service-unavailable'
  | 'undefined-condition'
  | 'unexpected-request'

/** `<stream:error>` as text; the stream prefix is the one our header declares. */
export function streamError(condition: StreamErrorCondition, text?: string): string {
  const body = x(condition, NS.streams).toString(NS.client)
  const description = text ? x('text', NS.streams, {'xml:lang': 'en'}, text).toString(NS.client) : ''
  return `<stream:error>${body}${description}</stream:error>`
}

const DEFAULT_TYPE: Partial<Record<StanzaErrorCondition, StanzaErrorType>> = {
  'bad-request': 'modify',
  'jid-malformed': 'modify',
  'not-acceptable': 'modify',
  'not-authorized': 'auth',
  forbidden: 'auth',
  'resource-constraint': 'wait',
  'recipient-unavailable': 'wait',
  'registration-required': 'auth',
  'remote-server-timeout': 'wait',
}

/**
 * The error reply to `stanza` (RFC 6120 §8.3): addressed back to its
 * sender, from where it was sent to (or `from` when it had no `to`).
 */
export function errorReply(stanza: Element, condition: StanzaErrorCondition, from?: string, text?: string): Element {
  const reply = new Element(stanza.name, NS.client, {
    type: 'error',
    id: stanza.attrs.id,
    from: stanza.attrs.to ?? from,
    to: stanza.attrs.from,
  })
  const error = reply.c('error', {type: DEFAULT_TYPE[condition] ?? 'cancel'})
  error.c(condition, {}, NS.stanzas)
  if (text) error.c('text', {'xml:lang': 'en'}, NS.stanzas).append(text)
  return reply
}

export function iqResult(stanza: Element, from: string | undefined, ...children: Element[]): Element {
  return x('iq', NS.client, {type: 'result', id: stanza.attrs.id, from: stanza.attrs.to ?? from, to: stanza.attrs.from}, ...children)
}

/** <sent/> and <received/> of any carbons version: old clients still read urn:xmpp:carbons:1. */
const ANY_CARBONS = /^urn:xmpp:carbons:\d+$/

/** Whether the message carries a XEP-0280 carbon wrapper (<sent/>, <received/>) as one of its children. */
export function isCarbon(stanza: Element): boolean {
  return stanza.elements().some((child) => (child.name === 'sent' || child.name === 'received') && ANY_CARBONS.test(child.ns))
}
