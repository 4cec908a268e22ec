/**
 * Domainpart preparation (RFC 7622 §3.2): an IP literal, or a domain name
 * whose labels are IDNA2008 (RFC 5891) U-labels or LDH labels. The canonical
 * form is lower case Unicode (U-labels), so "xn--bcher-kva.example" and
 * "Bücher.Example" name the same account domain.
 */
import {domainToASCII, domainToUnicode} from 'node:url'

import {showCharacter} from './describe.js'
import {PrecisRefusal} from './precis.js'

/**
 * Domain names of LDH labels (RFC 5890 §2.3.1), without "--" (so no A-label
 * to decode) and whose last label holds a letter (so no IPv4 look-alike):
 * for these IDNA only lower-cases, and every routed stanza prepares one or
 * two domains. Anything else takes the full path.
 */
const LDH_LABELS = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i
const LETTER_IN_LAST_LABEL = /[a-z][a-z0-9-]*$/i

/** Throws PrecisRefusal (a clause that follows "the domainpart") when `input` is not a usable domainpart. */
export function prepareDomainpart(input: string): string {
  if (input.length <= 253 && LDH_LABELS.test(input) && !input.includes('--') && LETTER_IN_LAST_LABEL.test(input)) return input.toLowerCase()
  return prepareAnyDomainpart(input)
}

/** prepareDomainpart without its shortcut for plain LDH names: the reference the shortcut is tested against. */
export function prepareAnyDomainpart(input: string): string {

  // Ideographic and fullwidth full stops separate labels too (RFC 7622 §3.2 via RFC 5895 §2).
  let domain = input.replace(/[\u3002\uFF0E\uFF61]/gu, '.')
  // A final dot is stripped (RFC 7622 §3.2), so "example.org." is "example.org".
  if (domain.endsWith('.')) domain = domain.slice(0, -1)
  if (domain.length === 0) throw new PrecisRefusal('is empty')
  if (domain.startsWith('[')) return prepareIpv6Literal(domain)
  if (/^[0-9.]+$/u.test(domain)) return prepareIpv4Literal(domain)

  const unusable = [...domain].find((character) => /[\p{Cc}\p{Z}#%/:<>?@[\\\]^|"]/u.test(character))
  if (unusable !== undefined) {
    const kind = /\p{Cc}/u.test(unusable) ? 'a control character' : /\p{Z}/u.test(unusable) ? 'a space' : 'the character'
    throw new PrecisRefusal(`contains ${kind} ${showCharacter(unusable)}, which RFC 7622 forbids`)
  }

  const ascii = domainToASCII(domain)
  if (ascii === '') {
    const lastLabel = domain.split('.').at(-1) ?? ''
    throw new PrecisRefusal(
      /^[0-9]+$/u.test(lastLabel)
        ? `ends in the all-digit label "${lastLabel}" but is not an IPv4 address`
        : 'is not a valid internationalized domain name (IDNA2008, RFC 5891)',
    )
  }

  const unicode = domainToUnicode(ascii)
  const bytes = Buffer.byteLength(unicode, 'utf8')
  if (bytes > 1023) throw new PrecisRefusal(`is ${bytes} bytes long; RFC 7622 §3.2 allows at most 1023`)
  for (const label of ascii.split('.')) checkLabel(label)
  return unicode
}

/** An A-label or LDH label (RFC 5890 §2.3.1): 1–63 octets of letters, digits and inner hyphens. */
function checkLabel(label: string): void {
  if (label.length === 0) throw new PrecisRefusal('has an empty label (two dots in a row, or a leading dot)')
  if (label.length > 63) throw new PrecisRefusal(`has a label of ${label.length} octets (in A-label form); DNS allows at most 63 (RFC 1035 §2.3.4)`)
  const bad = [...label].find((character) => !/[a-z0-9-]/u.test(character))
  if (bad !== undefined) throw new PrecisRefusal(`contains the character ${showCharacter(bad)}, which is not a letter, digit or hyphen (RFC 5890 §2.3.1)`)
  if (label.startsWith('-') || label.endsWith('-')) throw new PrecisRefusal(`has the label "${label}", which starts or ends with a hyphen (RFC 5890 §2.3.1)`)
}

/** Four decimal octets without leading zeros, which some parsers read as octal. */
function prepareIpv4Literal(domain: string): string {
  const octets = domain.split('.')
  const valid = octets.length === 4 && octets.every((octet) => /^(?:0|[1-9][0-9]{0,2})$/u.test(octet) && Number(octet) <= 255)
  if (!valid) throw new PrecisRefusal('looks like an IPv4 address but is not one (four numbers 0–255, no leading zeros)')
  return domain
}

/** `[IPv6]` (RFC 7622 §3.2), in RFC 5952 canonical form so that one address has one spelling. */
function prepareIpv6Literal(domain: string): string {
  const inner = domain.slice(1, -1)
  if (!domain.endsWith(']') || !/^[0-9A-Fa-f:.]+$/u.test(inner)) {
    throw new PrecisRefusal('starts with "[" but is not a bracketed IPv6 address such as [2001:db8::1]')
  }

  try {
    return new URL(`http://${domain}/`).hostname
  } catch {
    throw new PrecisRefusal('starts with "[" but is not a bracketed IPv6 address such as [2001:db8::1]')
  }
}
