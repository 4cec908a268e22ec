/**
 * The streaming XML parser of one XMPP stream (RFC 6120 §4, §11), on saxes.
 *
 * XMPP allows only a restricted subset of XML (RFC 6120 §11.1): no comments,
 * processing instructions, DTDs or entity references other than the five
 * predefined ones and character references. Anything else ends the stream
 * with `restricted-xml`; bytes that are not UTF-8 or XML that is not
 * well-formed with `not-well-formed`. Memory is bounded: the bytes of one
 * top-level stanza (saxes buffers text and attribute values until they end)
 * and the nesting depth are limited, `policy-violation` beyond.
 */
import {SaxesParser, type SaxesTagNS} from 'saxes'

import {Element} from './element.js'

export type StreamErrorCondition =
  | 'invalid-xml'
  | 'not-well-formed'
  | 'restricted-xml'
  | 'policy-violation'
  | 'unsupported-encoding'

export interface ParserLimits {
  /** Bytes of one top-level element, header included (default 256 KiB). */
  maxStanzaBytes: number
  /** Element nesting below the stream root (default 64). */
  maxDepth: number
}

export const DEFAULT_LIMITS: ParserLimits = {maxStanzaBytes: 256 * 1024, maxDepth: 64}

export interface StreamHeader {
  /** Qualified name as written, e.g. `stream:stream`. */
  qname: string
  local: string
  ns: string
  attrs: Record<string, string>
  /** Namespace declarations on the header: prefix ('' for the default) → URI. */
  declarations: Record<string, string>
}

export type ParserEvent =
  | {type: 'stream-start'; header: StreamHeader}
  | {type: 'stanza'; element: Element}
  | {type: 'stream-end'}
  | {type: 'error'; condition: StreamErrorCondition; text: string}

/** saxes feeds itself at most this many characters before we check the stanza size. */
const PIECE = 16 * 1024

const XMLNS_URI = 'http://www.w3.org/2000/xmlns/'
const STREAMS_URI = 'http://etherx.jabber.org/streams'
/** saxes 6's states for character data and an entity within it (saxes is pinned, see package.json). */
const SAXES_TEXT = 13
const SAXES_ENTITY = 14

/**
 * Feed bytes with `write`; it returns the events they completed, in order.
 * After an `error` event the parser is dead and returns nothing more.
 */
export class XmppStreamParser {
  private limits: ParserLimits
  private readonly decoder = new TextDecoder('utf-8', {fatal: true})
  private readonly sax: SaxesParser<{xmlns: true; position: true; defaultXMLVersion: '1.0'; forceXMLVersion: true}>
  private events: ParserEvent[] = []
  private failed = false
  private depth = 0
  private stack: Element[] = []
  /** Bytes fed since the last top-level boundary (stream header or a stanza's end). */
  private bytesSinceBoundary = 0
  private deferred: ParserEvent | undefined
  /** The piece saxes is parsing, where it starts in saxes' count, and the latest boundary in it. */
  private piece = ''
  private pieceStart = 0
  private boundaryOffset: number | undefined

  constructor(limits: Partial<ParserLimits> = {}) {
    this.limits = {...DEFAULT_LIMITS, ...limits}
    // XMPP is XML 1.0 (RFC 6120 §11.6): a `version='1.1'` declaration must not
    // let control characters such as &#x1; in, since they could not be written
    // to any other stream.
    const sax = new SaxesParser({xmlns: true, position: true, defaultXMLVersion: '1.0', forceXMLVersion: true})
    this.sax = sax
    sax.on('error', (error) => {
      const message = error.message.replace(/^[^:]*:\d+:\d+: /, '')
      if (/undefined entity|disallowed character in entity/.test(message)) this.fail('restricted-xml', 'entity references other than the predefined ones are not allowed')
      else this.fail('not-well-formed', message)
    })
    sax.on('doctype', () => this.fail('restricted-xml', 'a DTD is not allowed in XMPP (RFC 6120 §11.1)'))
    sax.on('processinginstruction', () => this.fail('restricted-xml', 'processing instructions are not allowed in XMPP (RFC 6120 §11.1)'))
    sax.on('comment', () => this.fail('restricted-xml', 'comments are not allowed in XMPP (RFC 6120 §11.1)'))
    sax.on('xmldecl', (decl) => {
      if (decl.encoding !== undefined && decl.encoding.toUpperCase() !== 'UTF-8') this.fail('unsupported-encoding', 'the stream must be UTF-8')
    })
    sax.on('opentagstart', () => {
      if (this.failed) return
      this.flush()
      this.depth++
      if (this.depth > this.limits.maxDepth + 1) this.fail('policy-violation', `elements nested deeper than ${this.limits.maxDepth} levels`)
    })
    sax.on('opentag', (tag) => this.openTag(tag))
    sax.on('closetag', () => this.closeTag())
    sax.on('text', (text) => this.text(text))
    sax.on('cdata', (text) => this.text(text))
  }

  /** New limits for what follows (an s2s stream authenticated by dialback keeps its stream). */
  setLimits(limits: Partial<ParserLimits>): void {
    this.limits = {...this.limits, ...limits}
  }

  get dead(): boolean {
    return this.failed
  }

  write(bytes: Buffer | Uint8Array): ParserEvent[] {
    if (this.failed) return []
    this.events = []
    try {
      this.feed(bytes)
    } finally {
      // Between writes the parser holds no stanza and no text: an idle session keeps none of what it last received.
      this.piece = ''
      ;(this.sax as unknown as {chunk: string}).chunk = ''
    }

    const events = this.events
    this.events = []
    return events
  }

  private feed(bytes: Buffer | Uint8Array): void {
    let text: string
    try {
      text = this.decoder.decode(bytes, {stream: true})
    } catch {
      this.fail('not-well-formed', 'the stream is not valid UTF-8')
      return
    }

    for (let offset = 0; offset < text.length && !this.failed; offset += PIECE) {
      this.piece = text.slice(offset, offset + PIECE)
      // saxes' own count of characters consumed before this piece (it may carry one over).
      this.pieceStart = (this.sax as unknown as {chunkPosition: number}).chunkPosition
      this.boundaryOffset = undefined
      this.sax.write(this.piece)
      if (this.failed) break
      this.flush()
      this.pendingTopLevelText()
      if (this.failed) break
      this.bytesSinceBoundary =
        this.boundaryOffset === undefined
          ? this.bytesSinceBoundary + Buffer.byteLength(this.piece)
          : Buffer.byteLength(this.piece.slice(this.boundaryOffset))
      if (this.bytesSinceBoundary > this.limits.maxStanzaBytes) this.tooLarge()
    }
  }

  /**
   * Marks a top-level boundary at saxes' current position; false (and the
   * stream failed) when the element that ends here was larger than allowed.
   */
  private boundary(): boolean {
    const offset = Math.min(this.piece.length, Math.max(0, this.sax.position - this.pieceStart))
    const size =
      this.boundaryOffset === undefined
        ? this.bytesSinceBoundary + Buffer.byteLength(this.piece.slice(0, offset))
        : Buffer.byteLength(this.piece.slice(this.boundaryOffset, offset))
    this.boundaryOffset = offset
    if (size <= this.limits.maxStanzaBytes) return true
    this.tooLarge()
    return false
  }

  /**
   * saxes holds text until the next tag; text between stanzas that is not
   * whitespace is refused now rather than when (if ever) a tag follows.
   */
  private pendingTopLevelText(): void {
    const sax = this.sax as unknown as {text: string; state: number}
    // saxes keeps attribute values in `text` too: only its text states (S_TEXT, S_ENTITY) hold character data.
    if (this.depth !== 1 || (sax.state !== SAXES_TEXT && sax.state !== SAXES_ENTITY)) return
    if (sax.text.trim() !== '') this.fail('not-well-formed', 'text between stanzas')
  }

  private tooLarge(): void {
    this.fail('policy-violation', `a stanza larger than ${this.limits.maxStanzaBytes} bytes`)
  }

  private flush(): void {
    if (this.deferred) this.events.push(this.deferred)
    this.deferred = undefined
  }

  private fail(condition: StreamErrorCondition, text: string): void {
    if (this.failed) return
    this.deferred = undefined
    this.failed = true
    this.stack = []
    this.events.push({type: 'error', condition, text})
  }

  private openTag(tag: SaxesTagNS): void {
    if (this.failed) return
    this.flush()
    if (this.depth === 1) {
      const attrs: Record<string, string> = {}
      const declarations: Record<string, string> = {}
      for (const attribute of Object.values(tag.attributes)) {
        if (attribute.uri === XMLNS_URI) declarations[attribute.prefix === 'xmlns' ? attribute.local : ''] = attribute.value
        else attrs[attribute.name] = attribute.value
      }

      if (!this.boundary()) return
      this.events.push({type: 'stream-start', header: {qname: tag.name, local: tag.local, ns: tag.uri, attrs, declarations}})
      return
    }

    if (this.depth === 2 && tag.local === 'stream' && tag.uri === STREAMS_URI) {
      // RFC 6120 §4.9.3.8: a stream header where a stanza belongs.
      this.fail('invalid-xml', 'a stream header inside an open stream')
      return
    }

    const attrs: Record<string, string> = {}
    for (const attribute of Object.values(tag.attributes)) {
      // The default namespace becomes the element's `ns`; prefixed declarations stay, for prefixed attributes.
      if (attribute.name === 'xmlns') continue
      attrs[attribute.name] = attribute.value
    }

    // A prefixed attribute whose prefix was declared outside the stanza (on the
    // stream header) gets the declaration on its own element: the stanza is
    // written to other streams, where that prefix means nothing.
    for (const attribute of Object.values(tag.attributes)) {
      const {prefix} = attribute
      if (prefix === '' || prefix === 'xmlns' || prefix === 'xml') continue
      const declaration = `xmlns:${prefix}`
      if (attrs[declaration] === undefined && !this.stack.some((open) => open.attrs[declaration] === attribute.uri)) attrs[declaration] = attribute.uri
    }

    const element = new Element(tag.local, tag.uri, attrs)
    this.stack.at(-1)?.children.push(element)
    this.stack.push(element)
  }

  private closeTag(): void {
    if (this.failed) return
    this.flush()
    this.depth--
    if (this.depth === 0) {
      this.events.push({type: 'stream-end'})
      return
    }

    const element = this.stack.pop()
    if (this.depth === 1 && element) {
      // saxes reports a mismatched end tag after calling us: hold the stanza until the next event.
      if (this.boundary()) this.deferred = {type: 'stanza', element}
    }
  }

  private text(text: string): void {
    if (this.failed) return
    this.flush()
    const parent = this.stack.at(-1)
    if (parent) {
      const last = parent.children.at(-1)
      if (typeof last === 'string') parent.children[parent.children.length - 1] = last + text
      else parent.children.push(text)
    } else if (this.depth === 1) {
      // Whitespace between stanzas (keepalives) is a boundary; other text there is not XMPP.
      if (text.trim() !== '') this.fail('not-well-formed', 'text between stanzas')
      else this.boundary()
    }
  }
}

/**
 * One element from its serialised text, as a store keeps it (Element's
 * toString with no namespace in scope, or with `inheritedNs` in scope: a
 * stanza as a client stream carries it, say); undefined unless the text is exactly
 * one well-formed element. The rules of a stream apply: it sits where it sat
 * in the stanza it came from, below a stanza, so a stream header's name is no
 * different from any other.
 */
export function parseElement(text: string, inheritedNs = 'urn:xmppctl:store'): Element | undefined {
  const open = `<stream xmlns='http://etherx.jabber.org/streams'><stored xmlns='${inheritedNs}'>`
  const bytes = Buffer.from(`${text}</stored>`)
  const parser = new XmppStreamParser({maxStanzaBytes: Buffer.byteLength(open) + bytes.length})
  const events = [...parser.write(Buffer.from(open)), ...parser.write(bytes)]
  const stanzas = events.filter((event) => event.type === 'stanza')
  if (events.some((event) => event.type === 'error') || stanzas.length !== 1) return undefined
  const {children} = stanzas[0].element
  return children.length === 1 && typeof children[0] !== 'string' ? children[0] : undefined
}
