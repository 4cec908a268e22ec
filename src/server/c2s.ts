/**
 * One client-to-server connection (RFC 6120): stream headers and features,
 * STARTTLS (§5), SASL through the host's authenticator (§6), resource
 * binding (§7), then stanzas handed to the IM layer. Each connection parses
 * and fails on its own: whatever one client sends ends at most its stream.
 */
import net from 'node:net'
import tls from 'node:tls'

import type {ChannelBindingType, ConnectionSecurity, SaslSession, SaslStep} from '../sasl/session.js'
import type {HostAuthenticator} from '../auth/types.js'
import type {Configuration, HostSettings} from '../config/index.js'
import type {AnnouncedConnection} from '../sasl/mechanisms/index.js'
import type {AnnouncedSasl} from '../sasl/scram-downgrade.js'
import {normalizeLocalpart} from '../jid/index.js'
import {parsePlainMessage, stripHost} from '../sasl/mechanisms/plain.js'
import {decodeScramText, parseClientFirst} from '../sasl/scram-messages.js'
import {CSI_NS, HeldStanzas} from './client-state.js'
import {type AuthAttempt, type AuthThrottle, type Refusal} from './throttle.js'
import type {Logger} from './log.js'
import {NS} from '../xml/namespaces.js'
import {type Jid, bareJid, fullJid, parseJid} from './jid.js'
import {randomToken} from './random.js'
import {Shaper, type ShaperRate} from './shaper.js'
import {SM_NS, StreamManagement, type StreamManagementState, parseCount, resumptionWindow} from './stream-management.js'
import {type StreamErrorCondition, errorReply, iqResult, streamError} from './stanza.js'
import {Element, x} from '../xml/element.js'
import {type Framing, STREAM_FRAMING, type StreamReader} from './framing.js'
import {type ParserEvent, type ParserLimits, parseElement} from '../xml/parser.js'

export interface ListenerSettings {
  port: number
  ip: string
  tls: boolean
  starttls: 'required' | 'optional' | 'disabled'
}

/**
 * What carries a session when it is not a TCP stream of its own: a
 * WebSocket (RFC 7395) or BOSH (XEP-0206) connection, whose `socket` is a
 * duplex of whole messages and whose security is the HTTP connection's.
 */
export interface SessionTransport {
  framing: Framing
  encrypted: boolean
  remoteAddress: string
  /** For logs: `ws`, `bosh`. */
  kind: string
}

export interface SessionLimits extends ParserLimits {
  /** maxStanzaBytes before authentication: SASL needs a few KB, and unauthenticated memory is anyone's. */
  maxStanzaBytesUnauthenticated: number
  /** Milliseconds a connection may take to authenticate and bind (`connection-timeout`). */
  authTimeoutMs: number
  /** Milliseconds a direct-TLS connection may take to finish its handshake. */
  tlsHandshakeTimeoutMs: number
  /** Open connections from one address. */
  maxConnectionsPerAddress: number
  /** Connections from one address that have not bound a resource yet. */
  maxUnauthenticatedPerAddress: number
  /** Resources one account may bind at once. */
  maxUserSessions: number
  /** Milliseconds a session with resumption waits for its client after the connection is lost (XEP-0198 `max`; mod_stream_mgmt's resume_timeout). */
  resumeTimeoutMs: number
  /** Milliseconds a client may ask for instead (max_resume_timeout); undefined: resumeTimeoutMs. */
  maxResumeTimeoutMs: number | undefined
  /** Stanzas a client may leave unacknowledged before its stream ends (XEP-0198). */
  maxUnacknowledged: number
  /** How fast a logged-in client may send (ejabberd's c2s_shaper); undefined: unlimited. */
  shaper: ShaperRate | undefined
  /** Failed SASL attempts per stream before `policy-violation` (RFC 6120 §6.4.5). */
  maxAuthFailures: number
  /** Bytes queued for a client that does not read before it is disconnected. */
  maxWriteBuffer: number
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxStanzaBytes: 256 * 1024,
  maxStanzaBytesUnauthenticated: 16 * 1024,
  maxDepth: 64,
  authTimeoutMs: 60_000,
  tlsHandshakeTimeoutMs: 10_000,
  maxConnectionsPerAddress: 1000,
  maxUnauthenticatedPerAddress: 64,
  maxUserSessions: 10,
  resumeTimeoutMs: 300_000,
  maxResumeTimeoutMs: undefined,
  maxUnacknowledged: 10_000,
  shaper: undefined,
  maxAuthFailures: 3,
  maxWriteBuffer: 4 * 1024 * 1024,
}

/** What a session needs from the server; kept narrow so sessions can be tested alone. */
export interface SessionHost {
  readonly config: Configuration
  readonly logger: Logger
  readonly limits: SessionLimits
  readonly throttle: AuthThrottle
  authenticator(host: string): HostAuthenticator | undefined
  /** `config.forHost(host)`, kept until the configuration is reloaded. */
  hostSettings(host: string): HostSettings
  secureContext(host: string): tls.SecureContext | undefined
  /**
   * Binds the session's resource; the router replaces an older session with
   * the same full JID. False when the account has all the sessions it may have
   * (never for `resumed`, a session another node handed over: it counted there).
   */
  bind(session: C2sSession, resumed?: boolean): boolean
  /** Settles once a session just bound can be reached from wherever stanzas for it come from (Router.registration). */
  registration(session: C2sSession): Promise<void> | undefined
  /** A stanza from a bound session. */
  stanza(session: C2sSession, stanza: Element): Promise<void>
  /** What modules add to <stream:features/> after authentication. */
  streamFeatures(): readonly Element[]
  /** XEP-0198: whether a module (mod_stream_mgmt) enables stream management. */
  readonly streamManagement: boolean
  /** XEP-0352: whether a module enables client state indication. */
  readonly clientStateIndication: boolean
  /** XEP-0352: whether `stanza` may wait while the client is inactive. */
  canWait(stanza: Element): boolean
  closed(session: C2sSession): void
  /** Remembers a session its client may resume (XEP-0198), by its resumption id. */
  resumable(id: string, session: C2sSession): void
  /** The session `id` names, if it is the same account's and still resumable; it is forgotten. */
  takeResumable(id: string, claimant: C2sSession): C2sSession | undefined
  forgetResumable(id: string, session: C2sSession): void
  /** A new resumption id (XEP-0198 §5); in a cluster it names this node. */
  resumptionId(): string
  /**
   * XEP-0198 §5 in a cluster: asks the node that holds the session `id`
   * names to hand it over to `claimant`, after the client's count `h`.
   * Settles once `claimant` continues the session (undefined: it sent
   * <resumed/>), or with why not; undefined at once when no other node
   * holds it (no cluster, or an id of this node's).
   */
  resumeElsewhere(id: string, h: number, claimant: C2sSession): Promise<ResumeRefusal | undefined> | undefined
  /** The session went to another node (handOff): it leaves the connections and the router without a word to anyone. */
  handedOff(session: C2sSession): void
  /** What modules keep of the session in memory, for the node it moves to (JSON). */
  sessionState(session: C2sSession): Record<string, unknown>
  /** What modules kept of a session on the node it came from. */
  adoptSessionState(session: C2sSession, state: Record<string, unknown>): void
  /** Stanzas the client never acknowledged when its session ended: messages go to offline storage. */
  unacknowledged(session: C2sSession, stanzas: readonly string[]): Promise<void>
}

/** Why another node did not hand a session over: none of that account with that id, or the client's count is higher than what was sent (§4). */
export type ResumeRefusal = {condition: 'item-not-found'} | {handled: number; sent: number}

/**
 * What modules keep of a session that decides what other nodes of a cluster
 * send it, by module name (PEP's +notify features, interest in blocklist
 * pushes): JSON values, never changed in place (Router.share replaces them).
 */
export type SharedSessionState = Readonly<Record<string, unknown>>
export const NOTHING_SHARED: SharedSessionState = Object.freeze({})

/**
 * A session on its way from one cluster node to another, whose client
 * resumes it there (XEP-0198 §5), as JSON: what the new node needs to
 * continue it. What modules keep per session goes in `shared` or, if only
 * the holding node needs it, in `modules` where it is cheap to carry (PEP's
 * entity capabilities and their features); see C2sSession.handOff for what
 * does not.
 */
export interface HandedOverSession {
  jid: string
  priority: number
  available: boolean
  /** The last available presence, serialised. */
  presence?: string
  carbons: boolean
  interested: boolean
  /** C2sSession.shared. */
  shared?: SharedSessionState
  /** The client said it was inactive (XEP-0352): what was held is in the queue, and holding goes on on the new node. */
  inactive: boolean
  sm: StreamManagementState
  modules: Record<string, unknown>
}

/** What handOff gives: a refusal, or the session and what to call once the other node has it (true) or cannot take it (false). */
export type HandOff = {refused: ResumeRefusal} | {session: HandedOverSession; settle(delivered: boolean): void; connection?: net.Socket}

/** `detached`: the connection is gone, and the session waits for the client to resume it (XEP-0198). */
type Phase = 'header' | 'open' | 'detached' | 'closed'

/** How long a login may wait for other logins from its address to be decided before a full address refuses it. */
const PENDING_WAIT_MS = 10_000

/** Stanzas held for an inactive client before they all go out anyway: bounded memory per session. */
const MAX_HELD_STANZAS = 500

/** Bytes queued for a client below which paced writers (offline delivery) go on writing. */
const PACED_QUEUE_BYTES = 256 * 1024

/**
 * The channel bindings of a TLS connection, each computed on first use: only
 * a client that chooses a -PLUS mechanism needs the data, and every stream
 * after STARTTLS asks which types exist.
 */
function channelBindingsOf(socket: tls.TLSSocket, tlsUniqueOnTls13: boolean): Partial<Record<ChannelBindingType, Buffer>> {
  const bindings: Partial<Record<ChannelBindingType, Buffer>> = {}
  const lazily = (type: ChannelBindingType, compute: () => Buffer) => {
    let data: Buffer | undefined
    Object.defineProperty(bindings, type, {enumerable: true, get: () => (data ??= compute())})
  }

  const version = socket.getProtocol()
  if (version === 'TLSv1.3') {
    // RFC 9266: tls-exporter, label "EXPORTER-Channel-Binding", empty context.
    lazily('tls-exporter', () => socket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0)))
    // Not announced, only accepted (src/auth/offer.ts): the first Finished of
    // the handshake, as ejabberd and OpenSSL-based clients (Python's ssl) take it.
    if (tlsUniqueOnTls13) lazily('tls-unique', () => (socket.isSessionReused() ? socket.getFinished() : socket.getPeerFinished()) ?? Buffer.alloc(0))
  } else if (version === 'TLSv1.2') {
    // RFC 5929 §3.1: the first Finished of the latest handshake: the client's
    // on a full handshake, ours on a resumed one.
    const finished = socket.isSessionReused() ? socket.getFinished() : socket.getPeerFinished()
    if (finished) bindings['tls-unique'] = finished
  }

  return bindings
}

/**
 * The account a PLAIN or SCRAM message names, normalised as the mechanism
 * will (`U5`, `ｕ５` and `u5@host` are all `u5@host`), for throttling only;
 * undefined when it names none the mechanism could accept.
 */
function claimedAccount(mechanism: string, data: Buffer, host: string): string | undefined {
  let name: string | undefined
  try {
    if (mechanism === 'PLAIN') {
      const authcid = parsePlainMessage(data)?.authcid
      name = authcid === undefined ? undefined : stripHost(authcid, host)
    } else if (mechanism.startsWith('SCRAM-')) name = parseClientFirst(decodeScramText(data)).username
    return name === undefined ? undefined : `${normalizeLocalpart(name)}@${host}`
  } catch {
    return undefined
  }
}

let sessionCounter = 0

export class C2sSession {
  readonly serial = ++sessionCounter
  readonly server: SessionHost
  readonly listener: ListenerSettings
  readonly remoteAddress: string
  readonly connectedAt = Date.now()
  socket: net.Socket
  encrypted: boolean
  streamId = ''
  host: string | undefined
  /** The authenticated localpart; set by SASL success. */
  username: string | undefined
  private boundJid: Jid | undefined
  /** Kept as strings: every stanza looks sessions and cached lists up by them, and a string built at each use is hashed anew. */
  private boundFull = ''
  private boundBare = ''
  /** Sent initial presence and not since unavailable (RFC 6121 §4.2). */
  available = false
  presence: Element | undefined
  priority = 0
  /** Requested the roster, so it gets roster pushes (RFC 6121 §2.1.6). */
  interested = false
  /** Enabled message carbons (XEP-0280 §4). Kept on the session, not in mod_carbons, so that a cluster's registry carries it. */
  carbons = false
  /** What modules keep of this session that the other nodes of a cluster need to know too (Router.share). */
  shared: SharedSessionState = NOTHING_SHARED
  /** Offline messages being delivered to this session, if they are. */
  offlineDelivery: Promise<void> | undefined

  private phase: Phase = 'header'
  private parser: StreamReader
  private framing: Framing
  /** `c2s`, or the HTTP transport's name, for logs. */
  readonly kind: string
  private generation = 0
  private queue: Promise<void> = Promise.resolve()
  private pending = 0
  /** The exchange in progress; `account` is read from its first message that is not empty, null when that names none. */
  private sasl: {session: SaslSession; mechanism: string; attempt: AuthAttempt; account?: string | null} | undefined
  /** The mechanisms and channel-binding types of the last <stream:features/>, which SCRAM signs (XEP-0474). */
  private announced: AnnouncedSasl | undefined
  /** security() of the current stream: the features and the SASL exchange that follows share one computation. */
  private streamSecurity: ConnectionSecurity | undefined
  private authFailures = 0
  /** Set once the client has authenticated (unauthenticated streams have their own, smaller limits). */
  private shaper: Shaper | undefined
  /** What waits while the client says it is inactive (XEP-0352); undefined while it is active. Dropped if the session ends: presence and chat states are stale by then. */
  private held: HeldStanzas | undefined
  /** XEP-0198 state, once the client enabled stream management. */
  private sm: StreamManagement | undefined
  private hibernation: NodeJS.Timeout | undefined
  /** The handlers attach() put on the current socket, so that they (and only they) can be taken off. */
  private handlers:
    | {socket: net.Socket; data: (chunk: Buffer) => void; error: (error: Error) => void; close: () => void; end: () => void; undelivered: (texts: string[]) => void}
    | undefined
  /** Set while the shaper holds reading paused; the latest pause replaces the earlier (its debt includes theirs). */
  private shaperTimer: NodeJS.Timeout | undefined
  private deadline: NodeJS.Timeout | undefined
  private cleanedUp = false

  constructor(server: SessionHost, socket: net.Socket, listener: ListenerSettings, transport?: SessionTransport) {
    this.server = server
    this.socket = socket
    this.listener = listener
    this.framing = transport?.framing ?? STREAM_FRAMING
    this.kind = transport?.kind ?? 'c2s'
    this.encrypted = transport?.encrypted ?? socket instanceof tls.TLSSocket
    this.remoteAddress = transport?.remoteAddress ?? socket.remoteAddress ?? 'unknown'
    this.parser = this.framing.reader(this.parserLimits())
    this.deadline = setTimeout(() => this.close('connection-timeout', 'authenticate within the time allowed'), server.limits.authTimeoutMs)
    this.deadline.unref()
    this.attach(socket)
  }

  get bound(): boolean {
    return this.jid !== undefined
  }

  get jid(): Readonly<Jid> | undefined {
    return this.boundJid
  }

  set jid(jid: Jid | undefined) {
    this.boundJid = jid ? Object.freeze({...jid}) : undefined
    this.boundFull = jid ? fullJid(jid) : ''
    this.boundBare = jid ? bareJid(jid) : ''
  }

  get fullJid(): string {
    return this.boundFull
  }

  get bareJid(): string {
    return this.boundBare
  }

  /** A session is its own sender (modules/types.ts Sender): the one kind of sender with resources on this server. */
  get localSession(): C2sSession {
    return this
  }

  /** The XEP-0198 resumption id, when the client enabled resumption. */
  get resumptionId(): string | undefined {
    return this.sm?.id
  }

  get tlsVersion(): string | undefined {
    return this.socket instanceof tls.TLSSocket ? (this.socket.getProtocol() ?? undefined) : undefined
  }

  security(): ConnectionSecurity {
    if (this.streamSecurity) return this.streamSecurity
    const socket = this.socket
    this.streamSecurity = {
      encrypted: this.encrypted,
      ...(this.tlsVersion ? {tlsVersion: this.tlsVersion} : {}),
      channelBindings: socket instanceof tls.TLSSocket && this.encrypted ? channelBindingsOf(socket, this.host !== undefined && this.server.hostSettings(this.host).allow_tls_unique_on_tls13) : {},
      remoteAddress: this.remoteAddress,
    }
    return this.streamSecurity
  }

  /**
   * Sends a stanza: held while the client is inactive if it may wait
   * (XEP-0352), counted and kept until acknowledged under stream management,
   * kept while detached. `receipt` is called once the stanza left this
   * node's hands: written (without stream management), acknowledged by the
   * client, stored offline or handed over with the session; and at once for
   * what is dropped or held (what may wait is stale if lost). A cluster
   * acknowledges a message to the node that sent it then (cluster.ts).
   */
  send(data: Element | string, receipt?: () => void): void {
    if (this.phase === 'closed') return receipt?.()
    if (this.held) {
      if (typeof data !== 'string' && this.server.canWait(data)) {
        if (!this.held.hold(data)) this.releaseHeld()
        return receipt?.()
      }

      // What cannot wait goes after what waited: the client sees stanzas in the order they were sent.
      if (this.held.size > 0) this.releaseHeld()
    }

    this.transmit(data, receipt)
  }

  /**
   * Sends a stanza that another node of the cluster serialised as this
   * stream writes it (jabber:client in scope): written as it is, and parsed
   * only when the client is inactive, to tell whether it may wait.
   */
  sendSerialized(text: string, receipt?: () => void): void {
    if (!this.held) return this.send(text, receipt)
    const element = parseElement(text, NS.client)
    if (element) this.send(element, receipt)
    else receipt?.()
  }

  private releaseHeld(): void {
    for (const stanza of this.held?.release() ?? []) this.transmit(stanza)
  }

  private transmit(data: Element | string, receipt?: () => void): void {
    const text = typeof data === 'string' ? data : data.toString(NS.client)
    if (this.sm && !this.sm.sent(text, receipt)) {
      this.close('policy-violation', `more than ${this.server.limits.maxUnacknowledged} stanzas left unacknowledged`)
      return
    }

    if (this.phase === 'detached') return
    this.batch()
    if (this.write(text) || this.sm) {
      if (!this.sm) receipt?.()
      return
    }

    // A connection that can no longer take it, and no stream management to keep it for the session's end: the
    // stanza is undelivered (RFC 6121 §8.5.2.2: a message is stored offline or returned to its sender), not lost.
    void this.server
      .unacknowledged(this, [text])
      .catch((error: unknown) => this.server.logger.error(`c2s ${this.serial} ${this.fullJid}: a stanza its connection could not take: ${String(error)}`))
      .finally(() => receipt?.())
  }

  /**
   * Writes to the connection as it is: stream headers, features, negotiation
   * and stream-management elements, and stanzas through send(). Says whether
   * the text went to the connection: not once the client hung up (its end of
   * the connection is closed, and ours follows) or stopped reading.
   */
  private write(text: string): boolean {
    const socket = this.socket
    if (this.phase === 'closed' || this.phase === 'detached' || socket.destroyed || !socket.writable || socket.readableEnded) return false
    // What is queued before this stanza tells whether the client reads: one
    // large stanza (a roster, a backlog page) is not by itself a sign it does not.
    if (socket.writableLength > this.server.limits.maxWriteBuffer + this.resentBytes) {
      this.server.logger.warn(`c2s ${this.serial} ${this.remoteAddress}: disconnected, not reading (${socket.writableLength} bytes queued)`)
      socket.destroy()
      return false
    }

    socket.write(this.framing.element(text))
    return true
  }

  /**
   * Stanzas sent in one turn of the event loop leave as one TLS record and
   * one system call: a burst of small stanzas otherwise costs one
   * encryption and one write each. Only stanzas: negotiation (STARTTLS's
   * <proceed/> above all) must leave before the socket changes hands.
   */
  private batch(): void {
    if (this.corkedSocket || this.socket.destroyed) return
    const socket = this.socket
    this.corkedSocket = socket
    socket.cork()
    process.nextTick(() => {
      this.corkedSocket = undefined
      // XEP-0198 §4: one request after the burst, in the same write.
      if (socket === this.socket && this.sm?.requestAck()) this.write(`<r xmlns='${SM_NS}'/>`)
      socket.uncork()
    })
  }

  private corkedSocket: net.Socket | undefined
  /** Bytes resent at the last resumption that the client has not read yet (resendUnacknowledged()). */
  private resentBytes = 0

  /**
   * Resolves once the client has read what is queued for it down to a
   * little (true), or the connection has ended (false): writers of bulk
   * data wait here instead of filling the queue up to maxWriteBuffer.
   */
  async drained(): Promise<boolean> {
    for (;;) {
      const socket = this.socket
      if (this.phase === 'closed' || socket.destroyed) return false
      // A BOSH session's queue waits for the client's next request, beyond the stream's own buffer.
      if (socket.writableLength + ((socket as Partial<{pendingBytes: number}>).pendingBytes ?? 0) < PACED_QUEUE_BYTES) return true
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done)
          socket.off('close', done)
          resolve()
        }

        socket.on('drain', done)
        socket.on('close', done)
      })
    }
  }

  /** Writes `data`; resolves true once it has left for the client (or stream management holds it), false if the connection ended first. */
  sendConfirmed(data: string): Promise<boolean> {
    const socket = this.socket
    if (this.phase !== 'open' || socket.destroyed) return Promise.resolve(false)
    // Under stream management the session's queue keeps the stanza until acknowledged, whatever the write does: it is
    // sent again on resumption or stored at the session's end, so the sender (offline delivery) must keep no copy too.
    if (this.sm && !this.sm.sent(data)) {
      // Past max_ack_queue: the stream ends, as for any stanza (transmit()); the queue holds this one too.
      this.close('policy-violation', `more than ${this.server.limits.maxUnacknowledged} stanzas left unacknowledged`)
      return Promise.resolve(true)
    }

    if (this.sm) this.batch()
    return new Promise((resolve) => socket.write(this.framing.element(data), (error) => resolve(!error || this.sm !== undefined)))
  }

  /** Ends the stream, with a stream error when `condition` is given (RFC 6120 §4.9). */
  close(condition?: StreamErrorCondition, text?: string): void {
    if (this.phase === 'closed') return
    if (this.phase === 'detached') {
      // No connection to write to: the session just ends.
      this.phase = 'closed'
      this.cleanup()
      return
    }

    if (condition) {
      if (this.phase === 'header') this.sendHeader()
      this.server.logger.info(`c2s ${this.serial} ${this.remoteAddress}${this.jid ? ` ${this.fullJid}` : ''}: stream error ${condition}${text ? ` (${text})` : ''}`, `stream error ${condition}`)
      this.socket.write(this.framing.element(streamError(condition, text)))
    }

    if (this.phase !== 'header' || condition) this.socket.write(this.framing.footer())
    this.phase = 'closed'
    this.socket.end()
    setTimeout(() => this.socket.destroy(), 2000).unref()
    this.cleanup()
  }

  private attach(socket: net.Socket): void {
    const handlers = {
      socket,
      data: (chunk: Buffer) => this.onData(chunk),
      error: (error: Error) => this.server.logger.debug(`c2s ${this.serial} ${this.remoteAddress}: socket error ${error.message}`),
      close: () => this.afterReceived(socket, () => this.connectionLost()),
      end: () =>
        this.afterReceived(socket, () => {
          // The peer hung up without closing the stream: no one is left to read a closing tag.
          if (this.phase === 'closed' || this.phase === 'detached') return
          socket.end()
          this.connectionLost()
        }),
      // What a WebSocket or BOSH transport took and then could not pass on (its client left): without stream
      // management, which keeps its own copies, the stanzas are undelivered (RFC 6121 §8.5.2.2), not lost.
      undelivered: (texts: string[]) => {
        if (this.sm) return
        this.server.unacknowledged(this, texts).catch((error: unknown) => this.server.logger.error(`c2s ${this.serial} ${this.fullJid}: stanzas its transport could not pass on: ${String(error)}`))
      },
    }
    socket.on('data', handlers.data)
    socket.on('error', handlers.error)
    socket.on('close', handlers.close)
    socket.on('end', handlers.end)
    socket.on('undelivered', handlers.undelivered)
    this.handlers = handlers
  }

  /**
   * Runs `then` once the stanzas already read from `socket` are handled: a
   * client that sends its last messages and hangs up at once (sendxmpp
   * does) has them all delivered or stored (RFC 6120 §4.4), not dropped
   * because the connection's end overtook them. Nothing runs when the
   * session moved to another connection meanwhile (XEP-0198 resumption).
   */
  private afterReceived(socket: net.Socket, then: () => void): void {
    this.queue = this.queue
      .then(() => {
        if (this.socket === socket) then()
      })
      .catch((error: unknown) => this.server.logger.error(`c2s ${this.serial}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`))
  }

  /** Takes this session's handlers off its socket; other listeners (the server's per-address count) stay. */
  private detach(): net.Socket {
    const {socket, data, error, close, end, undelivered} = this.handlers!
    socket.off('data', data)
    socket.off('close', close)
    socket.off('end', end)
    socket.off('undelivered', undelivered)
    // Errors after this are the new owner's; ignore them rather than crash on an unhandled 'error'.
    socket.off('error', error)
    socket.on('error', () => {})
    this.handlers = undefined
    return socket
  }

  /**
   * The connection is gone without a closing tag. A session with resumption
   * waits for its client (XEP-0198 §5); any other ends.
   */
  private connectionLost(): void {
    if (this.phase === 'closed' || this.phase === 'detached') return
    if (this.sm?.id !== undefined && this.bound) {
      this.phase = 'detached'
      this.server.logger.debug(`c2s ${this.serial} ${this.fullJid}: connection lost, resumable for ${this.sm.resumeTimeoutMs / 1000} s`)
      this.hibernation = setTimeout(() => {
        if (this.phase !== 'detached') return
        this.phase = 'closed'
        this.cleanup()
      }, this.sm.resumeTimeoutMs)
      this.hibernation.unref()
      return
    }

    this.phase = 'closed'
    this.cleanup()
  }

  private cleanup(): void {
    if (this.cleanedUp) return
    this.cleanedUp = true
    // An exchange cut off before its verdict taught the client nothing: its place in the throttle's counts is given back.
    this.sasl?.attempt.cancel()
    this.sasl?.session.dispose?.()
    this.sasl = undefined
    clearTimeout(this.deadline)
    clearTimeout(this.shaperTimer)
    clearTimeout(this.hibernation)
    if (this.sm?.id !== undefined) this.server.forgetResumable(this.sm.id, this)
    const receipts = this.sm?.takeReceipts() ?? []
    if (this.sm && this.sm.unacknowledged.length > 0) {
      this.server
        .unacknowledged(this, [...this.sm.unacknowledged])
        .catch((error: unknown) => this.server.logger.error(`unacknowledged stanzas of ${this.fullJid}: ${String(error)}`))
        // Their senders' nodes hear of them once they are stored (or could not be): until then those nodes keep them too.
        .finally(() => {
          for (const receipt of receipts) receipt()
        })
    } else for (const receipt of receipts) receipt()

    this.server.closed(this)
  }

  private onData(chunk: Buffer): void {
    if (this.phase === 'closed') return
    this.shape(chunk.length)
    const generation = this.generation
    for (const event of this.parser.write(chunk)) {
      this.pending++
      if (this.pending > 64) this.socket.pause()
      this.queue = this.queue
        .then(() => (generation === this.generation && this.phase !== 'closed' ? this.handle(event) : undefined))
        .catch((error: unknown) => {
          this.server.logger.error(`c2s ${this.serial}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
          this.close('internal-server-error')
        })
        .finally(() => {
          this.pending--
          this.resumeReading()
        })
    }
  }

  /** Stops reading for as long as the shaper says the client is over its rate. */
  private shape(bytes: number): void {
    const wait = this.shaper?.consume(bytes) ?? 0
    if (wait === 0) return
    this.socket.pause()
    clearTimeout(this.shaperTimer)
    this.shaperTimer = setTimeout(() => {
      this.shaperTimer = undefined
      this.resumeReading()
    }, wait)
    this.shaperTimer.unref()
  }

  private resumeReading(): void {
    if (this.pending <= 16 && this.socket.isPaused() && this.shaperTimer === undefined) this.socket.resume()
  }

  /** RFC 6120 §4.3.3: a new stream on the same connection after STARTTLS or SASL. */
  private restart(): void {
    this.generation++
    this.streamSecurity = undefined
    this.parser = this.framing.reader(this.parserLimits())
    this.phase = 'header'
  }

  private parserLimits(): ParserLimits {
    const {limits} = this.server
    return this.username === undefined ? {maxDepth: limits.maxDepth, maxStanzaBytes: limits.maxStanzaBytesUnauthenticated} : limits
  }

  private async handle(event: ParserEvent): Promise<void> {
    switch (event.type) {
      case 'error':
        return this.close(event.condition, event.text)
      case 'stream-end':
        return this.close()
      case 'stream-start':
        return this.streamStart(event.header)
      case 'stanza':
        return this.element(event.element)
    }
  }

  private header(): string {
    this.streamId = randomToken(12)
    const from = this.host ?? this.server.config.hosts[0]
    this.phase = 'open'
    return this.framing.header(from, this.streamId)
  }

  private sendHeader(): void {
    this.socket.write(this.header())
  }

  private async streamStart(header: Extract<ParserEvent, {type: 'stream-start'}>['header']): Promise<void> {
    // RFC 6120 §4.8: the stream element in the streams namespace, content in jabber:client.
    if (header.local !== 'stream' || header.ns !== NS.stream) return this.close('invalid-namespace', 'the stream element must be <stream:stream> in http://etherx.jabber.org/streams')
    if ((header.declarations[''] ?? '') !== NS.client) return this.close('invalid-namespace', 'the default namespace must be jabber:client')
    const to = header.attrs.to
    const host = to === undefined ? undefined : this.server.config.hosts.find((candidate) => candidate === to.toLowerCase())
    if (!host || (this.host && host !== this.host)) return this.close('host-unknown', to === undefined ? 'the stream header has no "to"' : `this server does not serve ${to}`)
    this.host = host
    // RFC 6120 §4.7.5: version 1.0 or later, or no XMPP 1.0 features at all.
    const major = Number.parseInt((header.attrs.version ?? '0.0').split('.')[0], 10)
    if (!(major >= 1)) return this.close('unsupported-version', 'XMPP 1.0 (version="1.0") is required')
    // Header and features in one write: one TLS record and one syscall instead of two.
    const features = await this.features()
    this.batch()
    this.socket.write(this.header())
    this.write(features.toString(NS.client))
  }

  private encryptionRequired(): boolean {
    return this.listener.starttls === 'required' || this.server.hostSettings(this.host!).c2s_require_encryption
  }

  private starttlsOffered(): boolean {
    return !this.encrypted && !this.listener.tls && this.listener.starttls !== 'disabled' && this.server.secureContext(this.host!) !== undefined
  }

  private async features(): Promise<Element> {
    const features = new Element('stream:features', NS.client)
    const host = this.host!
    if (this.username === undefined) {
      if (this.starttlsOffered()) {
        const starttls = features.c('starttls', {}, NS.tls)
        if (this.encryptionRequired()) {
          starttls.c('required')
          // RFC 6120 §5.3.1: while TLS is mandatory, offer nothing else.
          return features
        }
      }

      const authenticator = this.server.authenticator(host)
      const security = this.security()
      const mechanisms = authenticator ? await authenticator.mechanisms(security) : []
      if (mechanisms.length > 0) {
        const list = features.c('mechanisms', {}, NS.sasl)
        for (const mechanism of mechanisms) list.c('mechanism').append(mechanism)
        const types = authenticator!.channelBindingTypes(security)
        if (types.length > 0) {
          const cb = features.c('sasl-channel-binding', {}, NS.saslChannelBinding)
          for (const type of types) cb.c('channel-binding', {type})
        }

        this.announced = {mechanisms, channelBindingTypes: types}
      }
    } else {
      features.c('bind', {}, NS.bind)
      features.c('session', {}, NS.session).c('optional')
      for (const feature of this.server.streamFeatures()) features.append(feature.clone())
    }

    return features
  }

  private async element(element: Element): Promise<void> {
    if (element.ns === NS.tls && element.name === 'starttls') return this.startTls()
    if (element.ns === NS.sasl) return this.saslElement(element)
    if (element.ns === SM_NS) return this.streamManagement(element)
    if (element.ns === CSI_NS && this.server.clientStateIndication) return this.clientState(element)
    if (element.ns !== NS.client || !['iq', 'message', 'presence'].includes(element.name)) {
      return this.close('unsupported-stanza-type', `<${element.name}/> in ${element.ns || 'no namespace'} is not understood here`)
    }

    if (this.username === undefined) return this.close('not-authorized', 'authenticate first')
    if (!this.bound) return this.beforeBind(element)
    // RFC 6120 §8.1.2.1: the server stamps the sender's full JID.
    element.attrs.from = this.fullJid
    await this.server.stanza(this, element)
    this.sm?.received()
  }

  // ---- client state indication (XEP-0352) -------------------------------

  private clientState(element: Element): void {
    if (this.username === undefined) return this.close('not-authorized', 'authenticate first')
    // §5: the state applies to a bound resource; before binding there is nothing to hold.
    if (!this.bound) return
    if (element.name === 'inactive') this.held ??= new HeldStanzas(MAX_HELD_STANZAS)
    else if (element.name === 'active') {
      this.releaseHeld()
      this.held = undefined
    } else this.close('unsupported-stanza-type', `<${element.name}/> is not a client state (XEP-0352: <active/> or <inactive/>)`)
  }

  // ---- stream management (XEP-0198) -------------------------------------

  private smFailure(condition: string, attrs: Record<string, string> = {}): void {
    this.write(x('failed', SM_NS, attrs, x(condition, NS.stanzas)).toString(NS.client))
  }

  private async streamManagement(element: Element): Promise<void> {
    if (this.username === undefined) return this.close('not-authorized', 'authenticate first')
    switch (element.name) {
      case 'enable': {
        // §3: after binding, once.
        // §3, §6: without mod_stream_mgmt, nothing was offered.
        if (!this.server.streamManagement) return this.smFailure('feature-not-implemented')
        if (!this.bound || this.sm) return this.smFailure('unexpected-request')
        const resume = element.attrs.resume === 'true' || element.attrs.resume === '1'
        const window = resume ? resumptionWindow(element.attrs.max, this.server.limits) : 0
        this.sm = new StreamManagement(window > 0 ? this.server.resumptionId() : undefined, this.server.limits.maxUnacknowledged, window)
        if (this.sm.id !== undefined) this.server.resumable(this.sm.id, this)
        const max = String(Math.floor(window / 1000))
        this.write(x('enabled', SM_NS, this.sm.id !== undefined ? {id: this.sm.id, resume: 'true', max} : {}).toString(NS.client))
        return
      }

      case 'r': {
        if (!this.sm) return this.smFailure('unexpected-request')
        this.write(`<a xmlns='${SM_NS}' h='${this.sm.handled}'/>`)
        return
      }

      case 'a': {
        const h = parseCount(element.attrs.h)
        if (!this.sm || h === undefined) return this.close('invalid-xml', 'an <a/> needs a count h')
        if (!this.sm.acknowledge(h)) return this.handledTooHigh(h)
        // What was sent after the client counted for this answer is asked about now, not at the next burst.
        if (this.sm.requestAck()) this.write(`<r xmlns='${SM_NS}'/>`)
        return
      }

      case 'resume':
        return this.resume(element)
    }

    this.close('unsupported-stanza-type', `<${element.name}/> of stream management is not understood here`)
  }

  /** §4: the client acknowledged more than was sent (`handled` and `sent` are the session's, wherever it was). */
  private handledTooHigh(h: number, handled = this.sm!.handled, sent = this.sm!.sentCount): void {
    this.write(`<failed xmlns='${SM_NS}' h='${handled}'><undefined-condition xmlns='${NS.stanzas}'/></failed>`)
    this.close('undefined-condition', `the client acknowledged ${h} stanzas, ${sent} were sent`)
  }

  /**
   * §5: a new connection takes over a detached (or not yet noticed dead)
   * session of the same account: one of this process, or in a cluster one
   * that another node hands over.
   */
  private async resume(element: Element): Promise<void> {
    // §5: a server that does not support resumption answers feature-not-implemented.
    if (!this.server.streamManagement) return this.smFailure('feature-not-implemented')
    if (this.bound || this.sm) return this.smFailure('unexpected-request')
    const h = parseCount(element.attrs.h)
    const previd = element.attrs.previd
    if (previd === undefined || h === undefined) return this.smFailure('item-not-found')
    const previous = this.server.takeResumable(previd, this)
    if (previous) return previous.takeOver(this, h)
    const elsewhere = this.server.resumeElsewhere(previd, h, this)
    const refusal = elsewhere ? await elsewhere : {condition: 'item-not-found' as const}
    // Resumed: adoptResumed answered.
    if (!refusal) return
    if ('condition' in refusal) return this.smFailure(refusal.condition)
    this.handledTooHigh(h, refusal.handled, refusal.sent)
  }

  /**
   * §5: what the client had not acknowledged goes out again, at once. That
   * may be more than maxWriteBuffer (a backlog the lost connection was
   * taking in): until the client has read it (the socket's next 'drain'),
   * the limit for a client that does not read grows by what was resent, or
   * a resumption of such a session would end the new connection at once.
   */
  private resendUnacknowledged(sm: StreamManagement): void {
    let bytes = 0
    for (const stanza of sm.unacknowledged) bytes += Buffer.byteLength(stanza)
    this.resentBytes = bytes
    this.socket.once('drain', () => (this.resentBytes = 0))
    for (const stanza of sm.unacknowledged) this.write(stanza)
  }

  /** Continues this session on `successor`'s connection, after the client acknowledged `h` of our stanzas. */
  private takeOver(successor: C2sSession, h: number): void {
    const sm = this.sm!
    // The queue stays this session's: its end stores what is unacknowledged, once (the successor has nothing to store).
    if (!sm.acknowledge(h)) return successor.handledTooHigh(h, sm.handled, sm.sentCount)

    clearTimeout(this.hibernation)
    if (this.phase !== 'detached' && this.handlers) this.detach().destroy()
    const socket = successor.handOver()
    this.socket = socket
    this.parser = successor.parser
    this.framing = successor.framing
    this.encrypted = successor.encrypted
    this.streamSecurity = undefined
    this.generation++
    this.phase = 'open'
    this.attach(socket)
    this.server.logger.debug(`c2s ${this.serial} ${this.fullJid}: resumed on c2s ${successor.serial}, ${sm.unacknowledged.length} stanza(s) sent again`)
    sm.reconnected()
    this.batch()
    this.write(`<resumed xmlns='${SM_NS}' h='${sm.handled}' previd='${sm.id}'/>`)
    this.resendUnacknowledged(sm)
    // The session may resume again later.
    this.server.resumable(sm.id!, this)
  }

  /**
   * §5 across cluster nodes: this session goes to another node, where the
   * client's new connection resumes it, after the client's count `h`. The
   * old connection, if the client still had it, closes without a word;
   * nothing is stored or bounced and no presence goes out: the session
   * leaves the router quietly, and the new node's bind replaces it in every
   * node's registry. Until `settle` this object keeps what it needs to end
   * the session itself, should the other node not take it (settle(false)):
   * then it ends as one whose resumption timed out.
   *
   * What stays here: MUC occupancy (the rooms of this node still route to
   * the full JID, which reaches the new node, but do not hear when the
   * session ends there), PEP disco#info queries in flight (the new node
   * asks again at the next presence with caps), and stanzas with receipts:
   * their senders' nodes are told they were taken once the other node has
   * the session, which from then on keeps them in memory as its own.
   */
  handOff(h: number, keepConnection = false): HandOff {
    const sm = this.sm!
    if (!sm.acknowledge(h)) return {refused: {handled: sm.handled, sent: sm.sentCount}}
    clearTimeout(this.hibernation)
    // Kept (unread) when the client must not reconnect before the other node has the session: see moveAway.
    let connection: net.Socket | undefined
    if (this.phase !== 'detached' && this.handlers) {
      connection = this.detach()
      if (keepConnection) connection.pause()
      else connection.destroy()
    }

    // What waited for an inactive client joins the queue, to be sent on the new node; past max_ack_queue too: the client asked for it.
    const inactive = this.held !== undefined
    for (const stanza of this.held?.release() ?? []) sm.sent(stanza.toString(NS.client))
    this.held = undefined
    this.phase = 'closed'
    const session: HandedOverSession = {
      jid: this.fullJid,
      priority: this.priority,
      available: this.available,
      ...(this.presence ? {presence: this.presence.toString(NS.client)} : {}),
      carbons: this.carbons,
      interested: this.interested,
      ...(this.shared === NOTHING_SHARED ? {} : {shared: this.shared}),
      inactive,
      sm: sm.state(),
      modules: this.server.sessionState(this),
    }
    this.server.handedOff(this)
    this.server.logger.debug(`c2s ${this.serial} ${this.fullJid}: handed over to another node, ${sm.unacknowledged.length} stanza(s) to send again`)
    return {
      session,
      ...(keepConnection && connection ? {connection} : {}),
      settle: (delivered) => {
        if (!delivered) return this.cleanup()
        this.cleanedUp = true
        clearTimeout(this.deadline)
        clearTimeout(this.shaperTimer)
        for (const receipt of sm.takeReceipts()) receipt()
      },
    }
  }

  /**
   * This node is stopping and another takes its resumable sessions (a
   * rolling restart): the session goes as for a resumption, with nothing
   * more acknowledged than the client said, and its connection is kept
   * unread until the other node holds the session; then it is cut without
   * a closing tag, so that the client resumes it (§5) wherever it
   * reconnects. Undefined for a session that cannot be resumed.
   */
  moveAway(): HandOff | undefined {
    if (this.sm?.id === undefined || !this.bound || this.phase === 'closed') return undefined
    return this.handOff(this.sm.state().acknowledged, true)
  }

  /**
   * A session another node moved here as it stopped (moveAway): it waits,
   * detached, for its client to resume it, as if its connection had just
   * been lost here. Undefined when the state is not a session's.
   */
  static adoptDetached(server: SessionHost, state: HandedOverSession): C2sSession | undefined {
    const jid = parseJid(state.jid)
    if (!jid || jid.resource === '') return undefined
    const socket = new net.Socket()
    const session = new C2sSession(server, socket, {port: 0, ip: '', tls: false, starttls: 'disabled'}, {framing: STREAM_FRAMING, encrypted: false, remoteAddress: 'moved here', kind: 'c2s'})
    session.username = jid.local
    session.host = jid.domain
    clearTimeout(session.deadline)
    session.deadline = undefined
    if (!session.restore(state) || session.sm?.id === undefined) {
      session.phase = 'closed'
      socket.destroy()
      return undefined
    }

    session.phase = 'open'
    server.bind(session, true)
    server.resumable(session.sm.id, session)
    session.connectionLost()
    socket.destroy()
    return session
  }

  /**
   * §5 across cluster nodes: this new connection continues the session
   * another node handed over, as takeOver does for one of this process.
   * False when it no longer can: its client went meanwhile, or the session
   * is not this connection's account.
   */
  adoptResumed(state: HandedOverSession): boolean {
    if (this.phase !== 'open' || this.bound || this.sm || !this.restore(state)) return false
    const sm = this.sm!
    this.server.bind(this, true)
    clearTimeout(this.deadline)
    this.deadline = undefined
    this.server.logger.debug(`c2s ${this.serial} ${this.fullJid}: resumed from another node, ${sm.unacknowledged.length} stanza(s) sent again`)
    this.batch()
    this.write(`<resumed xmlns='${SM_NS}' h='${sm.handled}' previd='${sm.id}'/>`)
    this.resendUnacknowledged(sm)
    // The session may resume again later, here or on any node (its registry entry names this node).
    this.server.resumable(sm.id!, this)
    return true
  }

  /** Takes on a handed-over session's state; false when it is not this connection's account (only the same account may resume, §5). */
  private restore(state: HandedOverSession): boolean {
    const jid = parseJid(state.jid)
    if (!jid || jid.resource === '' || jid.local !== this.username || jid.domain !== this.host) return false
    this.jid = jid
    this.priority = state.priority
    this.available = state.available
    this.presence = state.presence === undefined ? undefined : parseElement(state.presence)
    this.carbons = state.carbons
    this.interested = state.interested
    this.shared = state.shared ?? NOTHING_SHARED
    this.sm = StreamManagement.restore(state.sm, this.server.limits.maxUnacknowledged)
    if (state.inactive) this.held = new HeldStanzas(MAX_HELD_STANZAS)
    this.server.adoptSessionState(this, state.modules)
    return true
  }

  /**
   * A session another node handed over for a client no longer waiting for
   * it (its connection went, or the answer came after the timeout and the
   * client was told item-not-found): it ends here as one whose resumption
   * timed out (§5): unacknowledged messages to offline storage, unavailable
   * presence to contacts. When the client has bound that resource again
   * meanwhile (`rebound`), only the messages.
   */
  static endHandedOver(server: SessionHost, state: HandedOverSession, rebound: boolean): void {
    const jid = parseJid(state.jid)
    if (!jid) return
    const socket = new net.Socket()
    const session = new C2sSession(server, socket, {port: 0, ip: '', tls: false, starttls: 'disabled'}, {framing: STREAM_FRAMING, encrypted: false, remoteAddress: 'handed over', kind: 'c2s'})
    session.username = jid.local
    session.host = jid.domain
    if (!session.restore(state)) return session.close()
    session.phase = 'detached'
    if (rebound) session.available = false
    else server.bind(session, true)
    session.close()
    socket.destroy()
  }

  /** Gives this connection away to the session it resumes; this session object ends without touching it. */
  private handOver(): net.Socket {
    const socket = this.detach()
    this.phase = 'closed'
    this.cleanup()
    return socket
  }

  private async startTls(): Promise<void> {
    if (!this.starttlsOffered() || this.username !== undefined) {
      this.write(x('failure', NS.tls).toString(NS.client))
      return this.close()
    }

    const secureContext = this.server.secureContext(this.host!)!
    this.write(x('proceed', NS.tls).toString(NS.client))
    const plain = this.socket
    this.detach()
    this.restart()
    const secure = new tls.TLSSocket(plain, {isServer: true, secureContext})
    this.socket = secure
    secure.on('secure', () => {
      this.encrypted = true
      this.server.logger.debug(`c2s ${this.serial} ${this.remoteAddress}: TLS ${secure.getProtocol()} ${secure.getCipher()?.name}`)
    })
    this.attach(secure)
  }

  private saslFailure(condition: string, text?: string): void {
    const failure = x('failure', NS.sasl, {}, x(condition, NS.sasl))
    if (text) failure.append(x('text', NS.sasl, {'xml:lang': 'en'}, text))
    this.write(failure.toString(NS.client))
  }

  private async saslElement(element: Element): Promise<void> {
    if (this.username !== undefined) return this.close('policy-violation', 'already authenticated')
    if (element.name === 'auth') return this.saslAuth(element)
    if (element.name === 'response' && this.sasl) return this.saslContinue(element)
    if (element.name === 'abort') {
      this.sasl?.attempt.cancel()
      this.sasl?.session.dispose?.()
      this.sasl = undefined
      return this.saslFailure('aborted')
    }

    return this.close('policy-violation', `unexpected SASL <${element.name}/>`)
  }

  private decode(element: Element): Buffer | undefined {
    const text = element.text().trim()
    if (text === '' || text === '=') return Buffer.alloc(0)
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return undefined
    return Buffer.from(text, 'base64')
  }

  private async saslAuth(element: Element): Promise<void> {
    const host = this.host!
    if (!this.encrypted && this.encryptionRequired()) return this.saslFailure('encryption-required')
    const mechanism = element.attrs.mechanism ?? ''
    const data = this.decode(element)
    if (data === undefined) return this.saslFailure('incorrect-encoding')
    // The attempt takes its place in the counts before any backend is asked: attempts in flight count.
    let attempt = this.server.throttle.begin(this.remoteAddress)
    // A refusal made of attempts still in flight waits for their verdicts (bounded): logins
    // that succeed give their places back, so a burst of good logins from one address passes.
    for (let waited = 0; attempt === 'address' && this.server.throttle.pending(this.remoteAddress) && waited < PENDING_WAIT_MS; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      if (this.phase === 'closed') return
      attempt = this.server.throttle.begin(this.remoteAddress)
    }

    if (typeof attempt === 'string') return this.throttled(attempt)
    const authenticator = this.server.authenticator(host)
    const connection: AnnouncedConnection = {...this.security()}
    if (this.announced) {
      connection.sasl = {...this.announced, downgradeProtection: !this.server.hostSettings(host).disable_sasl_scram_downgrade_protection}
    }

    const session = authenticator ? await authenticator.start(mechanism, connection) : undefined
    if (!session) {
      attempt.cancel()
      return this.saslFailure('invalid-mechanism')
    }

    this.sasl = {session, mechanism, attempt}
    return this.saslStep(data)
  }

  private async saslContinue(element: Element): Promise<void> {
    const data = this.decode(element)
    if (data === undefined) {
      this.sasl!.attempt.fail()
      this.sasl!.session.dispose?.()
      this.sasl = undefined
      return this.saslFailure('incorrect-encoding')
    }

    return this.saslStep(data)
  }

  /** One message to the mechanism; the first that names an account (an empty initial response names none) reserves its counts. */
  private async saslStep(data: Buffer): Promise<void> {
    const sasl = this.sasl!
    if (sasl.account === undefined && data.length > 0) {
      sasl.account = claimedAccount(sasl.mechanism, data, this.host!) ?? null
      const refusal = sasl.account === null ? undefined : sasl.attempt.claim(sasl.account)
      if (refusal) {
        this.sasl = undefined
        return this.throttled(refusal, sasl.account!)
      }
    }

    return this.saslResult(await sasl.session.step(data))
  }

  /** A limit refused the attempt: say so, and end the stream so that trying again costs a new connection. */
  private throttled(refusal: Refusal, account?: string): void {
    this.server.logger.warn(`c2s ${this.serial} ${this.remoteAddress}: authentication throttled (${refusal} limit)${account ? ` for ${account}` : ''}`, 'authentication throttled')
    this.saslFailure('temporary-auth-failure', 'too many failed authentication attempts; try again later')
    this.close('policy-violation', 'too many failed authentication attempts')
  }

  private async saslResult(step: SaslStep): Promise<void> {
    const sasl = this.sasl!
    if (step.type === 'challenge') {
      this.write(x('challenge', NS.sasl, {}, step.data.length === 0 ? '=' : step.data.toString('base64')).toString(NS.client))
      return
    }

    this.sasl = undefined
    const account = sasl.account ?? undefined
    if (step.type === 'success') {
      sasl.attempt.succeed()
      // What SASL negotiated is of no further use, and an idle session holds it for as long as it lasts.
      this.announced = undefined
      this.username = step.username
      if (this.server.limits.shaper) this.shaper = new Shaper(this.server.limits.shaper)
      // One line per login at info, and one per account and address a minute in a burst: who logged in from where.
      this.server.logger.info(
        `c2s ${this.serial} ${this.remoteAddress}: authenticated ${step.username}@${this.host} with ${sasl.mechanism} over ${this.tlsVersion ?? 'plaintext'}`,
        `authenticated ${step.username}@${this.host} from ${this.remoteAddress}`,
      )
      this.write(x('success', NS.sasl, {}, step.data && step.data.length > 0 ? step.data.toString('base64') : undefined).toString(NS.client))
      this.restart()
      return
    }

    if (step.condition === 'aborted') sasl.attempt.cancel()
    else sasl.attempt.fail()
    // The mechanism's reason names the cause (a clock skew, a principal without an account); it never holds a secret.
    this.server.logger.info(`c2s ${this.serial} ${this.remoteAddress}: ${sasl.mechanism} failed: ${step.condition}${account ? ` (${account})` : ''}${step.reason ? `: ${step.reason}` : ''}`)
    this.saslFailure(step.condition)
    if (++this.authFailures >= this.server.limits.maxAuthFailures) this.close('policy-violation', 'too many failed authentication attempts')
  }

  private async beforeBind(stanza: Element): Promise<void> {
    const bind = stanza.name === 'iq' && stanza.attrs.type === 'set' ? stanza.getChild('bind', NS.bind) : undefined
    if (!bind) {
      if (stanza.name === 'iq' && stanza.getChild('session', NS.session)) return this.send(iqResult(stanza, this.host))
      return this.close('not-authorized', 'bind a resource first')
    }

    let resource = bind.getChildText('resource')?.normalize('NFC').trim() ?? ''
    if (resource !== '' && (Buffer.byteLength(resource) > 1023 || /[\u0000-\u001f\u007f]/.test(resource))) {
      return this.send(errorReply(stanza, 'bad-request', this.host))
    }

    if (resource === '') resource = randomToken(9)
    this.jid = {local: this.username!, domain: this.host!, resource}
    if (!this.server.bind(this)) {
      this.jid = undefined
      return this.send(errorReply(stanza, 'resource-constraint', this.host, `this account already has the ${this.server.limits.maxUserSessions} sessions it may have`))
    }

    clearTimeout(this.deadline)
    // The timer and its closure would otherwise stay with the session until it ends.
    this.deadline = undefined
    // In a cluster, the result waits until the other nodes have been told: a contact's message sent on it must find the session.
    const registered = this.server.registration(this)
    if (registered) await registered
    if (this.phase === 'closed') return
    this.send(iqResult(stanza, undefined, x('bind', NS.bind, {}, x('jid', NS.bind, {}, this.fullJid))))
  }
}
