/**
 * XEP-0474 (SASL SCRAM Downgrade Protection, 0.5.0): the server signs the
 * mechanisms and channel-binding types it announced by putting a hash of
 * them in server-first (`h=`); AuthMessage covers server-first, so a man in
 * the middle who trims either list is caught by the client's own hash, or by
 * the proofs if he also rewrites `h=`.
 */
import {createHash} from 'node:crypto'

import {type ScramHash} from './scram.js'

/** What a server announced on a connection, as the client saw it. */
export interface AnnouncedSasl {
  /** The SASL mechanisms of <mechanisms/>. */
  mechanisms: readonly string[]
  /** The XEP-0440 <sasl-channel-binding/> types; empty when that element was not sent. */
  channelBindingTypes: readonly string[]
}

const NODE_HASH: Record<ScramHash, string> = {sha1: 'sha1', sha256: 'sha256', sha512: 'sha512'}

/** "i;octet" collation (RFC 4790 §9.3): byte order, not locale order. */
function octetSort(values: readonly string[]): string[] {
  return [...values].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))
}

/**
 * The `h=` value (XEP-0474 §4.1): base64 of H(mechanisms sorted and joined by
 * %x1E, then, when XEP-0440 was used, %x1F and the sorted types joined by %x1E),
 * H being the hash of the SCRAM mechanism in use.
 */
export function downgradeProtectionHash(hash: ScramHash, announced: AnnouncedSasl): string {
  let text = octetSort(announced.mechanisms).join('\u001E')
  if (announced.channelBindingTypes.length > 0) text += `\u001F${octetSort(announced.channelBindingTypes).join('\u001E')}`
  return createHash(NODE_HASH[hash]).update(text, 'utf8').digest('base64')
}
