/**
 * How a client's stream travels. Over TCP it is one long XML document (RFC
 * 6120 §4); over WebSocket every message is one whole element and the stream
 * header is <open/> (RFC 7395 §3.3); over BOSH elements ride in <body/>
 * wrappers (XEP-0206). A session speaks through a Framing so that the same
 * stream, SASL and binding code serves all three.
 */
import {NS} from '../xml/namespaces.js'
import {escapeAttribute} from '../xml/element.js'
import {type ParserEvent, type ParserLimits, type StreamHeader, XmppStreamParser} from '../xml/parser.js'

/** Reads what the client sends, one chunk (TCP bytes, a WebSocket message, a parsed BOSH body) at a time. */
export interface StreamReader {
  write(chunk: Buffer): ParserEvent[]
}

export interface Framing {
  /** A reader for a new stream (at the start and after each restart, RFC 6120 §4.3.3). */
  reader(limits: ParserLimits): StreamReader
  /** The stream header the server sends. */
  header(from: string, id: string): string
  /** The end of the stream. */
  footer(): string
  /** An element serialised inside a jabber:client stream, as this framing sends it. */
  element(text: string): string
}

const STREAM_HEADER_PREFIX = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"

/** RFC 6120 over TCP. */
export const STREAM_FRAMING: Framing = {
  reader: (limits) => new XmppStreamParser(limits),
  header: (from, id) => `${STREAM_HEADER_PREFIX} id='${id}' from='${escapeAttribute(from)}' version='1.0' xml:lang='en'>`,
  footer: () => '</stream:stream>',
  element: (text) => text,
}

export const FRAMING_NS = 'urn:ietf:params:xml:ns:xmpp-framing'

/**
 * An element that stands alone must declare its namespaces (RFC 7395 §3.3.3,
 * XEP-0206 §4): a stanza inherits jabber:client from nothing, and a
 * stream-prefixed element needs its prefix declared. Element.toString writes
 * xmlns first when it differs from the parent's, so its absence right after
 * the name means jabber:client.
 */
export function standalone(text: string): string {
  const match = /^<([A-Za-z_][\w.-]*)(:[\w.-]+)?/.exec(text)
  if (!match) return text
  const rest = text.slice(match[0].length)
  if (match[2] !== undefined) return match[1] === 'stream' && !rest.startsWith(' xmlns:stream=') ? `${match[0]} xmlns:stream='${NS.stream}'${rest}` : text
  return rest.startsWith(" xmlns='") ? text : `${match[0]} xmlns='${NS.client}'${rest}`
}

/** A stream header as the TCP parser reports it, made from an <open/> or a BOSH body's attributes. */
export function syntheticHeader(attrs: Record<string, string>): StreamHeader {
  return {qname: 'stream:stream', local: 'stream', ns: NS.stream, attrs, declarations: {'': NS.client, stream: NS.stream}}
}

/**
 * Parses whole elements that arrive one by one, each as if it were the next
 * top-level element of a jabber:client stream, with the stream's limits.
 */
export class ElementReader {
  private readonly parser: XmppStreamParser

  constructor(limits: ParserLimits) {
    this.parser = new XmppStreamParser(limits)
    this.parser.write(Buffer.from(`<stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}'>`))
  }

  /** The elements of `bytes`; an error event when it is not whole, well-formed elements. */
  read(bytes: Buffer, what: string): ParserEvent[] {
    const events = this.parser.write(bytes)
    if (events.length === 0 && bytes.toString('utf8').trim() !== '') {
      return [{type: 'error', condition: 'invalid-xml', text: `each ${what} must hold whole elements`}]
    }

    return events
  }
}

/** RFC 7395: one element per WebSocket message, <open/> and <close/> for the stream's start and end. */
export const WEBSOCKET_FRAMING: Framing = {
  reader(limits) {
    const elements = new ElementReader(limits)
    return {
      write(chunk): ParserEvent[] {
        // §3.3.3: a message is one XML document; a declaration may precede its element.
        const text = chunk.toString('utf8').replace(/^\s*<\?xml[^>]*\?>/, '')
        return elements.read(Buffer.from(text), 'WebSocket message (RFC 7395 §3.3.3)').map((event) => {
          if (event.type !== 'stanza' || event.element.ns !== FRAMING_NS) return event
          // §3.3.2: <open/> is the stream header; §3.6: <close/> ends the stream.
          if (event.element.name === 'open') return {type: 'stream-start', header: syntheticHeader(event.element.attrs)}
          if (event.element.name === 'close') return {type: 'stream-end'}
          return {type: 'error', condition: 'invalid-xml', text: `<${event.element.name}/> is not part of RFC 7395 framing`}
        })
      },
    }
  },
  header: (from, id) => `<open xmlns='${FRAMING_NS}' id='${id}' from='${escapeAttribute(from)}' version='1.0' xml:lang='en'/>`,
  footer: () => `<close xmlns='${FRAMING_NS}'/>`,
  element: standalone,
}
