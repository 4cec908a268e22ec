/**
 * Entity capabilities (XEP-0115): what a client's `<c/>` announces, the
 * verification string of a disco#info answer (§5.1, with the checks of
 * §5.4), and a bounded cache of the feature sets whose hash checked out,
 * which alone may be shared between users.
 */
import {createHash} from 'node:crypto'

import {NS} from '../xml/namespaces.js'
import type {Element} from '../xml/element.js'


/** The hash functions of the IANA registry that §5.1 names, by the name `<c hash=…/>` carries; md2 and md5 are not trusted. */
const HASHES: Record<string, string> = {'sha-1': 'sha1', 'sha-224': 'sha224', 'sha-256': 'sha256', 'sha-384': 'sha384', 'sha-512': 'sha512'}

export interface Caps {
  node: string
  ver: string
  /** Undefined for legacy caps (before version 1.4), whose `ver` is no hash and can be verified by nothing. */
  hash: string | undefined
}

/** The `<c/>` of a presence, when it has a usable one. */
export function capsOf(presence: Element): Caps | undefined {
  const c = presence.getChild('c', NS.caps)
  const node = c?.attrs.node
  const ver = c?.attrs.ver
  if (!node || !ver || node.length > 1024 || ver.length > 1024) return undefined
  return {node, ver, hash: c.attrs.hash}
}

/** Whether the server can check a `ver` made with this hash. */
export function verifiable(caps: Caps): boolean {
  return caps.hash !== undefined && HASHES[caps.hash] !== undefined
}

const byOctets = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

/**
 * The verification string of a disco#info answer (§5.1), or undefined when
 * §5.4 says not to trust it: duplicate identities or features, or two
 * forms with one FORM_TYPE. Forms without a hidden FORM_TYPE are left out.
 */
export function verificationString(query: Element): string | undefined {
  const identities = query.getChildren('identity', NS.discoInfo).map(({attrs}) => `${attrs.category ?? ''}/${attrs.type ?? ''}/${attrs['xml:lang'] ?? ''}/${attrs.name ?? ''}`)
  const features = query.getChildren('feature', NS.discoInfo).map(({attrs}) => attrs.var ?? '')
  if (new Set(identities).size !== identities.length || new Set(features).size !== features.length) return undefined
  const forms: Array<{type: string; text: string}> = []
  for (const form of query.getChildren('x', NS.dataForms)) {
    const fields = form.getChildren('field', NS.dataForms)
    const formType = fields.find((field) => field.attrs.var === 'FORM_TYPE')
    if (!formType || formType.attrs.type !== 'hidden') continue
    const type = formType.getChildText('value', NS.dataForms) ?? ''
    if (forms.some((other) => other.type === type)) return undefined
    const rest = fields.filter((field) => field !== formType).sort((a, b) => byOctets(a.attrs.var ?? '', b.attrs.var ?? ''))
    const text = rest.map((field) => `${field.attrs.var ?? ''}<${field.getChildren('value', NS.dataForms).map((value) => `${value.text()}<`).sort(byOctets).join('')}`).join('')
    forms.push({type, text: `${type}<${text}`})
  }

  return [...identities.sort(byOctets).map((identity) => `${identity}<`), ...features.sort(byOctets).map((feature) => `${feature}<`), ...forms.sort((a, b) => byOctets(a.type, b.type)).map((form) => form.text)].join('')
}

/** The `ver` of a disco#info answer under `hash` (§5.1); undefined for an untrusted hash or an answer §5.4 refuses. */
export function capsVer(query: Element, hash: string): string | undefined {
  const algorithm = HASHES[hash]
  const text = verificationString(query)
  if (!algorithm || text === undefined) return undefined
  return createHash(algorithm).update(text, 'utf8').digest('base64')
}

/** Whether `query` (the disco#info answer for `caps`) hashes to the announced `ver` (§5.4 step 3). */
export function verified(caps: Caps, query: Element): boolean {
  return caps.hash !== undefined && capsVer(query, caps.hash) === caps.ver
}

/** The features of a disco#info answer. */
export function featuresOf(query: Element): ReadonlySet<string> {
  return new Set(query.getChildren('feature', NS.discoInfo).map((feature) => feature.attrs.var ?? ''))
}

/** Verified feature sets by hash and ver, least recently used leaving first. */
export class CapsCache {
  private readonly entries = new Map<string, ReadonlySet<string>>()

  constructor(private readonly capacity: () => number) {}

  get(caps: Caps): ReadonlySet<string> | undefined {
    const key = `${caps.hash}\n${caps.ver}`
    const features = this.entries.get(key)
    if (features) {
      this.entries.delete(key)
      this.entries.set(key, features)
    }

    return features
  }

  set(caps: Caps, features: ReadonlySet<string>): void {
    const key = `${caps.hash}\n${caps.ver}`
    this.entries.delete(key)
    this.entries.set(key, features)
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.capacity()) break
      this.entries.delete(oldest)
    }
  }
}
