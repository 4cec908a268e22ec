/**
 * A small XML element tree for stanzas: a local name, a resolved namespace,
 * attributes and children (elements or text). Serialisation emits `xmlns`
 * only where the namespace differs from the parent's, so a stanza parsed on
 * one client stream is written unchanged on another.
 */

export type Node = Element | string

const ESCAPE_TEXT: Record<string, string> = {'&': '&amp;', '<': '&lt;', '>': '&gt;'}
const ESCAPE_ATTR: Record<string, string> = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;'}

/**
 * Characters XML 1.0 does not allow at all (§2.2: C0 controls but tab, line
 * feed and carriage return; U+FFFE, U+FFFF; lone surrogates). The parser
 * refuses them, but a string that reached an element some other way must
 * not make the stream we write ill-formed for its reader: it becomes U+FFFD.
 */
const NOT_XML10 = '\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff'
const LONE_SURROGATE = '[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]'
const TEXT_SPECIAL = new RegExp(`[&<>${NOT_XML10}]|${LONE_SURROGATE}`, 'g')
const ATTR_SPECIAL = new RegExp(`[&<>"'\t\n\r${NOT_XML10}]|${LONE_SURROGATE}`, 'g')

/** Whether a string may need escaping at all (any surrogate, paired or not): most text and attributes need none, and a test is cheaper than a replace. */
const TEXT_MAYBE_SPECIAL = new RegExp(`[&<>${NOT_XML10}\ud800-\udfff]`)
const ATTR_MAYBE_SPECIAL = new RegExp(`[&<>"'\t\n\r${NOT_XML10}\ud800-\udfff]`)

export function escapeText(text: string): string {
  if (!TEXT_MAYBE_SPECIAL.test(text)) return text
  return text.replace(TEXT_SPECIAL, (character) => ESCAPE_TEXT[character] ?? '\ufffd')
}

export function escapeAttribute(value: string): string {
  if (!ATTR_MAYBE_SPECIAL.test(value)) return value
  return value.replace(ATTR_SPECIAL, (character) => ESCAPE_ATTR[character] ?? '\ufffd')
}

export class Element {
  name: string
  ns: string
  attrs: Record<string, string>
  children: Node[]

  constructor(name: string, ns: string, attrs: Record<string, string | undefined> = {}, children: Node[] = []) {
    this.name = name
    this.ns = ns
    this.attrs = {}
    for (const key in attrs) {
      const value = attrs[key]
      if (value !== undefined) this.attrs[key] = value
    }
    this.children = children
  }

  /** Appends a child element and returns it, for building nested trees. */
  c(name: string, attrs: Record<string, string | undefined> = {}, ns = this.ns): Element {
    const child = new Element(name, ns, attrs)
    this.children.push(child)
    return child
  }

  /** Appends a child (element or text) and returns this element. */
  append(...nodes: Array<Node | undefined>): this {
    for (const node of nodes) if (node !== undefined) this.children.push(node)
    return this
  }

  attr(name: string): string | undefined {
    return this.attrs[name]
  }

  getChild(name: string, ns?: string): Element | undefined {
    for (const child of this.children) {
      if (typeof child !== 'string' && child.name === name && (ns === undefined || child.ns === ns)) return child
    }

    return undefined
  }

  getChildren(name?: string, ns?: string): Element[] {
    return this.elements().filter((child) => (name === undefined || child.name === name) && (ns === undefined || child.ns === ns))
  }

  elements(): Element[] {
    return this.children.filter((child): child is Element => typeof child !== 'string')
  }

  /** The concatenated text children (not descendants). */
  text(): string {
    return this.children.filter((child): child is string => typeof child === 'string').join('')
  }

  getChildText(name: string, ns?: string): string | undefined {
    return this.getChild(name, ns)?.text()
  }

  /** A deep copy, so that a routed stanza can be rewritten per recipient. */
  clone(): Element {
    return new Element(
      this.name,
      this.ns,
      {...this.attrs},
      this.children.map((child) => (typeof child === 'string' ? child : child.clone())),
    )
  }

  /** Serialises with `parentNs` as the namespace in scope (the stream's default, for stanzas). */
  toString(parentNs = ''): string {
    return this.serialized(parentNs)
  }

  // Built by concatenation, which V8 joins lazily: about twice as fast as collecting parts and joining them (every stanza written goes through here).
  private serialized(parentNs: string): string {
    let text = '<' + this.name
    if (this.ns !== parentNs) text += " xmlns='" + escapeAttribute(this.ns) + "'"
    const attrs = this.attrs
    for (const key in attrs) text += ' ' + key + "='" + escapeAttribute(attrs[key]) + "'"
    const children = this.children
    if (children.length === 0) return text + '/>'
    text += '>'
    for (const child of children) text += typeof child === 'string' ? escapeText(child) : child.serialized(this.ns)
    return text + '</' + this.name + '>'
  }
}

/** Shorthand for building stanzas: `x('iq', NS.client, {type: 'result'}, child…)`. */
export function x(name: string, ns: string, attrs: Record<string, string | undefined> = {}, ...children: Array<Node | undefined>): Element {
  return new Element(name, ns, attrs).append(...children)
}

/**
 * A copy of `element` that stands on its own, to be stored and later sent
 * in another stanza: it carries the declarations of the attribute prefixes
 * it uses (`xmlns:p`) that were made on its `ancestors` (nearest first), as
 * the parser keeps such declarations where they were written.
 */
export function detached(element: Element, ancestors: readonly Element[]): Element {
  const copy = element.clone()
  const missing = new Set<string>()
  const visit = (node: Element, inScope: ReadonlySet<string>): void => {
    const declared = new Set(inScope)
    for (const name of Object.keys(node.attrs)) if (name.startsWith('xmlns:')) declared.add(name.slice(6))
    for (const name of Object.keys(node.attrs)) {
      const prefix = name.includes(':') ? name.slice(0, name.indexOf(':')) : ''
      if (prefix !== '' && prefix !== 'xmlns' && prefix !== 'xml' && !declared.has(prefix)) missing.add(prefix)
    }

    for (const child of node.elements()) visit(child, declared)
  }

  visit(copy, new Set())
  for (const prefix of missing) {
    const uri = ancestors.find((ancestor) => ancestor.attrs[`xmlns:${prefix}`] !== undefined)?.attrs[`xmlns:${prefix}`]
    if (uri !== undefined) copy.attrs[`xmlns:${prefix}`] = uri
  }

  return copy
}

/** Whether `element` holds anything: a child element, text other than whitespace, or an attribute other than a prefix declaration. */
export function hasContent(element: Element): boolean {
  return element.children.some((child) => typeof child !== 'string' || child.trim() !== '') || Object.keys(element.attrs).some((name) => !name.startsWith('xmlns:'))
}
