/**
 * The SCRAM message grammar (RFC 5802 §7): strict parsers and formatters for
 * the four messages, shared by the server and the client. No attribute value
 * can contain ",", so splitting on "," is exact; attribute order is fixed
 * (RFC 5802 §5) except for extensions, which come last in their message.
 */
import {assertValidIterations} from './scram.js'

/** A message that does not follow the RFC 5802 §7 grammar; the message says which rule. */
export class ScramSyntaxError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ScramSyntaxError'
  }
}

/** gs2-cbind-flag (RFC 5802 §7): "n" no binding, "y" client could bind but thinks the server cannot, "p=" binding used. */
export type ChannelBindingFlag = {kind: 'n'} | {kind: 'y'} | {kind: 'p'; type: string}

export interface ClientFirstMessage {
  flag: ChannelBindingFlag
  authzid: string | undefined
  /** The gs2-header exactly as sent; it is echoed in client-final's `c=` (RFC 5802 §5.1). */
  gs2Header: string
  username: string
  clientNonce: string
  /** client-first-message-bare, the first part of AuthMessage (RFC 5802 §3). */
  bare: string
}

export interface ServerFirstMessage {
  nonce: string
  salt: Buffer
  iterations: number
  text: string
}

export interface ClientFinalMessage {
  channelBinding: Buffer
  nonce: string
  proof: Buffer
  /** client-final-message-without-proof, the last part of AuthMessage. */
  withoutProof: string
}

export type ServerFinalMessage = {verifier: Buffer} | {error: string}

const UTF8 = new TextDecoder('utf-8', {fatal: true, ignoreBOM: true})

/** SCRAM messages are UTF-8 (RFC 5802 §7); anything else is malformed. */
export function decodeScramText(message: Buffer | string): string {
  if (typeof message === 'string') return message
  try {
    return UTF8.decode(message)
  } catch {
    throw new ScramSyntaxError('the message is not valid UTF-8')
  }
}

// printable = %x21-2B / %x2D-7E (RFC 5802 §7): the nonce alphabet.
const PRINTABLE = /^[\x21-\x2B\x2D-\x7E]+$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const CB_NAME = /^[A-Za-z0-9.-]+$/
const POSITIVE_NUMBER = /^[1-9][0-9]*$/
// attr-val = ALPHA "=" value; value-char is any UTF-8 but NUL and ",".
const EXTENSION = /^[A-Za-z]=[^,\0]+$/
// saslname = 1*(value-safe-char / "=2C" / "=3D"): "=" only in those escapes.
const SASLNAME = /^(?:[^=,\0]|=2C|=3D)+$/

/** Escapes a username or authzid for `n=`/`a=` (RFC 5802 §5.1): "=" → "=3D", "," → "=2C". */
export function escapeSaslname(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C')
}

/** Reverses escapeSaslname; any other "=" sequence is malformed (RFC 5802 §5.1). */
export function unescapeSaslname(escaped: string, what: string): string {
  if (!SASLNAME.test(escaped)) {
    throw new ScramSyntaxError(`the ${what} is not a valid saslname (only "=2C" and "=3D" may follow "=")`)
  }

  return escaped.replace(/=2C|=3D/g, (escape) => (escape === '=2C' ? ',' : '='))
}

export function formatGs2Header(flag: ChannelBindingFlag, authzid?: string): string {
  const flagText = flag.kind === 'p' ? `p=${flag.type}` : flag.kind
  return `${flagText},${authzid === undefined ? '' : `a=${escapeSaslname(authzid)}`},`
}

export function formatClientFirstBare(username: string, clientNonce: string): string {
  return `n=${escapeSaslname(username)},r=${clientNonce}`
}

export function formatServerFirst(nonce: string, salt: Buffer, iterations: number): string {
  return `r=${nonce},s=${salt.toString('base64')},i=${iterations}`
}

export function formatClientFinalWithoutProof(channelBinding: Buffer, nonce: string): string {
  return `c=${channelBinding.toString('base64')},r=${nonce}`
}

export function assertNonce(nonce: string, what: string): void {
  if (!PRINTABLE.test(nonce)) {
    throw new ScramSyntaxError(`the ${what} must be printable ASCII without ","`)
  }
}

/** client-first-message = gs2-header client-first-message-bare (RFC 5802 §7). */
export function parseClientFirst(text: string): ClientFirstMessage {
  const parts = text.split(',')
  if (parts.length < 4) throw new ScramSyntaxError('client-first-message needs a gs2 header, n= and r=')
  const [flagText, authzidText, ...bareParts] = parts
  const flag = parseChannelBindingFlag(flagText)
  let authzid: string | undefined
  if (authzidText !== '') {
    if (!authzidText.startsWith('a=')) throw new ScramSyntaxError('the second gs2 header field must be empty or a=')
    authzid = unescapeSaslname(authzidText.slice(2), 'authzid')
  }

  // reserved-mext: a mandatory extension we cannot know, so we must fail (RFC 5802 §5.1 "m").
  if (bareParts[0].startsWith('m=')) throw new ScramSyntaxError('mandatory extensions (m=) are not supported')
  const username = unescapeSaslname(expectAttribute(bareParts[0], 'n'), 'username')
  const clientNonce = expectAttribute(bareParts[1], 'r')
  assertNonce(clientNonce, 'client nonce')
  assertExtensions(bareParts.slice(2))
  return {
    flag,
    authzid,
    gs2Header: `${flagText},${authzidText},`,
    username,
    clientNonce,
    bare: bareParts.join(','),
  }
}

/** server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]. */
export function parseServerFirst(text: string): ServerFirstMessage {
  const parts = text.split(',')
  if (parts[0].startsWith('m=')) throw new ScramSyntaxError('mandatory extensions (m=) are not supported')
  if (parts.length < 3) throw new ScramSyntaxError('server-first-message needs r=, s= and i=')
  const nonce = expectAttribute(parts[0], 'r')
  assertNonce(nonce, 'nonce')
  const salt = expectBase64(expectAttribute(parts[1], 's'), 'salt')
  if (salt.length === 0) throw new ScramSyntaxError('the salt is empty')
  const iterationText = expectAttribute(parts[2], 'i')
  if (!POSITIVE_NUMBER.test(iterationText)) throw new ScramSyntaxError('the iteration count is not a positive number')
  const iterations = Number(iterationText)
  try {
    assertValidIterations(iterations)
  } catch {
    throw new ScramSyntaxError('the iteration count is too large')
  }

  assertExtensions(parts.slice(3))
  return {nonce, salt, iterations, text}
}

/** client-final-message = channel-binding "," nonce ["," extensions] "," proof. */
export function parseClientFinal(text: string): ClientFinalMessage {
  const parts = text.split(',')
  if (parts.length < 3) throw new ScramSyntaxError('client-final-message needs c=, r= and p=')
  const channelBinding = expectBase64(expectAttribute(parts[0], 'c'), 'channel binding')
  const nonce = expectAttribute(parts[1], 'r')
  assertNonce(nonce, 'nonce')
  const proof = expectBase64(expectAttribute(parts.at(-1) ?? '', 'p'), 'proof')
  assertExtensions(parts.slice(2, -1))
  return {channelBinding, nonce, proof, withoutProof: parts.slice(0, -1).join(',')}
}

/** server-final-message = (server-error / verifier) ["," extensions]. */
export function parseServerFinal(text: string): ServerFinalMessage {
  const parts = text.split(',')
  assertExtensions(parts.slice(1))
  if (parts[0].startsWith('e=')) {
    const error = parts[0].slice(2)
    if (!/^[^,=\0]+$/.test(error)) throw new ScramSyntaxError('the server error value is malformed')
    return {error}
  }

  return {verifier: expectBase64(expectAttribute(parts[0], 'v'), 'server signature')}
}

function parseChannelBindingFlag(text: string): ChannelBindingFlag {
  if (text === 'n' || text === 'y') return {kind: text}
  if (text.startsWith('p=') && CB_NAME.test(text.slice(2))) return {kind: 'p', type: text.slice(2)}
  throw new ScramSyntaxError('the gs2 channel-binding flag must be n, y or p=<cb-name>')
}

function expectAttribute(part: string | undefined, name: string): string {
  if (part === undefined || !part.startsWith(`${name}=`)) {
    throw new ScramSyntaxError(`expected the ${name}= attribute here (RFC 5802 §5 fixes the order)`)
  }

  const value = part.slice(name.length + 1)
  if (value.length === 0) throw new ScramSyntaxError(`the ${name}= attribute is empty`)
  return value
}

function expectBase64(text: string, what: string): Buffer {
  if (!BASE64.test(text)) throw new ScramSyntaxError(`the ${what} is not valid base64`)
  return Buffer.from(text, 'base64')
}

// Unknown extensions are ignored (RFC 5802 §5), but they must still be attr-val.
function assertExtensions(parts: string[]): void {
  for (const part of parts) {
    if (!EXTENSION.test(part)) throw new ScramSyntaxError('an extension attribute is malformed')
  }
}
