/**
 * A minimal DER encoder and reader (ITU-T X.690), for the few structures that
 * @peculiar/x509 does not build for us: subjectAltName otherName entries
 * (RFC 5280 §4.2.1.6), PKCS#3 DH parameters, and reading a certificate's
 * signature algorithm. Only definite lengths and single-byte tags: DER needs
 * nothing else for these.
 */

export const Tag = {
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  sequence: 0x30,
  set: 0x31,
} as const

/** Context-specific tag number `n`, constructed (EXPLICIT or a constructed IMPLICIT type) or primitive. */
export function contextTag(n: number, constructed: boolean): number {
  return 0x80 | (constructed ? 0x20 : 0) | n
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length])
  const bytes: number[] = []
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

export function tlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content])
}

export function sequence(...items: Uint8Array[]): Buffer {
  return tlv(Tag.sequence, Buffer.concat(items))
}

/** A non-negative INTEGER, two's complement with a leading zero when the top bit is set. */
export function integer(value: bigint): Buffer {
  if (value < 0n) throw new RangeError('negative INTEGER is not supported')
  let hex = value.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  let bytes = Buffer.from(hex, 'hex')
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes])
  return tlv(Tag.integer, bytes)
}

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => BigInt(arc))
  if (arcs.length < 2) throw new RangeError(`bad OID ${dotted}`)
  const out: number[] = []
  for (const arc of [arcs[0] * 40n + arcs[1], ...arcs.slice(2)]) {
    const chunk = [Number(arc & 0x7fn)]
    for (let rest = arc >> 7n; rest > 0n; rest >>= 7n) chunk.unshift(Number(rest & 0x7fn) | 0x80)
    out.push(...chunk)
  }

  return tlv(Tag.oid, Buffer.from(out))
}

export interface Element {
  tag: number
  /** The content octets. */
  content: Buffer
  /** The whole element, header included. */
  raw: Buffer
}

/** The malformed input is the caller's to name; this only says what is wrong with the bytes. */
export class DerError extends Error {}

/** Reads one element at `offset`; `end` is where the next one starts. */
export function read(buffer: Buffer, offset = 0): Element & {end: number} {
  if (offset + 2 > buffer.length) throw new DerError('truncated DER element')
  const tag = buffer[offset]
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported')
  let length = buffer[offset + 1]
  let header = 2
  if (length & 0x80) {
    const count = length & 0x7f
    if (count === 0 || count > 4) throw new DerError('unsupported DER length')
    if (offset + 2 + count > buffer.length) throw new DerError('truncated DER length')
    length = 0
    for (let index = 0; index < count; index++) length = length * 256 + buffer[offset + 2 + index]
    header += count
  }

  const end = offset + header + length
  if (end > buffer.length) throw new DerError('truncated DER content')
  return {tag, content: buffer.subarray(offset + header, end), raw: buffer.subarray(offset, end), end}
}

/** Reads exactly one element filling the whole buffer. */
export function readOne(buffer: Buffer): Element {
  const element = read(buffer)
  if (element.end !== buffer.length) throw new DerError('trailing bytes after DER element')
  return element
}

/** The elements inside a constructed element's content. */
export function children(content: Buffer): Element[] {
  const out: Element[] = []
  for (let offset = 0; offset < content.length; ) {
    const element = read(content, offset)
    out.push(element)
    offset = element.end
  }

  return out
}

export function expect(element: Element | undefined, tag: number, what: string): Element {
  if (!element || element.tag !== tag) throw new DerError(`expected ${what}`)
  return element
}

export function toBigInt(element: Element): bigint {
  if (element.tag !== Tag.integer || element.content.length === 0) throw new DerError('expected INTEGER')
  if (element.content[0] & 0x80) throw new DerError('negative INTEGER')
  return BigInt(`0x${element.content.toString('hex')}`)
}

export function toOid(element: Element): string {
  if (element.tag !== Tag.oid || element.content.length === 0) throw new DerError('expected OBJECT IDENTIFIER')
  const arcs: bigint[] = []
  let value = 0n
  for (const byte of element.content) {
    value = (value << 7n) | BigInt(byte & 0x7f)
    if (!(byte & 0x80)) {
      arcs.push(value)
      value = 0n
    }
  }

  const first = arcs[0] < 80n ? arcs[0] / 40n : 2n
  return [first, arcs[0] - first * 40n, ...arcs.slice(1)].join('.')
}
