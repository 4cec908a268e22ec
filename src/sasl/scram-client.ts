/**
 * The client side of a SCRAM exchange (RFC 5802 §5), used by diagnostics
 * (`test-auth`, `audit remote`) and tests. One per authentication attempt:
 * firstMessage → finalMessage(server-first) → verifyServerFinal(server-final).
 */
import {randomBytes} from 'node:crypto'

import {ExitCode, XmppctlError} from '../errors.js'
import type {ChannelBinding} from './outcome.js'
import {type AnnouncedSasl, downgradeProtectionHash} from './scram-downgrade.js'
import {preparePassword, prepareUsername} from './saslprep.js'
import {
  type ScramHash,
  clientKey,
  clientProof,
  clientSignature,
  constantTimeEqual,
  saltedPassword,
  scramMechanismName,
  serverKey,
  serverSignature,
  storedKey,
} from './scram.js'
import {
  type ChannelBindingFlag,
  ScramSyntaxError,
  assertNonce,
  decodeScramText,
  formatClientFinalWithoutProof,
  formatClientFirstBare,
  formatGs2Header,
  parseServerFinal,
  parseServerFirst,
} from './scram-messages.js'

/**
 * Iteration counts above this are refused: a hostile server could otherwise
 * make the client spin for minutes. Real deployments use 4096 to a few 100 000.
 */
export const DEFAULT_MAX_CLIENT_ITERATIONS = 10_000_000

/** The server misbehaved or refused us; `kind` says how, for diagnostics. */
export class ScramClientError extends XmppctlError {
  readonly kind: 'malformed' | 'server-error' | 'server-signature' | 'state' | 'downgrade'

  constructor(kind: ScramClientError['kind'], message: string) {
    super('scram-failed', message, {exitCode: ExitCode.false})
    this.name = 'ScramClientError'
    this.kind = kind
  }
}

export interface ScramClientOptions {
  hash: ScramHash
  username: string
  password: string
  /** Authorization identity to request (`a=`), RFC 5802 §5.1. */
  authzid?: string
  /** Bind to the TLS channel: selects the -PLUS mechanism and sends `p=<type>` (RFC 5802 §6). */
  channelBinding?: ChannelBinding
  /**
   * Without `channelBinding`: whether this client could bind had the server
   * offered -PLUS. Sends "y" instead of "n", so a server that did offer -PLUS
   * detects that someone stripped it (RFC 5802 §6).
   */
  supportsChannelBinding?: boolean
  /**
   * The mechanisms and channel-binding types the server announced, as this
   * client received them. When server-first carries XEP-0474's `h=`, it must
   * match their hash, or the lists were trimmed on the way (a downgrade).
   */
  announced?: AnnouncedSasl
  /** Refuse a server-first without `h=` (pinned: this server is known to send it). */
  requireDowngradeProtection?: boolean
  /** The client nonce; printable ASCII without ",". Injected by tests. */
  nonce?: () => string
  maxIterations?: number
}

export class ScramClient {
  readonly mechanism: string
  private readonly hash: ScramHash
  private readonly gs2Header: string
  private readonly clientFirstBare: string
  private readonly clientNonce: string
  private readonly channelBindingData: Buffer
  private readonly maxIterations: number
  private readonly announced: AnnouncedSasl | undefined
  private readonly requireDowngradeProtection: boolean
  /** Whether server-first carried an `h=` that matched what was announced (XEP-0474). */
  downgradeProtected = false
  private preparedPassword: string | undefined
  private expectedServerSignature: Buffer | undefined

  /** Throws PasswordError when SASLprep refuses the username or password. */
  constructor(options: ScramClientOptions) {
    this.hash = options.hash
    this.mechanism = scramMechanismName(options.hash, options.channelBinding !== undefined)
    this.preparedPassword = preparePassword(options.password)
    this.clientNonce = (options.nonce ?? (() => randomBytes(18).toString('base64')))()
    assertNonce(this.clientNonce, 'client nonce')
    const flag: ChannelBindingFlag = options.channelBinding
      ? {kind: 'p', type: options.channelBinding.type}
      : {kind: options.supportsChannelBinding ? 'y' : 'n'}
    this.gs2Header = formatGs2Header(flag, options.authzid)
    this.channelBindingData = options.channelBinding?.data ?? Buffer.alloc(0)
    this.clientFirstBare = formatClientFirstBare(prepareUsername(options.username), this.clientNonce)
    this.maxIterations = options.maxIterations ?? DEFAULT_MAX_CLIENT_ITERATIONS
    this.announced = options.announced
    this.requireDowngradeProtection = options.requireDowngradeProtection ?? false
  }

  /** client-first-message: gs2 header + `n=…,r=…`. */
  firstMessage(): Buffer {
    return Buffer.from(this.gs2Header + this.clientFirstBare, 'utf8')
  }

  /** Checks server-first and answers with client-final, proof included. */
  async finalMessage(serverFirstMessage: Buffer | string): Promise<Buffer> {
    const password = this.preparedPassword
    if (password === undefined) throw new ScramClientError('state', 'finalMessage was already called for this exchange')
    this.preparedPassword = undefined
    const serverFirst = parseOrThrow(() => parseServerFirst(decodeScramText(serverFirstMessage)), 'server-first-message')
    // The server must extend our nonce, or it could replay an old exchange (RFC 5802 §5.1 "r").
    if (!serverFirst.nonce.startsWith(this.clientNonce) || serverFirst.nonce.length === this.clientNonce.length) {
      throw new ScramClientError('malformed', 'the server nonce does not extend the client nonce')
    }

    if (serverFirst.iterations > this.maxIterations) {
      throw new ScramClientError('malformed', `the server asks for ${serverFirst.iterations} iterations, more than the ${this.maxIterations} allowed`)
    }

    this.checkDowngradeProtection(serverFirst.text)

    const {hash} = this
    const salted = await saltedPassword(hash, password, serverFirst.salt, serverFirst.iterations)
    const channelBinding = Buffer.concat([Buffer.from(this.gs2Header, 'utf8'), this.channelBindingData])
    const withoutProof = formatClientFinalWithoutProof(channelBinding, serverFirst.nonce)
    const authMessage = Buffer.from(`${this.clientFirstBare},${serverFirst.text},${withoutProof}`, 'utf8')
    const key = clientKey(hash, salted)
    const proof = clientProof(key, clientSignature(hash, storedKey(hash, key), authMessage))
    this.expectedServerSignature = serverSignature(hash, serverKey(hash, salted), authMessage)
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8')
  }

  /** XEP-0474 §4.2: the client hashes what it saw announced and compares with `h=`. */
  private checkDowngradeProtection(serverFirstText: string): void {
    const h = serverFirstText.split(',').find((part) => part.startsWith('h='))?.slice(2)
    if (h === undefined) {
      if (this.requireDowngradeProtection) throw new ScramClientError('downgrade', 'the server sent no downgrade-protection hash (h=, XEP-0474) though it is expected to')
      return
    }

    if (this.announced === undefined) return
    const expected = downgradeProtectionHash(this.hash, this.announced)
    if (!constantTimeEqual(Buffer.from(h, 'utf8'), Buffer.from(expected, 'utf8'))) {
      throw new ScramClientError(
        'downgrade',
        'the mechanisms or channel-binding types this client saw differ from those the server announced (XEP-0474 h= mismatch): someone in the middle trimmed them',
      )
    }

    this.downgradeProtected = true
  }

  /** Throws ScramClientError unless server-final proves the server holds our credentials. */
  verifyServerFinal(serverFinalMessage: Buffer | string): void {
    const expected = this.expectedServerSignature
    if (expected === undefined) throw new ScramClientError('state', 'verifyServerFinal called before finalMessage')
    this.expectedServerSignature = undefined
    const serverFinal = parseOrThrow(() => parseServerFinal(decodeScramText(serverFinalMessage)), 'server-final-message')
    if ('error' in serverFinal) throw new ScramClientError('server-error', `the server refused authentication: ${serverFinal.error}`)
    if (!constantTimeEqual(serverFinal.verifier, expected)) {
      throw new ScramClientError('server-signature', 'the server signature is wrong: the server does not hold these credentials, or the exchange was tampered with')
    }
  }
}

function parseOrThrow<T>(parse: () => T, what: string): T {
  try {
    return parse()
  } catch (error) {
    if (error instanceof ScramSyntaxError) throw new ScramClientError('malformed', `the ${what} is malformed: ${error.message}`)
    throw error
  }
}
