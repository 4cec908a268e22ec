/**
 * Federation (RFC 6120 server-to-server): streams to and from other
 * servers. An outgoing stream per pair of domains (ours, the peer's) finds
 * the peer (s2s-resolve.ts), negotiates TLS (STARTTLS, or direct TLS per
 * XEP-0368), and authenticates our domain with SASL EXTERNAL (§6.4,
 * XEP-0178) or, where our certificate does not verify, dialback (XEP-0220).
 * An incoming stream authenticates the peer's domain the same two ways and
 * hands every stanza whose `from` domain it authenticated to the core.
 * Each stream parses with the same bounded parser as c2s; each fails alone.
 */
import {randomBytes} from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'

import type {Configuration} from '../config/index.js'
import type {Logger} from './log.js'
import {parseJid} from './jid.js'
import {NS} from '../xml/namespaces.js'
import {randomToken} from './random.js'
import {type PeerIdentity, dialbackKey, dialbackKeyMatches, identityVerifies, peerIdentity} from './s2s-identity.js'
import {PeerNotFound, type PeerTarget, resolvePeer} from './s2s-resolve.js'
import {type StreamErrorCondition, streamError} from './stanza.js'
import {type Element, escapeAttribute} from '../xml/element.js'
import {type ParserEvent, XmppStreamParser} from '../xml/parser.js'

export const NS_SERVER = 'jabber:server'
export const NS_DIALBACK = 'jabber:server:dialback'
const NS_DIALBACK_FEATURE = 'urn:xmpp:features:dialback'
/** XEP-0288: one stream carries stanzas both ways. */
const NS_BIDI_FEATURE = 'urn:xmpp:features:bidi'
const NS_BIDI = 'urn:xmpp:bidi'

/** What an undeliverable stanza comes back with (RFC 6120 §8.3.3.16, §8.3.3.17, §8.3.3.18). */
export type BounceCondition = 'remote-server-not-found' | 'remote-server-timeout' | 'resource-constraint'

export interface S2sHost {
  readonly config: Configuration
  readonly logger: Logger
  /** A domain this server serves: one of its hosts, or a service's domain. */
  isLocalDomain(domain: string): boolean
  /** The TLS context of s2s streams for `domain` (a host, or a hosted service's domain): its certificate, and the CAs peers' certificates must chain to. */
  s2sContext(domain: string): tls.SecureContext | undefined
  /** A stanza from a domain an incoming stream authenticated, in jabber:client like a client's. */
  remoteStanza(stanza: Element): Promise<void>
}

export interface S2sListener {
  port: number
  ip: string
  tls: boolean
}

export interface S2sConnectionInfo {
  direction: 'incoming' | 'outgoing'
  /** Our domain on the stream (for incoming, the one the peer addressed). */
  local: string
  /** The peer's domains: the one an outgoing stream reaches, those an incoming one authenticated. */
  remote: string[]
  state: string
  auth: 'EXTERNAL' | 'dialback' | 'dialback (certificate)' | 'none'
  tls: string | undefined
  address: string
  since: string
  queued: number
  /** The peer's certificate verified against the trusted CAs. */
  certificateVerified: boolean
  /** XEP-0288: the stream carries stanzas both ways. */
  bidi: boolean
}

const STREAM_PREFIX = `<?xml version='1.0'?><stream:stream xmlns='${NS_SERVER}' xmlns:stream='${NS.stream}' xmlns:db='${NS_DIALBACK}'`
/** Incoming streams that have not authenticated a domain yet, per address. */
const MAX_UNAUTHENTICATED_PER_ADDRESS = 16
/** Stanzas read ahead of the core before a stream stops reading. */
const MAX_PENDING = 64

/** Elements of a peer's stream in jabber:server take jabber:client, the core's namespace, with their children. */
export function fromServerNamespace(element: Element): Element {
  if (element.ns === NS_SERVER) element.ns = NS.client
  for (const child of element.children) if (typeof child !== 'string') fromServerNamespace(child)
  return element
}

function domainOf(jid: string | undefined): string | undefined {
  if (jid === undefined) return undefined
  return parseJid(jid)?.domain
}

function dialback(name: 'result' | 'verify', attrs: Record<string, string | undefined>, key?: string): string {
  const text = Object.entries(attrs)
    .filter(([, value]) => value !== undefined)
    .map(([attr, value]) => ` ${attr}='${escapeAttribute(value!)}'`)
    .join('')
  return key === undefined ? `<db:${name}${text}/>` : `<db:${name}${text}>${key}</db:${name}>`
}

/** The parts common to both directions: one socket, one parser, timers. */
abstract class S2sStream {
  readonly serial = ++streamCounter
  readonly since = Date.now()
  protected socket: net.Socket | undefined
  protected parser: XmppStreamParser
  protected closed = false
  protected encrypted = false
  protected identity: PeerIdentity | undefined
  protected queueChain: Promise<void> = Promise.resolve()
  private pending = 0
  private generation = 0
  private idle: NodeJS.Timeout | undefined
  private corked = false

  constructor(protected readonly manager: S2sManager) {
    // Subclass fields are not set yet: the first stream is unauthenticated.
    this.parser = new XmppStreamParser({maxDepth: 64, maxStanzaBytes: manager.host.config.settings.max_stanza_size_unauthenticated})
  }

  protected abstract get label(): string
  protected abstract handle(event: ParserEvent): Promise<void> | void
  abstract close(condition?: StreamErrorCondition, text?: string): void
  abstract info(): S2sConnectionInfo

  protected get settings(): Configuration['settings'] {
    return this.manager.host.config.settings
  }

  protected get logger(): Logger {
    return this.manager.host.logger
  }

  get tlsVersion(): string | undefined {
    return this.socket instanceof tls.TLSSocket ? (this.socket.getProtocol() ?? undefined) : undefined
  }

  protected abstract get authenticated(): boolean

  protected newParser(): XmppStreamParser {
    const {settings} = this
    return new XmppStreamParser({maxDepth: 64, maxStanzaBytes: this.authenticated ? settings.max_stanza_size : settings.max_stanza_size_unauthenticated})
  }

  /** RFC 6120 §4.3.3: a new stream after TLS and after SASL. */
  protected restart(): void {
    this.generation++
    this.parser = this.newParser()
  }

  protected attach(socket: net.Socket): void {
    this.socket = socket
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (error) => this.logger.debug(`${this.label}: socket error ${error.message}`))
    socket.on('close', () => this.afterReceived(socket, () => this.lost()))
    socket.on('end', () =>
      this.afterReceived(socket, () => {
        if (!this.closed) this.close()
      }),
    )
    // s2s_timeout: a stream that carries nothing for that long is closed (ejabberd's idle s2s timeout).
    this.idle ??= setTimeout(() => this.close(undefined, 'idle'), this.settings.s2s_timeout * 1000)
    this.idle.unref()
  }

  /**
   * Runs `then` once the stanzas already read from `socket` are handled: a
   * peer that sends its last stanzas, its closing tag and hangs up at once
   * has them all delivered or stored (RFC 6120 §4.4), not dropped because
   * the connection's end overtook them.
   */
  private afterReceived(socket: net.Socket, then: () => void): void {
    this.queueChain = this.queueChain
      .then(() => {
        if (this.socket === socket) then()
      })
      .catch((error: unknown) => this.logger.error(`${this.label}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`))
  }

  /** Takes the handlers off the plain socket before TLS takes it over. */
  protected detach(): net.Socket {
    const socket = this.socket!
    socket.removeAllListeners('data')
    socket.removeAllListeners('close')
    socket.removeAllListeners('end')
    socket.removeAllListeners('error')
    socket.on('error', () => {})
    return socket
  }

  protected abstract lost(): void

  private onData(chunk: Buffer): void {
    if (this.closed) return
    this.idle?.refresh()
    const generation = this.generation
    for (const event of this.parser.write(chunk)) {
      this.pending++
      if (this.pending > MAX_PENDING) this.socket?.pause()
      this.queueChain = this.queueChain
        .then(() => (generation === this.generation && !this.closed ? this.handle(event) : undefined))
        .catch((error: unknown) => {
          this.logger.error(`${this.label}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
          this.close('internal-server-error')
        })
        .finally(() => {
          this.pending--
          if (this.pending <= MAX_PENDING / 4 && this.socket?.isPaused()) this.socket.resume()
        })
    }
  }

  /** Whether what is written reaches the peer: not once the stream is closed or the peer hung up. */
  protected get connected(): boolean {
    const socket = this.socket
    return socket !== undefined && !socket.destroyed && !this.closed && socket.writable && !socket.readableEnded
  }

  protected write(text: string): void {
    const socket = this.socket
    if (!socket || !this.connected) return
    this.idle?.refresh()
    if (!this.corked) {
      // A burst of stanzas leaves in one TLS record, as on c2s.
      this.corked = true
      socket.cork()
      process.nextTick(() => {
        this.corked = false
        socket.uncork()
      })
    }

    socket.write(text)
  }

  protected endSocket(condition?: StreamErrorCondition, text?: string): void {
    const socket = this.socket
    clearTimeout(this.idle)
    if (!socket || socket.destroyed) return
    if (condition) socket.write(streamError(condition, text))
    socket.write('</stream:stream>')
    socket.end()
    setTimeout(() => socket.destroy(), 2000).unref()
  }

  protected abstract checkIdentity(socket: tls.TLSSocket): void

  protected secured(socket: tls.TLSSocket): void {
    this.encrypted = true
    this.identity = peerIdentity(socket)
    this.checkIdentity(socket)
    this.logger.debug(`${this.label}: TLS ${socket.getProtocol()} ${socket.getCipher()?.name}, peer certificate ${this.identity.chainVerified ? 'verified' : `not verified (${this.identity.chainError})`} ${this.identity.names.join(' ')}`)
  }
}

let streamCounter = 0

/** A queued stanza: its text for the peer, and how to bounce it. */
interface Queued {
  text: string
  bounce: (condition: BounceCondition) => void
}

/** Our stream to a peer, for one of our domains. */
class S2sOut extends S2sStream {
  state: 'resolving' | 'connecting' | 'negotiating' | 'authenticating' | 'ready' | 'closed' = 'resolving'
  auth: S2sConnectionInfo['auth'] = 'none'
  private queue: Queued[] = []
  private verifies = new Map<string, {key: string; done: (valid: boolean) => void; sent: boolean}>()
  private peerStreamId = ''
  private externalTried = false
  private bidi = false
  private address = ''
  private deadline: NodeJS.Timeout | undefined

  constructor(
    manager: S2sManager,
    readonly local: string,
    readonly remote: string,
  ) {
    super(manager)
  }

  protected get label(): string {
    return `s2s out ${this.serial} ${this.local} -> ${this.remote}`
  }

  protected get authenticated(): boolean {
    return this.state === 'ready'
  }

  info(): S2sConnectionInfo {
    return {
      direction: 'outgoing',
      local: this.local,
      remote: [this.remote],
      state: this.state,
      auth: this.auth,
      tls: this.tlsVersion,
      address: this.address,
      since: new Date(this.since).toISOString(),
      queued: this.queue.length,
      certificateVerified: this.identity !== undefined && identityVerifies(this.identity, this.remote),
      bidi: this.bidi,
    }
  }

  send(text: string, bounce: Queued['bounce']): void {
    if (this.closed) return bounce('remote-server-not-found')
    // A stream whose connection just ended queues it, and bounces it when it closes, rather than lose it.
    if (this.state === 'ready' && this.connected) return this.write(text)
    if (this.queue.length >= this.settings.s2s_max_queue) return bounce('resource-constraint')
    this.queue.push({text, bounce})
  }

  /** Asks the peer, as the authoritative server, whether `key` is its key for `streamId` (XEP-0220 §2.3). */
  verify(streamId: string, key: string): Promise<boolean> {
    return new Promise((resolve) => {
      const previous = this.verifies.get(streamId)
      previous?.done(false)
      this.verifies.set(streamId, {key, done: resolve, sent: false})
      if (this.state === 'authenticating' || this.state === 'ready') this.flushVerifies()
    })
  }

  async start(): Promise<void> {
    const {s2s_dns_timeout: dns, s2s_connect_timeout: connect} = this.settings
    // Whatever happens, the stanzas waiting for this stream leave or bounce by then.
    this.deadline = setTimeout(() => this.fail('remote-server-timeout', `not connected and authenticated within ${dns + connect} s`), (dns + connect) * 1000)
    this.deadline.unref()
    let targets: PeerTarget[]
    try {
      targets = await resolvePeer(this.remote, {timeoutMs: dns * 1000, addresses: this.settings.s2s_addresses})
    } catch (error) {
      if (error instanceof PeerNotFound) return this.fail(error.condition, error.message)
      return this.fail('remote-server-not-found', error instanceof Error ? error.message : String(error))
    }

    if (this.closed) return
    this.state = 'connecting'
    const failures: string[] = []
    for (const target of targets) {
      for (const address of target.addresses) {
        if (this.closed) return
        try {
          const socket = await this.connect(target, address, connect * 1000)
          if (this.closed) {
            socket.destroy()
            return
          }

          this.address = `${address}:${target.port}`
          this.attach(socket)
          if (socket instanceof tls.TLSSocket) this.secured(socket)
          this.state = 'negotiating'
          this.logger.info(`${this.label}: connected to ${target.host} ${this.address}${target.tls ? ' (direct TLS)' : ''}`)
          this.header()
          return
        } catch (error) {
          failures.push(`${address}:${target.port} ${error instanceof Error ? error.message : String(error)}`)
        }
      }
    }

    this.fail('remote-server-not-found', `cannot connect to ${this.remote}: ${failures.join('; ')}`)
  }

  private connect(target: PeerTarget, address: string, timeoutMs: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const context = this.manager.host.s2sContext(this.local)
      const socket = target.tls
        ? tls.connect({host: address, port: target.port, servername: this.remote, ALPNProtocols: ['xmpp-server'], secureContext: context, rejectUnauthorized: false})
        : net.connect({host: address, port: target.port})
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error('timed out'))
      }, timeoutMs)
      socket.once(target.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer)
        socket.removeAllListeners('error')
        resolve(socket)
      })
      socket.once('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
    })
  }

  private header(): void {
    this.write(`${STREAM_PREFIX} from='${escapeAttribute(this.local)}' to='${escapeAttribute(this.remote)}' version='1.0'>`)
  }

  protected checkIdentity(): void {
    // s2s_secure_auth: we send nothing to a peer whose certificate does not prove its domain.
    if (this.settings.s2s_secure_auth && !identityVerifies(this.identity!, this.remote)) {
      this.fail('remote-server-not-found', `the certificate of ${this.remote} does not verify (${this.identity!.chainError ?? `it names ${this.identity!.names.join(', ') || 'nothing'}`}), and s2s_secure_auth is on`)
    }
  }

  protected async handle(event: ParserEvent): Promise<void> {
    switch (event.type) {
      case 'error':
        return this.fail('remote-server-not-found', `${event.condition}: ${event.text}`, event.condition)
      case 'stream-end':
        return this.close()
      case 'stream-start': {
        const {header} = event
        if (header.local !== 'stream' || header.ns !== NS.stream || (header.declarations[''] ?? '') !== NS_SERVER) {
          return this.fail('remote-server-not-found', 'the peer answered with a stream that is not jabber:server', 'invalid-namespace')
        }

        this.peerStreamId = header.attrs.id ?? ''
        return
      }

      case 'stanza':
        return this.element(event.element)
    }
  }

  private element(element: Element): Promise<void> | void {
    if (element.ns === NS.stream && element.name === 'features') return this.features(element)
    if (element.ns === NS.stream && element.name === 'error') {
      const condition = element.elements().find((child) => child.ns === NS.streams && child.name !== 'text')?.name ?? 'undefined-condition'
      return this.fail('remote-server-not-found', `the peer ended the stream: ${condition} ${element.getChildText('text', NS.streams) ?? ''}`.trim())
    }

    if (element.ns === NS.tls && element.name === 'proceed') return this.startTls()
    if (element.ns === NS.tls && element.name === 'failure') return this.fail('remote-server-not-found', 'the peer refused TLS')
    if (element.ns === NS.sasl && element.name === 'success') {
      this.auth = 'EXTERNAL'
      this.restart()
      return this.header()
    }

    if (element.ns === NS.sasl && element.name === 'failure') {
      this.logger.info(`${this.label}: SASL EXTERNAL refused (${element.elements()[0]?.name ?? 'no condition'}), trying dialback`)
      return this.dialback()
    }

    if (element.ns === NS_DIALBACK && element.name === 'result') return this.dialbackResult(element)
    if (element.ns === NS_DIALBACK && element.name === 'verify') return this.verifyAnswer(element)
    if (element.ns === NS_SERVER && ['iq', 'message', 'presence'].includes(element.name) && this.bidi && this.state === 'ready') return this.peerStanza(element)
    // RFC 6120 §4.9.3.22 would apply; without XEP-0288 a peer sends no stanzas on our stream.
    this.close('unsupported-stanza-type', `<${element.name}/> in ${element.ns || 'no namespace'} is not expected on this stream`)
  }

  /** XEP-0288 §2: the peer's stanzas on our stream, from the domain whose certificate we verified, to one of ours. */
  private peerStanza(element: Element): Promise<void> | void {
    const from = domainOf(element.attrs.from)
    const to = domainOf(element.attrs.to)
    if (from === undefined || to === undefined) return this.close('improper-addressing', 'a stanza between servers needs a valid "from" and "to"')
    if (from !== this.remote) return this.close('invalid-from', `${from} is not the domain of this stream`)
    if (!this.manager.host.isLocalDomain(to)) return this.close('host-unknown', `this server does not serve ${to}`)
    return this.manager.host.remoteStanza(fromServerNamespace(element))
  }

  private features(features: Element): void {
    const useTls = this.settings.s2s_use_starttls
    if (!this.encrypted) {
      if (features.getChild('starttls', NS.tls) && useTls !== 'false') {
        this.write(`<starttls xmlns='${NS.tls}'/>`)
        return
      }

      if (useTls === 'required') return this.fail('remote-server-not-found', `${this.remote} offers no TLS, and s2s_use_starttls is required`, 'policy-violation')
    }

    if (this.auth !== 'none') return this.ready()
    this.state = 'authenticating'
    this.flushVerifies()
    // XEP-0288 §2: asked for before authentication, and only of a peer whose certificate proves its domain, since stanzas will come from it on this stream.
    if (!this.bidi && features.getChild('bidi', NS_BIDI_FEATURE) && this.identity && identityVerifies(this.identity, this.remote)) {
      this.bidi = true
      this.write(`<bidi xmlns='${NS_BIDI}'/>`)
    }

    const mechanisms = features.getChild('mechanisms', NS.sasl)?.getChildren('mechanism', NS.sasl).map((mechanism) => mechanism.text().trim()) ?? []
    if (this.encrypted && !this.externalTried && mechanisms.includes('EXTERNAL')) {
      this.externalTried = true
      // RFC 6120 §6.4.3 and XEP-0178 §4: the authorization identity is our domain.
      this.write(`<auth xmlns='${NS.sasl}' mechanism='EXTERNAL'>${Buffer.from(this.local).toString('base64')}</auth>`)
      return
    }

    this.dialback(features.getChild('dialback', NS_DIALBACK_FEATURE) !== undefined)
  }

  /** XEP-0220 §2.1: our key for the peer's stream id. */
  private dialback(offered = true): void {
    if (!offered) return this.fail('remote-server-not-found', `${this.remote} offers neither SASL EXTERNAL for our certificate nor dialback`)
    const key = dialbackKey(this.manager.secret, this.remote, this.local, this.peerStreamId)
    this.write(dialback('result', {from: this.local, to: this.remote}, key))
  }

  private dialbackResult(element: Element): void {
    if (element.attrs.type === 'valid') {
      this.auth = 'dialback'
      return this.ready()
    }

    const reason = element.getChild('error')?.elements()[0]?.name
    this.fail('remote-server-not-found', `${this.remote} refused our dialback key${reason ? ` (${reason})` : ''}`, 'not-authorized')
  }

  private verifyAnswer(element: Element): void {
    const id = element.attrs.id ?? ''
    const pending = this.verifies.get(id)
    if (!pending) return
    this.verifies.delete(id)
    pending.done(element.attrs.type === 'valid')
  }

  private flushVerifies(): void {
    for (const [id, pending] of this.verifies) {
      if (pending.sent) continue
      pending.sent = true
      this.write(dialback('verify', {from: this.local, to: this.remote, id}, pending.key))
    }
  }

  private startTls(): void {
    const plain = this.detach()
    this.restart()
    const secure = tls.connect({socket: plain, servername: this.remote, secureContext: this.manager.host.s2sContext(this.local), rejectUnauthorized: false})
    secure.once('secureConnect', () => {
      this.secured(secure)
      if (!this.closed) this.header()
    })
    this.attach(secure)
  }

  private ready(): void {
    clearTimeout(this.deadline)
    this.state = 'ready'
    this.logger.info(`${this.label}: authenticated with ${this.auth} over ${this.tlsVersion ?? 'plaintext'}, ${this.queue.length} stanza(s) waiting`)
    const queue = this.queue
    this.queue = []
    for (const queued of queue) this.write(queued.text)
  }

  private fail(condition: BounceCondition, reason: string, streamCondition?: StreamErrorCondition): void {
    if (this.closed) return
    this.logger.warn(`${this.label}: ${reason}`, 's2s failed')
    this.manager.unreachable(this.remote, condition)
    this.shutDown(condition, streamCondition, reason)
  }

  close(condition?: StreamErrorCondition, text?: string): void {
    if (this.closed) return
    this.logger.info(`${this.label}: closed${text ? ` (${text})` : ''}`)
    this.shutDown('remote-server-not-found', condition, text)
  }

  private shutDown(bounce: BounceCondition, condition?: StreamErrorCondition, text?: string): void {
    this.closed = true
    this.state = 'closed'
    clearTimeout(this.deadline)
    this.endSocket(condition, condition ? text : undefined)
    const queue = this.queue
    this.queue = []
    for (const queued of queue) queued.bounce(bounce)
    for (const pending of this.verifies.values()) pending.done(false)
    this.verifies.clear()
    this.manager.forget(this)
  }

  protected lost(): void {
    if (!this.closed) this.close(undefined, 'connection lost')
  }
}

/** A peer's stream to us. */
class S2sIn extends S2sStream {
  /** The peer's domains this stream authenticated, and how. */
  readonly domains = new Map<string, S2sConnectionInfo['auth']>()
  readonly remoteAddress: string
  private streamId = ''
  private local: string | undefined
  private claimed: string | undefined
  private phase: 'header' | 'open' = 'header'
  private deadline: NodeJS.Timeout | undefined
  /** XEP-0288: the peer asked for stanzas both ways; its authenticated domains are reached through this stream. */
  bidi = false

  constructor(
    manager: S2sManager,
    socket: net.Socket,
    readonly listener: S2sListener,
  ) {
    super(manager)
    this.remoteAddress = socket.remoteAddress ?? 'unknown'
    this.attach(socket)
    if (socket instanceof tls.TLSSocket) this.secured(socket)
    // A peer has as long as our own streams have to authenticate.
    const {s2s_dns_timeout: dns, s2s_connect_timeout: connect} = this.settings
    this.deadline = setTimeout(() => this.close('connection-timeout', 'authenticate within the time allowed'), (dns + connect) * 2000)
    this.deadline.unref()
  }

  protected get label(): string {
    return `s2s in ${this.serial} ${this.remoteAddress}${this.claimed ? ` ${this.claimed}` : ''}`
  }

  protected get authenticated(): boolean {
    return this.domains.size > 0
  }

  info(): S2sConnectionInfo {
    const methods = [...new Set(this.domains.values())]
    return {
      direction: 'incoming',
      local: this.local ?? '',
      remote: [...this.domains.keys()],
      state: this.authenticated ? 'ready' : 'authenticating',
      auth: methods[0] ?? 'none',
      tls: this.tlsVersion,
      address: this.remoteAddress,
      since: new Date(this.since).toISOString(),
      queued: 0,
      certificateVerified: this.identity !== undefined && this.claimed !== undefined && identityVerifies(this.identity, this.claimed),
      bidi: this.bidi,
    }
  }

  protected checkIdentity(): void {}

  protected async handle(event: ParserEvent): Promise<void> {
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

  private streamStart(header: Extract<ParserEvent, {type: 'stream-start'}>['header']): void {
    this.streamId = randomToken(12)
    const to = header.attrs.to?.toLowerCase()
    const reply = (from: string | undefined) => `${STREAM_PREFIX} id='${this.streamId}'${from ? ` from='${escapeAttribute(from)}'` : ''}${header.attrs.from ? ` to='${escapeAttribute(header.attrs.from)}'` : ''} version='1.0'>`
    this.phase = 'open'
    // RFC 6120 §4.8.5: jabber:server as the content namespace.
    if (header.local !== 'stream' || header.ns !== NS.stream || (header.declarations[''] ?? '') !== NS_SERVER) {
      this.write(reply(to))
      return this.close('invalid-namespace', 'a server-to-server stream is in jabber:server')
    }

    if (to === undefined || !this.manager.host.isLocalDomain(to) || (this.local !== undefined && to !== this.local)) {
      this.write(reply(undefined))
      return this.close('host-unknown', to === undefined ? 'the stream header has no "to"' : `this server does not serve ${to}`)
    }

    this.local = to
    this.claimed = header.attrs.from?.toLowerCase()
    if (this.claimed !== undefined && !this.manager.allowed(this.claimed)) {
      this.write(reply(to))
      return this.close('policy-violation', `this server does not federate with ${this.claimed} (s2s_access)`)
    }

    this.write(reply(to) + this.features())
  }

  private encryptionMissing(): boolean {
    return !this.encrypted && this.settings.s2s_use_starttls === 'required'
  }

  private features(): string {
    const parts: string[] = []
    const tlsOffered = !this.encrypted && this.settings.s2s_use_starttls !== 'false' && this.manager.host.s2sContext(this.local!) !== undefined
    if (tlsOffered) parts.push(`<starttls xmlns='${NS.tls}'>${this.settings.s2s_use_starttls === 'required' ? '<required/>' : ''}</starttls>`)
    // RFC 6120 §5.3.1: while TLS is mandatory, nothing else is offered.
    if (!this.encryptionMissing()) {
      // XEP-0178 §3: EXTERNAL only when the certificate proves the domain the stream header names.
      if (this.claimed !== undefined && !this.domains.has(this.claimed) && this.identity && identityVerifies(this.identity, this.claimed)) {
        parts.push(`<mechanisms xmlns='${NS.sasl}'><mechanism>EXTERNAL</mechanism></mechanisms>`)
      }

      parts.push(`<dialback xmlns='${NS_DIALBACK_FEATURE}'><errors/></dialback>`)
      if (!this.authenticated) parts.push(`<bidi xmlns='${NS_BIDI_FEATURE}'/>`)
    }

    return `<stream:features>${parts.join('')}</stream:features>`
  }

  private async element(element: Element): Promise<void> {
    if (element.ns === NS.tls && element.name === 'starttls') return this.startTls()
    if (element.ns === NS.sasl && element.name === 'auth') return this.external(element)
    if (element.ns === NS_DIALBACK && element.name === 'result') return this.dialbackResult(element)
    if (element.ns === NS_DIALBACK && element.name === 'verify') return this.dialbackVerify(element)
    if (element.ns === NS_BIDI && element.name === 'bidi') {
      // XEP-0288 §2: before authentication; no answer is sent.
      if (this.authenticated || this.encryptionMissing()) return this.close('policy-violation', 'bidi is asked for after TLS and before authentication')
      this.bidi = true
      return
    }

    if (element.ns !== NS_SERVER || !['iq', 'message', 'presence'].includes(element.name)) {
      return this.close('unsupported-stanza-type', `<${element.name}/> in ${element.ns || 'no namespace'} is not understood here`)
    }

    if (!this.authenticated) return this.close('not-authorized', 'authenticate the stream first')
    const from = domainOf(element.attrs.from)
    const to = domainOf(element.attrs.to)
    // RFC 6120 §4.9.3.10, §8.1.1.1: both addresses are required between servers.
    if (from === undefined || to === undefined) return this.close('improper-addressing', 'a stanza between servers needs a valid "from" and "to"')
    // RFC 6120 §4.9.3.9: only a domain this stream authenticated may be the sender.
    if (!this.domains.has(from)) return this.close('invalid-from', `${from} is not authenticated on this stream`)
    if (!this.manager.host.isLocalDomain(to)) return this.close('host-unknown', `this server does not serve ${to}`)
    await this.manager.host.remoteStanza(fromServerNamespace(element))
  }

  private startTls(): void {
    const context = this.manager.host.s2sContext(this.local!)
    if (this.encrypted || !context || this.settings.s2s_use_starttls === 'false') {
      this.write(`<failure xmlns='${NS.tls}'/>`)
      return this.close()
    }

    this.write(`<proceed xmlns='${NS.tls}'/>`)
    const plain = this.detach()
    this.restart()
    this.phase = 'header'
    // The peer's certificate is asked for and judged here, not by OpenSSL: a failed chain means dialback, not a dead connection.
    const secure = new tls.TLSSocket(plain, {isServer: true, secureContext: context, requestCert: true, rejectUnauthorized: false})
    secure.once('secure', () => this.secured(secure))
    this.attach(secure)
  }

  private authenticate(domain: string, method: S2sConnectionInfo['auth']): boolean {
    if (!this.manager.admitDomain(this, domain)) {
      this.close('policy-violation', `${domain} has all the connections it may have (s2s_max_connections_per_domain)`)
      return false
    }

    this.domains.set(domain, method)
    if (this.bidi) this.manager.route(this.local!, domain, this)
    // Dialback authenticates without a new stream: the stanza limit of authenticated streams applies from here.
    this.parser.setLimits({maxStanzaBytes: this.settings.max_stanza_size})
    clearTimeout(this.deadline)
    this.logger.info(`${this.label}: authenticated ${domain} with ${method} over ${this.tlsVersion ?? 'plaintext'}`)
    return true
  }

  /** RFC 6120 §6.4, XEP-0178 §3: the authorization identity (or the header's `from`) must be what the certificate proves. */
  private external(element: Element): void {
    const failure = (condition: string) => this.write(`<failure xmlns='${NS.sasl}'><${condition}/></failure>`)
    if (element.attrs.mechanism !== 'EXTERNAL') return failure('invalid-mechanism')
    if (this.encryptionMissing() || !this.encrypted) return failure('encryption-required')
    const text = element.text().trim()
    const authzid = text === '' || text === '=' ? this.claimed : Buffer.from(text, 'base64').toString('utf8').toLowerCase()
    if (authzid === undefined || !this.identity || !identityVerifies(this.identity, authzid) || !this.manager.allowed(authzid)) {
      this.logger.info(`${this.label}: SASL EXTERNAL for ${authzid ?? 'no domain'} refused: the certificate ${this.identity?.chainError ?? `names ${this.identity?.names.join(', ') || 'nothing'}`}`)
      return failure('not-authorized')
    }

    if (!this.authenticate(authzid, 'EXTERNAL')) return
    this.write(`<success xmlns='${NS.sasl}'/>`)
    this.restart()
    this.phase = 'header'
  }

  /** XEP-0220 §2.2: the peer's key for its domain, checked with its authoritative server unless its certificate proves the domain. */
  private async dialbackResult(element: Element): Promise<void> {
    const from = element.attrs.from?.toLowerCase()
    const to = element.attrs.to?.toLowerCase()
    const key = element.text().trim()
    const answer = (type: 'valid' | 'invalid' | 'error', condition?: string) =>
      this.write(
        type === 'error'
          ? `<db:result from='${escapeAttribute(to ?? '')}' to='${escapeAttribute(from ?? '')}' type='error'><error type='cancel'><${condition} xmlns='${NS.stanzas}'/></error></db:result>`
          : dialback('result', {from: to, to: from, type}),
      )
    if (from === undefined || to === undefined || key === '' || parseJid(from)?.domain !== from) return this.close('improper-addressing', 'db:result needs a "from", a "to" and a key')
    // XEP-0220 §2.4: errors in the dialback namespace, the stream stays.
    if (!this.manager.host.isLocalDomain(to)) return answer('error', 'item-not-found')
    if (!this.manager.allowed(from)) return answer('error', 'forbidden')
    if (this.encryptionMissing()) return answer('error', 'policy-violation')
    if (this.identity && identityVerifies(this.identity, from)) {
      // XEP-0344 §2.3: the certificate already proves the domain; no need to call back.
      if (this.authenticate(from, 'dialback (certificate)')) answer('valid')
      return
    }

    if (this.settings.s2s_secure_auth) {
      this.logger.info(`${this.label}: dialback for ${from} refused: its certificate does not verify (${this.identity?.chainError ?? 'no TLS'}), and s2s_secure_auth is on`)
      return answer('error', 'not-authorized')
    }

    const valid = await this.manager.verifyKey(to, from, this.streamId, key)
    if (this.closed) return
    if (!valid) {
      this.logger.info(`${this.label}: dialback key for ${from} is not valid`)
      return answer('invalid')
    }

    if (this.authenticate(from, 'dialback')) answer('valid')
  }

  /** XEP-0288: a stanza to the peer over its own stream; says whether it went out. */
  send(text: string): boolean {
    if (!this.connected) return false
    this.write(text)
    return true
  }

  /** XEP-0220 §2.3: as the authoritative server, whether a key is ours. */
  private dialbackVerify(element: Element): void {
    const {from, to, id} = element.attrs
    if (from === undefined || to === undefined || id === undefined) return this.close('improper-addressing', 'db:verify needs "from", "to" and "id"')
    const valid = this.manager.host.isLocalDomain(to) && dialbackKeyMatches(dialbackKey(this.manager.secret, from, to, id), element.text())
    this.write(dialback('verify', {from: to, to: from, id, type: valid ? 'valid' : 'invalid'}))
  }

  close(condition?: StreamErrorCondition, text?: string): void {
    if (this.closed) return
    if (condition) this.logger.info(`${this.label}: stream error ${condition}${text ? ` (${text})` : ''}`, `s2s stream error ${condition}`)
    if (condition && this.phase === 'header') this.write(`${STREAM_PREFIX} id='${randomToken(12)}' version='1.0'>`)
    this.closed = true
    clearTimeout(this.deadline)
    this.endSocket(condition, text)
    this.manager.forget(this)
  }

  protected lost(): void {
    if (!this.closed) this.close()
  }
}

/** The s2s streams of one server: outgoing by domain pair, incoming as they come. */
export class S2sManager {
  private readonly outgoing = new Map<string, S2sOut>()
  private readonly incoming = new Set<S2sIn>()
  /** Peers that could not be reached: what is sent to them bounces at once until then. */
  private readonly down = new Map<string, {until: number; condition: BounceCondition; failures: number}>()
  private readonly perAddress = new Map<string, number>()
  /** XEP-0288: incoming streams that carry our stanzas to their peer, by `local remote`. */
  private readonly bidiRoutes = new Map<string, S2sIn>()
  private stopped = false

  /**
   * `secret`: the dialback secret (XEP-0185 §3). A peer verifies a key by
   * connecting back to our domain, which may reach another node of a
   * cluster: its nodes share one (Cluster.sharedSecret()); one process
   * keeps its own.
   */
  constructor(
    readonly host: S2sHost,
    readonly secret: Buffer = randomBytes(32),
  ) {}

  /** Whether s2s_access lets this server federate with `domain`. */
  allowed(domain: string): boolean {
    const access = this.host.config.settings.s2s_access
    return access.length === 0 || access.includes(domain)
  }

  /**
   * Sends a stanza (jabber:client, `from` and `to` set) to the peer of its
   * `to` domain; `bounce` is called, once, if it cannot be delivered.
   */
  send(stanza: Element, bounce: (condition: BounceCondition) => void): void {
    const local = domainOf(stanza.attrs.from)
    const remote = domainOf(stanza.attrs.to)
    // A stopping server opens no streams (its sessions' last presence goes nowhere).
    if (this.stopped) return bounce('remote-server-not-found')
    if (local === undefined || remote === undefined || !this.allowed(remote)) return bounce('remote-server-not-found')
    const down = this.down.get(remote)
    if (down && down.until > Date.now()) return bounce(down.condition)
    // Elements in jabber:client are written without a namespace, so they take the stream's jabber:server.
    const text = stanza.toString(NS.client)
    const bidi = this.bidiRoutes.get(`${local} ${remote}`)
    // A peer's stream that just ended cannot take it: a stream of our own does, or bounces it.
    if (bidi && !this.outgoing.has(`${local} ${remote}`) && bidi.send(text)) return
    this.stream(local, remote).send(text, bounce)
  }

  private stream(local: string, remote: string): S2sOut {
    const key = `${local} ${remote}`
    let stream = this.outgoing.get(key)
    if (!stream) {
      stream = new S2sOut(this, local, remote)
      this.outgoing.set(key, stream)
      void stream.start()
    }

    return stream
  }

  /** XEP-0220 §2.3: asks `remote`'s authoritative server whether `key` is its key for our stream `streamId`. */
  verifyKey(local: string, remote: string, streamId: string, key: string): Promise<boolean> {
    const down = this.down.get(remote)
    if (down && down.until > Date.now()) return Promise.resolve(false)
    return this.stream(local, remote).verify(streamId, key)
  }

  /** A peer failed: not tried again for a while, doubling up to s2s_max_retry_delay. */
  unreachable(remote: string, condition: BounceCondition): void {
    const failures = (this.down.get(remote)?.failures ?? 0) + 1
    const delay = Math.min(this.host.config.settings.s2s_max_retry_delay, 2 ** Math.min(failures, 20))
    this.down.set(remote, {until: Date.now() + delay * 1000, condition, failures})
  }

  accept(socket: net.Socket, listener: S2sListener): void {
    const address = socket.remoteAddress ?? 'unknown'
    const open = this.perAddress.get(address) ?? 0
    const unauthenticated = [...this.incoming].filter((stream) => stream.remoteAddress === address && stream.domains.size === 0).length
    if (open >= this.host.config.settings.s2s_max_connections_per_domain * 4 || unauthenticated >= MAX_UNAUTHENTICATED_PER_ADDRESS) {
      this.host.logger.info(`s2s: refused a connection from ${address}: ${open} open`)
      socket.destroy()
      return
    }

    this.perAddress.set(address, open + 1)
    socket.once('close', () => {
      const left = (this.perAddress.get(address) ?? 1) - 1
      if (left <= 0) this.perAddress.delete(address)
      else this.perAddress.set(address, left)
    })
    socket.setKeepAlive(true, 60_000)
    this.incoming.add(new S2sIn(this, socket, listener))
  }

  /** XEP-0288: stanzas from `local` to `remote` go over `stream`, the peer's. */
  route(local: string, remote: string, stream: S2sIn): void {
    this.bidiRoutes.set(`${local} ${remote}`, stream)
  }

  /** Whether `domain` may have one more authenticated incoming stream. */
  admitDomain(stream: S2sIn, domain: string): boolean {
    let count = 0
    for (const other of this.incoming) if (other !== stream && other.domains.has(domain)) count++
    return count < this.host.config.settings.s2s_max_connections_per_domain
  }

  forget(stream: S2sStream): void {
    if (stream instanceof S2sOut) {
      const key = `${stream.local} ${stream.remote}`
      if (this.outgoing.get(key) === stream) this.outgoing.delete(key)
      if (stream.state === 'ready') this.down.delete(stream.remote)
    } else {
      this.incoming.delete(stream as S2sIn)
      for (const [key, route] of this.bidiRoutes) if (route === stream) this.bidiRoutes.delete(key)
    }
  }

  list(): S2sConnectionInfo[] {
    return [...[...this.incoming].map((stream) => stream.info()), ...[...this.outgoing.values()].map((stream) => stream.info())]
  }

  /** Closes every stream to and from `domain`; returns how many. */
  close(domain: string): number {
    let closed = 0
    for (const stream of [...this.outgoing.values()]) {
      if (stream.remote !== domain) continue
      stream.close(undefined, 'closed by the administrator')
      closed++
    }

    for (const stream of [...this.incoming]) {
      if (!stream.domains.has(domain)) continue
      stream.close('policy-violation', 'closed by the administrator')
      closed++
    }

    this.down.delete(domain)
    return closed
  }

  /** Server stop: every stream ends with system-shutdown. */
  stop(): void {
    this.stopped = true
    for (const stream of [...this.outgoing.values()]) stream.close('system-shutdown')
    for (const stream of [...this.incoming]) stream.close('system-shutdown')
  }
}
