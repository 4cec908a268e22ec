/**
 * Bare JIDs (RFC 7622): parsing, normalisation and formatting. Accounts are
 * keyed by the normalised form, so "Alice@Example.ORG" and
 * "alice@example.org" are one account.
 */
import {JidError} from '../errors.js'
import {quoteInput} from './describe.js'
import {prepareDomainpart} from './domainpart.js'
import {PrecisRefusal, applyUsernameCaseMapped} from './precis.js'

/** A normalised bare JID; `local` is '' only for a domain JID, when allowed. */
export interface BareJid {
  local: string
  domain: string
}

/** RFC 7622 §3.3.1: characters a localpart may not contain even though PRECIS allows them. */
const LOCALPART_FORBIDDEN = new Set(['"', '&', "'", '/', ':', '<', '>', '@'])

/** Each part is 1 to 1023 octets of UTF-8 (RFC 7622 §3.2, §3.3). */
const MAX_PART_BYTES = 1023

/**
 * Parses and normalises a bare JID (RFC 7622 §3.1): a localpart before the
 * first "@", a domainpart after it. A resource ("/…") is refused. A domain
 * with no localpart is refused unless `allowDomainOnly`.
 * Throws JidError naming the part at fault and why.
 */
export function parseBareJid(input: string, options: {allowDomainOnly?: boolean} = {}): BareJid {
  const fail = (reason: string): never => {
    throw new JidError(`invalid JID ${quoteInput(input)}: ${reason}`)
  }

  const slash = input.indexOf('/')
  if (slash !== -1) fail('it has a resource part (from "/"), which a bare JID cannot have; remove it')
  const at = input.indexOf('@')
  if (at === -1 && !options.allowDomainOnly) fail('it has no localpart; write user@domain')
  const localInput = at === -1 ? undefined : input.slice(0, at)
  const domainInput = at === -1 ? input : input.slice(at + 1)
  // RFC 7622 §3.1: an "@" promises a localpart, so "@example.org" is not "example.org".
  const local = localInput === undefined ? '' : explainOr(fail, 'localpart', () => prepareLocalpart(localInput))
  const domain = explainOr(fail, 'domainpart', () => prepareDomainpart(domainInput))
  return {local, domain}
}

/** `local@domain`, or `domain` alone for a domain JID. */
export function formatJid(jid: BareJid): string {
  return jid.local === '' ? jid.domain : `${jid.local}@${jid.domain}`
}

/** The normalised localpart (RFC 7622 §3.3); throws JidError quoting `input`. */
export function normalizeLocalpart(input: string): string {
  return explainOr(
    (reason) => {
      throw new JidError(`invalid localpart ${quoteInput(input)}: ${reason}`)
    },
    'localpart',
    () => prepareLocalpart(input),
  )
}

/** The normalised domainpart (RFC 7622 §3.2); throws JidError quoting `input`. */
export function normalizeDomain(input: string): string {
  return explainOr(
    (reason) => {
      throw new JidError(`invalid domain ${quoteInput(input)}: ${reason}`, 'write a domain such as example.org')
    },
    'domainpart',
    () => prepareDomainpart(input),
  )
}

/**
 * Printable ASCII other than the forbidden characters, 1 to 1023 of them: all
 * PVALID (RFC 8264 §9.11), unchanged by width mapping and NFC and free of
 * right-to-left characters, so the profile only lower-cases them. Most
 * localparts are like this, and every SCRAM login normalises one.
 */
const PLAIN_ASCII_LOCALPART = /^[!#-%(-.0-9;=?A-~]{1,1023}$/

function prepareLocalpart(input: string): string {
  if (PLAIN_ASCII_LOCALPART.test(input)) return input.toLowerCase()
  const local = applyUsernameCaseMapped(input)
  const forbidden = [...local].find((character) => LOCALPART_FORBIDDEN.has(character))
  if (forbidden !== undefined) {
    throw new PrecisRefusal(`contains "${forbidden}" (U+${forbidden.codePointAt(0)?.toString(16).toUpperCase().padStart(4, '0')}), which RFC 7622 §3.3.1 forbids`)
  }

  const bytes = Buffer.byteLength(local, 'utf8')
  if (bytes > MAX_PART_BYTES) throw new PrecisRefusal(`is ${bytes} bytes long; RFC 7622 §3.3 allows at most ${MAX_PART_BYTES}`)
  return local
}

function explainOr(fail: (reason: string) => never, part: string, prepare: () => string): string {
  try {
    return prepare()
  } catch (error) {
    if (error instanceof PrecisRefusal) return fail(`the ${part} ${error.message}`)
    throw error
  }
}
