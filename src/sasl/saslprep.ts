/**
 * SASLprep (RFC 4013), the string preparation SCRAM applies to passwords and
 * usernames before hashing (RFC 5802 §2.2). Passwords are prepared the same way
 * for PLAIN and SCRAM so that a non-ASCII password works over both.
 *
 * The mapping, normalisation and checks are @mongodb-js/saslprep's; this module
 * adds errors that say which character was refused and where, without ever
 * quoting the password.
 */
import {createRequire} from 'node:module'

import {PasswordError} from '../errors.js'

type Saslprep = (input: string, options?: {allowUnassigned?: boolean}) => string

let library: Saslprep | undefined

/** The library and its Unicode tables load on the first non-ASCII string: most passwords never need them. */
function saslprep(input: string, options: {allowUnassigned: boolean}): string {
  library ??= (createRequire(import.meta.url)('@mongodb-js/saslprep') as {saslprep: Saslprep}).saslprep
  return library(input, options)
}

/**
 * Printable ASCII is its own SASLprep: RFC 4013 maps and refuses nothing in
 * U+0020..U+007E, and the bidirectional rule concerns only right-to-left text.
 */
const PRINTABLE_ASCII = /^[\x20-\x7E]+$/

/**
 * Prepares a password as a *stored string* (RFC 4013 §2.5 with RFC 3454 §7):
 * unassigned code points are refused, because a later Unicode version could
 * assign them a mapping and change the derived keys under the user's feet.
 * Throws PasswordError for an empty result or a refused character.
 */
export function preparePassword(password: string): string {
  return prepare(password, 'password', {allowUnassigned: false})
}

/**
 * Prepares a SCRAM username (`n=`, RFC 5802 §5.1) as a *query string*:
 * unassigned code points pass, as RFC 3454 §7 allows for strings that are only
 * compared, never stored. XMPP usernames are JID localparts, already PRECIS
 * normalised (src/jid), for which this is the identity.
 */
export function prepareUsername(username: string): string {
  return prepare(username, 'username', {allowUnassigned: true})
}

type Subject = 'password' | 'username'

function prepare(input: string, subject: Subject, options: {allowUnassigned: boolean}): string {
  if (input.length === 0) throw new PasswordError(`the ${subject} is empty`, `choose a non-empty ${subject}`)
  if (PRINTABLE_ASCII.test(input)) return input
  // Checked first: the library fails on a string that maps to nothing instead of returning ''.
  if ([...input].every((character) => MAPPED_TO_NOTHING.test(character))) {
    throw new PasswordError(
      `the ${subject} is empty once SASLprep (RFC 4013 §2.1) removes the invisible characters it maps to nothing`,
      hintFor(subject),
    )
  }

  try {
    return saslprep(input, options)
  } catch {
    throw new PasswordError(explainRefusal(input, subject, options), hintFor(subject))
  }
}

/**
 * RFC 3454 table B.1, "commonly mapped to nothing" (RFC 4013 §2.1): soft hyphen,
 * joiners, variation selectors. U+200B is left out: it is also a non-ASCII space
 * (C.1.2), and the library, like RFC 4013 §2.1, maps it to a space first.
 */
// eslint-disable-next-line no-misleading-character-class -- the class lists lone combining marks and joiners on purpose: they are what B.1 removes
const MAPPED_TO_NOTHING = /^[\u00AD\u034F\u1806\u180B-\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]$/u

function hintFor(subject: Subject): string {
  return `choose a ${subject} made of letters, digits, punctuation and spaces`
}

/**
 * Finds why the library refused `input`. The library only says which rule
 * failed, so each character is run through it alone: a character refused on
 * its own is prohibited (RFC 4013 §2.3) or unassigned (§2.5). If none is, the
 * string broke the bidirectional rule (§2.4, RFC 3454 §6), which is about how
 * characters combine.
 */
function explainRefusal(input: string, subject: Subject, options: {allowUnassigned: boolean}): string {
  const characters = [...input]
  for (const [index, character] of characters.entries()) {
    const refusal = refusalOf(character, options)
    if (refusal) {
      return `the ${subject} contains ${describeRefused(character, refusal)} (${codePointLabel(character)}) at position ${index + 1}, which SASLprep (RFC 4013) forbids`
    }
  }

  const rightToLeft = characters.findIndex((character) => isRightToLeft(character))
  const leftToRight = characters.findIndex((character) => isLeftToRight(character))
  if (rightToLeft >= 0 && leftToRight >= 0) {
    return `the ${subject} mixes a right-to-left character (${codePointLabel(characters[rightToLeft])}) at position ${rightToLeft + 1} with a left-to-right character (${codePointLabel(characters[leftToRight])}) at position ${leftToRight + 1}, which SASLprep (RFC 4013 §2.4, RFC 3454 §6) forbids`
  }

  if (rightToLeft >= 0) {
    return `the ${subject} contains right-to-left characters but does not both start and end with one, which SASLprep (RFC 4013 §2.4, RFC 3454 §6) requires`
  }

  return `the ${subject} is refused by SASLprep (RFC 4013)`
}

function refusalOf(character: string, options: {allowUnassigned: boolean}): 'prohibited' | 'unassigned' | undefined {
  if (MAPPED_TO_NOTHING.test(character)) return undefined
  try {
    saslprep(character, options)
    return undefined
  } catch (error) {
    return error instanceof Error && /unassigned/i.test(error.message) ? 'unassigned' : 'prohibited'
  }
}

/** The RFC 3454 table a prohibited character comes from, in words (RFC 4013 §2.3). */
function describeRefused(character: string, refusal: 'prohibited' | 'unassigned'): string {
  if (refusal === 'unassigned') return 'an unassigned code point'
  const codePoint = character.codePointAt(0) ?? 0
  if (/\p{Cc}/u.test(character)) return 'a control character'
  if (/\p{Co}/u.test(character)) return 'a private-use character'
  if (/\p{Cs}/u.test(character)) return 'an unpaired surrogate'
  if (/\p{Noncharacter_Code_Point}/u.test(character)) return 'a non-character code point'
  if (codePoint >= 0xe0001 && codePoint <= 0xe007f) return 'a tagging character'
  if (codePoint >= 0x2ff0 && codePoint <= 0x2ffb) return 'an ideographic description character'
  if (codePoint >= 0xfff9 && codePoint <= 0xfffd) return 'a character inappropriate for plain text'
  if (/\p{Cf}/u.test(character)) return 'an invisible formatting character'
  return 'a prohibited character'
}

// RFC 3454 §6 classes, probed through the library so that its Unicode tables
// (3.2, what RFC 4013 references) decide, not the runtime's newer ones: a
// RandALCat character followed by an LCat one is refused, and vice versa.
const LEFT_TO_RIGHT_PROBE = 'a'
const RIGHT_TO_LEFT_PROBE = '\u05D0'

function isRightToLeft(character: string): boolean {
  return refusedForBidi(character + LEFT_TO_RIGHT_PROBE)
}

function isLeftToRight(character: string): boolean {
  return refusedForBidi(RIGHT_TO_LEFT_PROBE + character + RIGHT_TO_LEFT_PROBE)
}

function refusedForBidi(probe: string): boolean {
  try {
    saslprep(probe, {allowUnassigned: true})
    return false
  } catch (error) {
    return error instanceof Error && /RandALCat/.test(error.message)
  }
}

/** "U+0007": the code point, never the character, so secrets stay out of messages. */
function codePointLabel(character: string): string {
  return `U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`
}
