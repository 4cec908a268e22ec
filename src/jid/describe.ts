/**
 * Words for a refused character in JID error messages, and a safe way to
 * quote user input in them: a JID is not a secret, but it may carry control
 * or bidi-override characters that would garble a terminal.
 */

export function codePointLabel(codePoint: number): string {
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`
}

/** `"☃" (U+2603)` for visible characters, `(U+0007)` alone for invisible ones. */
export function showCharacter(character: string): string {
  const label = codePointLabel(character.codePointAt(0) ?? 0)
  return /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(character) ? `"${character}" (${label})` : `(${label})`
}

const QUOTE_LIMIT = 80

/** The input in double quotes with invisible characters escaped, shortened past 80 characters. */
export function quoteInput(input: string): string {
  const characters = [...input]
  const shown = characters.length > QUOTE_LIMIT ? characters.slice(0, QUOTE_LIMIT) : characters
  const escaped = shown
    .map((character) => {
      if (character === '"' || character === '\\') return `\\${character}`
      if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u.test(character)) return `\\u{${(character.codePointAt(0) ?? 0).toString(16).toUpperCase()}}`
      return character
    })
    .join('')
  return `"${escaped}${characters.length > QUOTE_LIMIT ? '…' : ''}"`
}
