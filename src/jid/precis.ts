/**
 * PRECIS for JID localparts: the UsernameCaseMapped profile (RFC 8265 §3.3)
 * over the IdentifierClass (RFC 8264 §4.2), as RFC 7622 §3.3 requires.
 *
 * Unicode properties come from the runtime's regular expressions, so the
 * Unicode version is Node's. Two rules need data JavaScript does not expose
 * and are approximated on the safe side: CONTEXTJ joiners are allowed only
 * after a virama (the ZWNJ joining-type rule is not implemented, so such
 * Persian/Arabic names are refused), and the Bidi Rule (RFC 5893) is checked
 * by script rather than by Bidi_Class.
 */
import {showCharacter} from './describe.js'

/** Why a string was refused: a whole clause that follows "the localpart". */
export class PrecisRefusal extends Error {}

/** RFC 8265 §3.3.2 rules 1–4, then the IdentifierClass check (RFC 8264 §7, §9). */
export function applyUsernameCaseMapped(input: string): string {
  const mapped = mapWidth(input).toLowerCase().normalize('NFC')
  if (mapped.length === 0) throw new PrecisRefusal('is empty')
  const characters = [...mapped]
  for (const [index, character] of characters.entries()) {
    const refusal = identifierClassRefusal(character, characters, index)
    if (refusal) throw new PrecisRefusal(`contains ${refusal}, which RFC 7622 forbids`)
  }

  checkBidiRule(characters)
  return mapped
}

/**
 * Width mapping (RFC 8265 §3.3.2 rule 1): fullwidth and halfwidth forms, the
 * characters whose decomposition is tagged <wide> or <narrow>, become that
 * decomposition. These blocks hold all of them; NFKC of one such character is
 * exactly its decomposition.
 */
function mapWidth(input: string): string {
  return input.replace(/[\u3000\uFF01-\uFFEE]/gu, (character) => character.normalize('NFKC'))
}

// RFC 5892 §2.6 exceptions, which RFC 8264 §9.6 inherits.
const EXCEPTIONS_PVALID = new Set([0x00df, 0x03c2, 0x06fd, 0x06fe, 0x0f0b, 0x3007])
const EXCEPTIONS_DISALLOWED = new Set([0x0640, 0x07fa, 0x302e, 0x302f, 0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x303b])

/** The derived property of RFC 8264 §8 in order; undefined when the character is allowed here. */
function identifierClassRefusal(character: string, characters: string[], index: number): string | undefined {
  const codePoint = character.codePointAt(0) ?? 0
  const shown = showCharacter(character)
  if (EXCEPTIONS_PVALID.has(codePoint)) return undefined
  if (EXCEPTIONS_DISALLOWED.has(codePoint)) return `the character ${shown}`
  const contextual = contextualRefusal(codePoint, characters, index)
  if (contextual !== false) return contextual
  if (/\p{Cn}/u.test(character)) return `an unassigned code point ${shown}`
  if (codePoint >= 0x21 && codePoint <= 0x7e) return undefined // ASCII7 (RFC 8264 §9.11)
  if (codePoint === 0x200c || codePoint === 0x200d) {
    // JoinControl is CONTEXTJ (RFC 5892 Appendix A.1, A.2); only the virama rule is implemented.
    return index > 0 && isVirama(characters[index - 1]) ? undefined : `a zero-width joiner ${shown} not following a virama`
  }

  if (isOldHangulJamo(codePoint)) return `an old Hangul jamo ${shown}`
  if (/[\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}]/u.test(character)) return `an invisible or non-character code point ${shown}`
  if (/\p{Cc}/u.test(character)) return `a control character ${shown}`
  if (codePoint === 0x20 || /\p{Zs}/u.test(character)) return `a space ${shown}`
  if (character.normalize('NFKC') !== character) return `the compatibility character ${shown}`
  if (/[\p{Ll}\p{Lu}\p{Lo}\p{Nd}\p{Lm}\p{Mn}\p{Mc}]/u.test(character)) return undefined // LetterDigits
  if (/[\p{Lt}\p{Nl}\p{No}\p{Me}]/u.test(character)) return `the letter-like character ${shown}`
  if (/\p{S}/u.test(character)) return `the symbol ${shown}`
  if (/\p{P}/u.test(character)) return `the punctuation ${shown}`
  return `the character ${shown}`
}

/**
 * CONTEXTO rules of RFC 5892 Appendix A.3–A.9. Returns false for characters
 * without such a rule, undefined when the rule is satisfied, else the refusal.
 */
function contextualRefusal(codePoint: number, characters: string[], index: number): string | undefined | false {
  const before = characters[index - 1]
  const after = characters[index + 1]
  const shown = showCharacter(String.fromCodePoint(codePoint))
  switch (codePoint) {
    case 0x00b7:
      return before === 'l' && after === 'l' ? undefined : `the middle dot ${shown} outside "l·l"`
    case 0x0375:
      return after !== undefined && /\p{Script=Greek}/u.test(after) ? undefined : `the Greek keraia ${shown} not followed by a Greek character`
    case 0x05f3:
    case 0x05f4:
      return before !== undefined && /\p{Script=Hebrew}/u.test(before) ? undefined : `the Hebrew punctuation ${shown} not following a Hebrew character`
    case 0x30fb:
      return characters.some((character) => /[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Han}]/u.test(character))
        ? undefined
        : `the katakana middle dot ${shown} without Japanese characters`
    default:
      break
  }

  if (codePoint >= 0x0660 && codePoint <= 0x0669) {
    return characters.some((character) => /[\u06F0-\u06F9]/u.test(character)) ? `the Arabic-Indic digit ${shown} mixed with extended Arabic-Indic digits` : undefined
  }

  if (codePoint >= 0x06f0 && codePoint <= 0x06f9) {
    return characters.some((character) => /[\u0660-\u0669]/u.test(character)) ? `the extended Arabic-Indic digit ${shown} mixed with Arabic-Indic digits` : undefined
  }

  return false
}

/**
 * Canonical_Combining_Class 9 (Virama), found through canonical reordering:
 * NFD sorts combining marks by class, so a mark that moves after U+3099
 * (class 8) and before U+05B0 (class 10) has class 9.
 */
function isVirama(character: string | undefined): boolean {
  if (character === undefined) return false
  return (
    (character + '\u3099').normalize('NFD') === '\u3099' + character &&
    ('\u05B0' + character).normalize('NFD') === character + '\u05B0'
  )
}

// Hangul_Syllable_Type L, V or T (RFC 8264 §9.9).
function isOldHangulJamo(codePoint: number): boolean {
  return (
    (codePoint >= 0x1100 && codePoint <= 0x11ff) ||
    (codePoint >= 0xa960 && codePoint <= 0xa97c) ||
    (codePoint >= 0xd7b0 && codePoint <= 0xd7c6) ||
    (codePoint >= 0xd7cb && codePoint <= 0xd7fb)
  )
}

const RIGHT_TO_LEFT_LETTER =
  /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Samaritan}\p{Script=Mandaic}\p{Script=Adlam}\p{Script=Hanifi_Rohingya}\p{Script=Mende_Kikakui}]/u

/**
 * The Bidi Rule (RFC 5893 §2, required by RFC 8265 §3.3.2 rule 5),
 * approximated by script: a string with a right-to-left letter must start
 * with one and must not contain left-to-right letters.
 */
function checkBidiRule(characters: string[]): void {
  const isRightToLeftLetter = (character: string): boolean => /\p{L}/u.test(character) && RIGHT_TO_LEFT_LETTER.test(character)
  if (!characters.some(isRightToLeftLetter)) return
  if (!isRightToLeftLetter(characters[0])) {
    throw new PrecisRefusal('contains right-to-left letters but does not start with one, as the Bidi Rule (RFC 5893) requires')
  }

  const leftToRight = characters.find((character) => /\p{L}/u.test(character) && !RIGHT_TO_LEFT_LETTER.test(character))
  if (leftToRight !== undefined) {
    throw new PrecisRefusal(`mixes right-to-left letters with the left-to-right letter ${showCharacter(leftToRight)}, which the Bidi Rule (RFC 5893) forbids`)
  }
}
