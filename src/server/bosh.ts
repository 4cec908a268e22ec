/**
 * BOSH (XEP-0124, XMPP over it per XEP-0206): a session is a series of HTTP
 * requests, each a <body/> with the next request id. Bodies are read in rid
 * order into a C2sSession through BOSH_FRAMING, so SASL, binding and stanzas
 * are the c2s code; what the session writes waits in a queue for the next
 * held request, or goes out in the one held now.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'
import type net from 'node:net'
import {EventEmitter} from 'node:events'
import {Duplex} from 'node:stream'
import type tls from 'node:tls'

import type {C2sSession, SessionTransport} from './c2s.js'
import {ElementReader, type Framing, standalone, syntheticHeader} from './framing.js'
import {type HttpHandler, SECURITY_HEADERS, answer} from './http.js'
import type {Logger} from './log.js'
import {NS} from '../xml/namespaces.js'
import {randomToken} from './random.js'
import {type Element, escapeAttribute} from '../xml/element.js'
import {type ParserEvent, parseElement} from '../xml/parser.js'

export const BOSH_NS = 'http://jabber.org/protocol/httpbind'
/** Seconds a node that handed a request to another waits past the longest `wait` before it gives up on the answer. */
const FORWARD_MARGIN_S = 10
const XBOSH_NS = 'urn:xmpp:xbosh'

export interface BoshSettings {
  /** Seconds a session lives without a request held (mod_bosh's max_inactivity). */
  maxInactivity: number
  /** The longest `wait` granted, in seconds. */
  maxWait: number
  /** Requests the server holds at once (`hold`). */
  hold: number
}

export interface BoshHost {
  logger: Logger
  settings(): BoshSettings
  maxStanzaBytes(): number
  /** Origins allowed to call from a page (websocket_origin); empty: any. */
  origins(): readonly string[]
  /** Unauthenticated BOSH sessions one address may hold. */
  maxUnauthenticatedPerAddress(): number
  /** Bytes queued for a client that does not poll before its session ends. */
  maxWriteBuffer(): number
  session(socket: net.Socket, transport: SessionTransport): C2sSession | undefined
  /**
   * In a cluster: this node's name, which ends each sid it makes (`~NODE`),
   * and how to hand a request for another node's session to that node
   * (its answer, or a rejection when the node cannot be reached). A client's
   * requests may reach any node: a load balancer, or the workers of one
   * machine sharing the port, spreads its connections.
   */
  cluster?: {node: string; forward(node: string, body: string, timeoutMs: number): Promise<string>}
}

/** A request another node handed over (BoshHost.cluster): answered through `settle`, as a ServerResponse would be written. */
class ForwardedResponse extends EventEmitter {
  constructor(readonly settle: (text: string) => void) {
    super()
  }
}

/** Where a request's answer goes: the client's own HTTP response, or the node that handed the request over. */
type BoshResponse = ServerResponse | ForwardedResponse

/** Renames elements a client left in the httpbind namespace to jabber:client: a body's children are stanzas (XEP-0206 §4). */
function intoClientNamespace(element: Element): Element {
  if (element.ns === BOSH_NS) element.ns = NS.client
  for (const child of element.children) if (typeof child !== 'string') intoClientNamespace(child)
  return element
}

/** XEP-0206: the session's stream is the bodies' children; creation and restart bodies start it, terminate ends it. */
export const BOSH_FRAMING: Framing = {
  reader(limits) {
    // The body wraps the stanzas: a little room for it.
    const elements = new ElementReader({...limits, maxStanzaBytes: limits.maxStanzaBytes + 4096})
    return {
      write(chunk): ParserEvent[] {
        const events: ParserEvent[] = []
        for (const event of elements.read(chunk, 'BOSH body')) {
          if (event.type !== 'stanza') {
            events.push(event)
            continue
          }

          const body = event.element
          const restart = body.attrs['xmpp:restart'] === 'true'
          // XEP-0206 §5: the creation request opens the stream; §5.2 (restart) opens a new one after SASL.
          if (body.attrs.sid === undefined || restart) events.push({type: 'stream-start', header: syntheticHeader({...(body.attrs.to === undefined ? {} : {to: body.attrs.to}), version: '1.0'})})
          if (!restart) for (const child of body.children) if (typeof child !== 'string') events.push({type: 'stanza', element: intoClientNamespace(child)})
          if (body.attrs.type === 'terminate') events.push({type: 'stream-end'})
        }

        return events
      },
    }
  },
  // The session's attributes go on the creation response's <body/> instead.
  header: () => '',
  // The transport ends the session with a terminate body.
  footer: () => '',
  element: standalone,
}

interface Held {
  rid: number
  response: BoshResponse
  timer: NodeJS.Timeout
}

/** One BOSH session: the request ids, the held requests and the queue, seen by the C2sSession as a duplex of bodies. */
class BoshSession extends Duplex {
  readonly sid: string
  readonly remoteAddress: string
  c2s: C2sSession | undefined
  /** The last rid whose body was read. */
  private rid: number
  private readonly held: Held[] = []
  /** Bodies that came ahead of a missing rid (XEP-0124 §14.2), by rid. */
  private readonly early = new Map<number, Buffer>()
  /** The last responses sent, by rid, sent again when a client repeats a request (XEP-0124 §14.3). */
  private readonly sent = new Map<number, string>()
  private queue: string[] = []
  private queued = 0
  private creation: string | undefined
  private inactivity: NodeJS.Timeout | undefined
  private flushing = false
  private ended = false
  readonly wait: number
  readonly requests: number

  constructor(
    private readonly bosh: BoshEndpoint,
    remoteAddress: string,
    rid: number,
    wait: number,
    private readonly settings: BoshSettings,
    creationAttributes: (sid: string, requests: number) => string,
  ) {
    super({readableObjectMode: true, decodeStrings: false, allowHalfOpen: false})
    this.sid = bosh.newSid()
    this.remoteAddress = remoteAddress
    this.rid = rid - 1
    this.wait = wait
    this.requests = settings.hold + 1
    this.creation = creationAttributes(this.sid, this.requests)
  }

  /** A request of this session: read in order, then held for what the session sends. */
  request(rid: number, bytes: Buffer, response: BoshResponse): void {
    clearTimeout(this.inactivity)
    if (rid <= this.rid) {
      // §14.3: a repeated request gets the answer it got, if still kept.
      const previous = this.sent.get(rid)
      if (previous !== undefined) {
        this.bosh.respond(response, previous)
        // Answered at once: with nothing held, the session's inactivity clock runs again (§7).
        this.idle()
        return
      }

      // One still held, sent again because its connection broke: the new request is held in its place.
      const held = this.held.find((entry) => entry.rid === rid)
      if (held) {
        const stale = held.response
        held.response = response
        this.forgetOnClose(response)
        this.bosh.respond(stale, `<body xmlns='${BOSH_NS}'/>`)
        return
      }

      // A terminal error ends the session (§17); what was queued for it is undelivered, not lost.
      this.bosh.terminate(response, 'item-not-found')
      this.destroy()
      return
    }

    // §14.2: no more than `requests` ahead of the last one read.
    if (rid > this.rid + this.requests) {
      this.bosh.terminate(response, 'item-not-found')
      this.destroy()
      return
    }

    this.hold(rid, response)
    this.early.set(rid, bytes)
    while (this.early.has(this.rid + 1)) {
      const next = this.early.get(this.rid + 1)!
      this.early.delete(++this.rid)
      this.push(next)
    }
  }

  private hold(rid: number, response: BoshResponse): void {
    const entry: Held = {rid, response, timer: setTimeout(() => this.answer(this.held.indexOf(entry)), this.wait * 1000)}
    entry.timer.unref()
    this.held.push(entry)
    this.forgetOnClose(response)
    // §10: holding more than `hold`, the oldest is answered now (empty if nothing waits).
    while (this.held.length > this.settings.hold) this.answer(0)
    this.scheduleFlush()
  }

  /** A held request whose connection closes is no longer held. */
  private forgetOnClose(response: BoshResponse): void {
    response.once('close', () => {
      const index = this.held.findIndex((held) => held.response === response)
      if (index !== -1) {
        clearTimeout(this.held[index].timer)
        this.held.splice(index, 1)
        this.idle()
      }
    })
  }

  /** Bytes written and not yet in a response: what pacing (C2sSession.drained()) waits on, as a socket's writableLength. */
  get pendingBytes(): number {
    return this.queued
  }

  /** Answers the held request at `index` with what is queued. */
  private answer(index: number): void {
    if (index < 0 || index >= this.held.length) return
    const [held] = this.held.splice(index, 1)
    clearTimeout(held.timer)
    // Its connection reset before its 'close' came: the queue waits for the next request rather than go nowhere.
    if (!this.bosh.canRespond(held.response)) return this.idle()
    const attributes = this.creation ?? ''
    this.creation = undefined
    const text = `<body xmlns='${BOSH_NS}'${attributes}>${this.queue.join('')}</body>`
    this.queue = []
    this.queued = 0
    this.sent.set(held.rid, text)
    for (const rid of this.sent.keys()) if (rid <= held.rid - this.requests) this.sent.delete(rid)
    this.bosh.respond(held.response, text)
    this.emit('drain')
    this.idle()
  }

  /** With no request held, the session lives max_inactivity seconds more (XEP-0124 §7). */
  private idle(): void {
    if (this.held.length > 0 || this.ended) return
    clearTimeout(this.inactivity)
    this.inactivity = setTimeout(() => this.destroy(), this.settings.maxInactivity * 1000)
    this.inactivity.unref()
  }

  /** Writes of one turn go out together, in the oldest held request. */
  private scheduleFlush(): void {
    if (this.flushing || this.queue.length === 0 || this.held.length === 0) return
    this.flushing = true
    setImmediate(() => {
      this.flushing = false
      // The creation response carries the features: it waits for them.
      if (this.queue.length > 0) this.answer(0)
    })
  }

  override _read(): void {}

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8')
    if (text !== '') this.queue.push(text)
    this.queued += Buffer.byteLength(text)
    // A client that stops polling while stanzas pile up is gone, as a TCP client that stops reading (maxWriteBuffer).
    if (this.queued > this.bosh.maxQueued()) {
      this.destroy()
      return callback()
    }

    this.scheduleFlush()
    callback()
  }

  /** The session ended its stream: every held request gets the terminate body, with a stream error if one is queued (XEP-0206 §7). */
  override _final(callback: (error?: Error | null) => void): void {
    this.finish()
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.finish()
    this.push(null)
    callback(error)
  }

  /**
   * Ends the session: held requests get the terminate body, the first one
   * with what is queued. With no request held, what is queued reaches no
   * one: it is reported as undelivered (C2sSession stores the messages
   * offline or returns them, RFC 6121 §8.5.2.2) rather than dropped.
   */
  private finish(): void {
    if (this.ended) return
    this.ended = true
    clearTimeout(this.inactivity)
    const queue = this.queue
    const data = queue.join('')
    this.queue = []
    this.queued = 0
    const condition = data.includes('<stream:error') ? " condition='remote-stream-error'" : ''
    const held = this.held.splice(0)
    for (const {timer} of held) clearTimeout(timer)
    // The queue goes in the first request that can still be answered (a connection may have reset before its 'close' came).
    let carried = false
    for (const {response} of held) {
      if (carried || !this.bosh.canRespond(response)) this.bosh.respond(response, `<body xmlns='${BOSH_NS}' type='terminate'/>`)
      else {
        this.bosh.respond(response, `<body xmlns='${BOSH_NS}' type='terminate'${condition} xmlns:stream='${NS.stream}'>${data}</body>`)
        carried = true
      }
    }

    if (!carried && queue.length > 0) this.emit('undelivered', queue)
    this.bosh.forget(this)
  }

  setNoDelay(): this {
    return this
  }
}

/** mod_bosh at one path: session creation, requests by sid, CORS. */
export class BoshEndpoint implements HttpHandler {
  private readonly sessions = new Map<string, BoshSession>()

  constructor(private readonly host: BoshHost) {}

  request(request: IncomingMessage, response: ServerResponse): void {
    const cors = this.cors(request)
    if (cors === undefined) {
      request.resume()
      return answer(response, 403, 'origin not allowed')
    }

    // XEP-0124 §4 (and the CORS preflight a browser sends first).
    if (request.method === 'OPTIONS') {
      request.resume()
      return answer(response, 200, '', {...cors, 'Access-Control-Allow-Methods': 'POST, OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type', 'Access-Control-Max-Age': '86400'})
    }

    if (request.method !== 'POST') {
      request.resume()
      return answer(response, 405, 'BOSH takes POST requests (XEP-0124 §4)', {Allow: 'POST, OPTIONS', ...cors})
    }

    const limit = this.host.maxStanzaBytes() + 4096
    const chunks: Buffer[] = []
    let size = 0
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        answer(response, 413, `a body may hold ${limit} bytes`, cors)
        request.destroy()
        return
      }

      chunks.push(chunk)
    })
    request.on('end', () => {
      if (size > limit) return
      this.body(request, Buffer.concat(chunks), response, cors)
    })
  }

  private cors(request: IncomingMessage): Record<string, string> | undefined {
    const origin = request.headers.origin
    const origins = this.host.origins()
    if (origins.length === 0) return {'Access-Control-Allow-Origin': '*'}
    if (origin === undefined) return {}
    return origins.includes(origin) ? {'Access-Control-Allow-Origin': origin, Vary: 'Origin'} : undefined
  }

  private body(request: IncomingMessage, bytes: Buffer, response: ServerResponse, cors: Record<string, string>): void {
    // Set now: the answer may be written much later, from the session's queue.
    for (const [name, value] of Object.entries(cors)) response.setHeader(name, value)
    const body = parseElement(bytes.toString('utf8'))
    // XEP-0124 §17.1: what is not a <body/> is a bad request.
    if (!body || body.name !== 'body' || body.ns !== BOSH_NS) return this.terminate(response, 'bad-request')
    const rid = Number(body.attrs.rid)
    if (!Number.isSafeInteger(rid) || rid < 0) return this.terminate(response, 'bad-request')
    const sid = body.attrs.sid
    if (sid === undefined) return this.create(request, body, rid, bytes, response)
    const session = this.sessions.get(sid)
    const cluster = this.host.cluster
    const node = sid.includes('~') ? sid.slice(sid.lastIndexOf('~') + 1) : undefined
    if (!session && cluster && node !== undefined && node !== cluster.node) {
      // Another node's session: it answers, when it holds the request no longer than its wait.
      cluster.forward(node, bytes.toString('utf8'), (this.host.settings().maxWait + FORWARD_MARGIN_S) * 1000).then(
        (text) => this.respond(response, text),
        () => this.terminate(response, 'item-not-found'),
      )
      return
    }

    // §17.3: an unknown session.
    if (!session) return this.terminate(response, 'item-not-found')
    session.request(rid, bytes, response)
  }

  /** A request another node of the cluster handed over (see body()): its answer, once there is one. */
  forwarded(text: string): Promise<string> | undefined {
    const body = parseElement(text)
    const session = body?.attrs.sid === undefined ? undefined : this.sessions.get(body.attrs.sid)
    const rid = Number(body?.attrs.rid)
    if (!session || !Number.isSafeInteger(rid) || rid < 0) return undefined
    return new Promise((resolve) => session.request(rid, Buffer.from(text, 'utf8'), new ForwardedResponse(resolve)))
  }

  /** A new session's id: 24 random bytes, the only credential until SASL; in a cluster, then the node that holds it. */
  newSid(): string {
    const cluster = this.host.cluster
    return cluster ? `${randomToken(24)}~${cluster.node}` : randomToken(24)
  }

  private create(request: IncomingMessage, body: Element, rid: number, bytes: Buffer, response: BoshResponse): void {
    const settings = this.host.settings()
    const address = request.socket.remoteAddress ?? 'unknown'
    let unauthenticated = 0
    for (const session of this.sessions.values()) if (session.remoteAddress === address && !session.c2s?.bound) unauthenticated++
    if (unauthenticated >= this.host.maxUnauthenticatedPerAddress()) return this.terminate(response, 'policy-violation')
    const to = body.attrs.to
    if (to === undefined) return this.terminate(response, 'improper-addressing')
    const requested = Number(body.attrs.wait ?? settings.maxWait)
    const wait = Math.max(1, Math.min(settings.maxWait, Number.isFinite(requested) ? Math.floor(requested) : settings.maxWait))
    // The sid is the session's only credential until SASL: 24 random bytes.
    const attributes = (sid: string, requests: number) =>
      ` sid='${sid}' wait='${wait}' requests='${requests}' hold='${settings.hold}' inactivity='${settings.maxInactivity}' polling='1' ver='1.11' from='${escapeAttribute(to)}' xmpp:version='1.0' xmlns:xmpp='${XBOSH_NS}' xmpp:restartlogic='true' xmlns:stream='${NS.stream}'`
    const session = new BoshSession(this, address, rid, wait, settings, attributes)
    const encrypted = (request.socket as tls.TLSSocket).encrypted === true
    const c2s = this.host.session(session as unknown as net.Socket, {framing: BOSH_FRAMING, encrypted, remoteAddress: address, kind: 'bosh'})
    if (!c2s) return this.terminate(response, 'system-shutdown')
    session.c2s = c2s
    this.sessions.set(session.sid, session)
    session.request(rid, bytes, response)
  }

  maxQueued(): number {
    return this.host.maxWriteBuffer()
  }

  /** Whether `response` can still be answered: false once its connection closed or it was answered. */
  canRespond(response: BoshResponse): boolean {
    return response instanceof ForwardedResponse || !(response.writableEnded || response.destroyed)
  }

  respond(response: BoshResponse, text: string): void {
    if (response instanceof ForwardedResponse) return response.settle(text)
    if (!this.canRespond(response)) return
    response.writeHead(200, {...SECURITY_HEADERS, 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), 'Cache-Control': 'no-store'})
    response.end(text)
  }

  /** XEP-0124 §17: a terminal binding condition. */
  terminate(response: BoshResponse, condition: string): void {
    this.respond(response, `<body xmlns='${BOSH_NS}' type='terminate' condition='${condition}'/>`)
  }

  forget(session: BoshSession): void {
    if (this.sessions.get(session.sid) === session) this.sessions.delete(session.sid)
  }
}
