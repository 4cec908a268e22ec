/**
 * The server side of a SCRAM exchange (RFC 5802 §5), one implementation for
 * every hash and for the -PLUS variants (RFC 5802 §6, RFC 9266). Create one
 * per authentication attempt and feed each client message to `step`.
 */
import {createHmac, randomBytes} from 'node:crypto'

import type {ChannelBinding, SaslCondition, SaslFailure, SaslStep} from './outcome.js'
import {type AnnouncedSasl, downgradeProtectionHash} from './scram-downgrade.js'
import {prepareUsername} from './saslprep.js'
import {
  SCRAM_SALT_BYTES,
  type ScramCredentials,
  type ScramHash,
  assertValidIterations,
  constantTimeEqual,
  scramDigestBytes,
  scramMechanismName,
  serverSignature,
  verifyClientProof,
} from './scram.js'
import {
  type ClientFirstMessage,
  ScramSyntaxError,
  decodeScramText,
  formatServerFirst,
  parseClientFinal,
  parseClientFirst,
} from './scram-messages.js'

export interface ScramServerOptions {
  hash: ScramHash
  /** The client chose the -PLUS mechanism, so it must bind with `p=` (RFC 5802 §6). */
  plus?: boolean
  /** The channel bindings this connection can offer; none without TLS or behind a TLS-terminating proxy. */
  channelBindings?: readonly ChannelBinding[]
  /**
   * Whether -PLUS was offered on this connection. A client sending "y" (it can
   * bind but saw no -PLUS) is then a downgrade victim (RFC 5802 §6).
   * Defaults to whether `channelBindings` is non-empty.
   */
  advertisedPlus?: boolean
  /**
   * What the server announced on this connection. With it, server-first
   * carries XEP-0474's `h=` over these lists, so a client can tell whether
   * someone trimmed them; without it no `h=` is sent.
   */
  announced?: AnnouncedSasl
  /**
   * SCRAM downgrade protection, on by default. `false` (the host's
   * `disable_sasl_scram_downgrade_protection`) is for clients that break on
   * it: no `h=`, and "y" is accepted even where -PLUS was offered.
   */
  downgradeProtection?: boolean
  /** Credentials for a normalised username, or undefined when there is no such account. */
  lookup: (username: string, hash: ScramHash) => Promise<ScramCredentials | undefined>
  /**
   * How unknown users are disguised: `secret` (≥ 16 bytes, stable across
   * restarts, or a restart would change every fake salt and reveal them) keys
   * the fake salt; `iterations` should be what real accounts use.
   */
  unknownUser: {secret: Buffer; iterations: number}
  /**
   * Maps `n=` to the account name; throws for names that cannot exist. XMPP
   * passes the JID localpart normaliser. Defaults to SASLprep (RFC 5802 §5.1).
   * Normalising before the fake salt matters: otherwise "Alice" and "alice"
   * would share a salt only when the account exists.
   */
  normalizeUsername?: (username: string) => string
  /** Whether `username` may act as `authzid` (RFC 5802 §5.1 "a"); without it any authzid is refused. */
  authorize?: (username: string, authzid: string) => boolean | Promise<boolean>
  /** The server nonce part; printable ASCII without ",". Injected by tests. */
  nonce?: () => string
}

type State =
  | {phase: 'first'}
  | {
      phase: 'final'
      clientFirst: ClientFirstMessage
      serverFirst: string
      nonce: string
      username: string
      credentials: ScramCredentials
      known: boolean
      expectedChannelBinding: Buffer
    }
  | {phase: 'done'}

export class ScramServer {
  readonly mechanism: string
  private readonly options: ScramServerOptions
  private state: State = {phase: 'first'}

  constructor(options: ScramServerOptions) {
    if (options.unknownUser.secret.length < 16) throw new RangeError('the unknown-user secret must be at least 16 bytes')
    assertValidIterations(options.unknownUser.iterations)
    this.options = options
    this.mechanism = scramMechanismName(options.hash, options.plus ?? false)
  }

  /** Consumes client-first, then client-final; returns the challenge, success or failure. */
  async step(message: Buffer | string): Promise<SaslStep> {
    const {state} = this
    this.state = {phase: 'done'}
    try {
      if (state.phase === 'first') return await this.receiveClientFirst(decodeScramText(message))
      if (state.phase === 'final') return await this.receiveClientFinal(state, decodeScramText(message))
      return failure('malformed-request', 'the SCRAM exchange is already over')
    } catch (error) {
      if (error instanceof ScramSyntaxError) return failure('malformed-request', error.message, 'invalid-encoding')
      throw error
    }
  }

  private async receiveClientFirst(text: string): Promise<SaslStep> {
    const clientFirst = parseClientFirst(text)
    const channelBindingRefusal = this.checkChannelBindingFlag(clientFirst)
    if (channelBindingRefusal) return channelBindingRefusal

    let username: string
    let normalized = true
    try {
      username = (this.options.normalizeUsername ?? prepareUsername)(clientFirst.username)
    } catch {
      // A name that cannot be normalised cannot exist; fake it like any absent user.
      username = clientFirst.username
      normalized = false
    }

    let credentials: ScramCredentials | undefined
    if (normalized) {
      try {
        credentials = await this.options.lookup(username, this.options.hash)
      } catch (error) {
        return {...failure('temporary-auth-failure', 'the credentials could not be read', 'other-error'), cause: error}
      }
    }

    if (credentials !== undefined && credentials.hash !== this.options.hash) {
      return failure('temporary-auth-failure', `the lookup returned ${credentials.hash} credentials for ${this.mechanism}`, 'other-error')
    }

    const serverNonce = (this.options.nonce ?? randomNonce)()
    // A bad generator is our bug, not the client's: throw rather than blame the client.
    if (!/^[\x21-\x2B\x2D-\x7E]+$/.test(serverNonce)) throw new Error('the server nonce generator must return printable ASCII without ","')
    const nonce = clientFirst.clientNonce + serverNonce
    const known = credentials !== undefined
    const used = credentials ?? this.fakeCredentials(username)
    let serverFirst = formatServerFirst(nonce, used.salt, used.iterations)
    // XEP-0474 §4.1: an optional attribute, which RFC 5802 §5 has clients ignore when they do not know it.
    const {announced, downgradeProtection = true} = this.options
    if (announced && downgradeProtection) serverFirst += `,h=${downgradeProtectionHash(this.options.hash, announced)}`
    this.state = {
      phase: 'final',
      clientFirst,
      serverFirst,
      nonce,
      username,
      credentials: used,
      known,
      expectedChannelBinding: Buffer.concat([Buffer.from(clientFirst.gs2Header, 'utf8'), this.bindingData(clientFirst)]),
    }
    return {type: 'challenge', data: Buffer.from(serverFirst, 'utf8')}
  }

  private async receiveClientFinal(state: Extract<State, {phase: 'final'}>, text: string): Promise<SaslStep> {
    const clientFinal = parseClientFinal(text)
    if (clientFinal.nonce !== state.nonce) {
      return failure('malformed-request', 'the nonce in client-final differs from the one the server sent', 'other-error')
    }

    // c= must repeat the gs2 header, plus the binding data when p= (RFC 5802 §5.1 "c").
    if (!constantTimeEqual(clientFinal.channelBinding, state.expectedChannelBinding)) {
      return failure('not-authorized', 'the channel binding does not match this connection', 'channel-bindings-dont-match')
    }

    const {hash} = this.options
    const authMessage = Buffer.from(`${state.clientFirst.bare},${state.serverFirst},${clientFinal.withoutProof}`, 'utf8')
    // The proof is checked for unknown users too, against fake keys, so both take the same path and time.
    const proofValid = verifyClientProof(hash, state.credentials.storedKey, authMessage, clientFinal.proof)
    if (!proofValid || !state.known) return failure('not-authorized', 'wrong password or unknown user', 'invalid-proof')

    const {authzid} = state.clientFirst
    if (authzid !== undefined && !(await this.options.authorize?.(state.username, authzid))) {
      return failure('invalid-authzid', 'the user may not act as the requested authorization identity', 'other-error')
    }

    const signature = serverSignature(hash, state.credentials.serverKey, authMessage)
    return {
      type: 'success',
      data: Buffer.from(`v=${signature.toString('base64')}`, 'utf8'),
      username: state.username,
      ...(authzid === undefined ? {} : {authzid}),
    }
  }

  /** RFC 5802 §6: the flag must fit the chosen mechanism and what this connection offers. */
  private checkChannelBindingFlag(clientFirst: ClientFirstMessage): SaslFailure | undefined {
    const {flag} = clientFirst
    const plus = this.options.plus ?? false
    if (plus && flag.kind !== 'p') {
      return failure('malformed-request', `${this.mechanism} requires channel binding (p=), the client sent "${flag.kind}"`, 'other-error')
    }

    if (!plus && flag.kind === 'p') {
      return failure('malformed-request', `channel binding (p=) needs the -PLUS mechanism, not ${this.mechanism}`, 'other-error')
    }

    const advertisedPlus = this.options.advertisedPlus ?? (this.options.channelBindings ?? []).length > 0
    if (flag.kind === 'y' && advertisedPlus && (this.options.downgradeProtection ?? true)) {
      return failure(
        'not-authorized',
        'the client can bind but did not see -PLUS, which was offered: a downgrade',
        'server-does-support-channel-binding',
      )
    }

    if (flag.kind === 'p' && this.findBinding(flag.type) === undefined) {
      return failure('malformed-request', `channel binding type "${flag.type}" is not available on this connection`, 'unsupported-channel-binding-type')
    }

    return undefined
  }

  private bindingData(clientFirst: ClientFirstMessage): Buffer {
    return clientFirst.flag.kind === 'p' ? (this.findBinding(clientFirst.flag.type)?.data ?? Buffer.alloc(0)) : Buffer.alloc(0)
  }

  private findBinding(type: string): ChannelBinding | undefined {
    return this.options.channelBindings?.find((binding) => binding.type === type)
  }

  /**
   * Salt and keys for an absent user, derived from the username with an HMAC
   * keyed by the server secret: the same name always gets the same salt, as a
   * real account would, and nobody without the secret can tell them apart.
   */
  private fakeCredentials(username: string): ScramCredentials {
    const {hash} = this.options
    const {secret, iterations} = this.options.unknownUser
    const derive = (purpose: string, bytes: number): Buffer =>
      createHmac('sha512', secret).update(`xmppctl scram ${purpose}\0${hash}\0${username}`).digest().subarray(0, bytes)
    return {
      hash,
      salt: derive('salt', SCRAM_SALT_BYTES),
      iterations,
      storedKey: derive('stored-key', scramDigestBytes(hash)),
      serverKey: derive('server-key', scramDigestBytes(hash)),
    }
  }
}

function failure(condition: SaslCondition, reason: string, scramError?: string): SaslFailure {
  return {type: 'failure', condition, reason, ...(scramError === undefined ? {} : {scramError})}
}

/** 18 random bytes: 144 bits, and base64 of it has no padding or ",". */
function randomNonce(): string {
  return randomBytes(18).toString('base64')
}
