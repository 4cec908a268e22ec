/**
 * A bounded streaming XML reader over saxes: refuses DTDs (so no entity can
 * be declared, let alone expanded), processing instructions, and documents
 * deeper or with more bytes between two events than any real export has.
 */
import {createReadStream} from 'node:fs'
import {type SaxesAttributeNS, SaxesParser, type SaxesTagNS} from 'saxes'

/** Nesting deeper than this is not an export but an attack (or a bug). */
export const MAX_XML_DEPTH = 64
/** Bytes between two parser events: bounds a text node, an attribute, a tag. */
export const MAX_XML_TOKEN_BYTES = 16 * 1024 * 1024

export class XmlRefusal extends Error {}

export interface XmlHandlers {
  open(tag: SaxesTagNS, line: number, depth: number): void
  close(tag: SaxesTagNS, depth: number): void
  text(text: string, depth: number): void
}

/**
 * Feeds `file` through saxes chunk by chunk, calling the handlers; after each
 * chunk `drain()` is awaited so the caller can hand out what it collected.
 */
export async function* parseXmlFile<T>(file: string, handlers: XmlHandlers, drain: () => T[]): AsyncGenerator<T> {
  const parser = new SaxesParser({xmlns: true, position: true})
  let depth = 0
  let sinceEvent = 0
  let failure: Error | undefined
  const fail = (error: Error) => {
    failure ??= error
  }

  parser.on('opentag', (tag) => {
    sinceEvent = 0
    depth++
    if (depth > MAX_XML_DEPTH) fail(new XmlRefusal(`elements are nested deeper than ${MAX_XML_DEPTH}`))
    else handlers.open(tag as SaxesTagNS, parser.line, depth)
  })
  parser.on('closetag', (tag) => {
    sinceEvent = 0
    handlers.close(tag as SaxesTagNS, depth)
    depth--
  })
  parser.on('text', (text) => {
    sinceEvent = 0
    handlers.text(text, depth)
  })
  parser.on('cdata', (text) => {
    sinceEvent = 0
    handlers.text(text, depth)
  })
  // No 'error' handler: saxes then throws from write(), which is caught below.
  // (Each handler is a property of the parser; with a seventh, V8 made parsing 3x slower.)
  parser.on('doctype', () => fail(new XmlRefusal('the file has a DOCTYPE; DTDs and entity declarations are refused')))
  parser.on('processinginstruction', () => fail(new XmlRefusal('the file has a processing instruction; they are refused')))

  const write = (piece: string) => {
    try {
      parser.write(piece)
    } catch (error) {
      fail(error as Error)
    }
  }

  const stream = createReadStream(file, {encoding: 'utf8', highWaterMark: 256 * 1024})
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      // Count the chunk in pieces so that a single huge token is caught as it grows.
      for (let start = 0; start < chunk.length && !failure; start += 64 * 1024) {
        const piece = chunk.slice(start, start + 64 * 1024)
        sinceEvent += piece.length
        if (sinceEvent > MAX_XML_TOKEN_BYTES) fail(new XmlRefusal(`a single text, attribute or tag is larger than ${MAX_XML_TOKEN_BYTES / 1024 / 1024} MiB`))
        else write(piece)
      }

      yield* drain()
      if (failure) throw failure
    }

    try {
      parser.close()
    } catch (error) {
      fail(error as Error)
    }

    yield* drain()
    if (failure) throw failure
  } finally {
    stream.destroy()
  }
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;'})[character]!)
}

/** `<name attr='…'>` as it was written, namespace declarations included. */
export function serializeOpenTag(tag: SaxesTagNS): string {
  const attributes = Object.values(tag.attributes as Record<string, SaxesAttributeNS>)
    .map((attribute) => ` ${attribute.name}="${escapeXml(attribute.value)}"`)
    .join('')
  return `<${tag.name}${attributes}>`
}
