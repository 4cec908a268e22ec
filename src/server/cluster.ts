/**
 * A cluster of server nodes (`sm_db_type: redis`, DESIGN.md "Beyond one
 * machine"): every node keeps its data in the shared PostgreSQL store and
 * registers its bound sessions in Redis; stanzas for a session on another
 * node travel over Redis pub/sub to that node, which delivers them.
 *
 * The core stays synchronous: each node keeps an in-memory mirror of the
 * other nodes' sessions, loaded in full at start and kept current by the
 * events every node publishes (bind, unbind, presence and priority). The
 * ClusterRouter answers the core with local sessions and with proxies of
 * remote ones (RemoteSession), whose send() publishes to their node.
 *
 * Redis keys, under `xmppctl:`:
 *   nodes                 set of node names ever seen
 *   node:NAME             hash: pid, startedAt
 *   node:NAME:alive       this node's token, TTL LIVENESS_TTL_MS, refreshed every HEARTBEAT_MS
 *   sessions:NAME         hash: full JID → {p: priority, a: available, x: presence XML}
 *   service:DOMAIN        the node that serves a hosted service's domain (rooms)
 *   secret:NAME           secrets every node shares (the dialback secret)
 *   farewell:NAME:START:HOW  the node that told other servers a dead node's users left
 * Channels: `xmppctl:events` (registry changes, account events), and
 * `xmppctl:node:NAME` (stanzas for that node's sessions, acknowledgements,
 * and requests for its resumable sessions and their answers).
 *
 * XEP-0198 resumption across nodes: a resumption id names the node that
 * made it (stream-management.ts), and a session resumed on another node
 * keeps its id (§5: the client resumes with the id <enabled/> gave), so its
 * registry entry there carries the id (`r`): a node asked to resume an id
 * asks the node holding the session for it (resume()), which hands it
 * over (resumeRequested()).
 */
import {randomBytes} from 'node:crypto'
import path from 'node:path'

import {createClient} from '@redis/client'

import type {Configuration} from '../config/index.js'
import {readSecretFile} from '../config/secret-file.js'
import {ExitCode, UnavailableError, XmppctlError} from '../errors.js'
import type {Element} from '../xml/element.js'
import {NS} from '../xml/namespaces.js'
import {parseElement} from '../xml/parser.js'
import {type C2sSession, type HandOff, type HandedOverSession, NOTHING_SHARED, type ResumeRefusal, type SharedSessionState} from './c2s.js'
import {type Jid, parseJid} from './jid.js'
import type {Logger} from './log.js'
import type {ServiceSenderKind} from './modules/types.js'
import {Router} from './router.js'
import {resumptionNode} from './stream-management.js'

/** How often a node refreshes its liveness key and checks the others'. */
export const HEARTBEAT_MS = 1000
/** Distinct shared session states (C2sSession.shared) a node keeps parsed for its mirror. */
const SHARED_STATES_KEPT = 1000
/** How long a node's liveness key outlives its last refresh: a node killed is seen dead within this plus one HEARTBEAT_MS. */
export const LIVENESS_TTL_MS = 5000

const PREFIX = 'xmppctl:'
const EVENTS = `${PREFIX}events`
const nodeChannel = (node: string) => `${PREFIX}node:${node}`
const ALIVE_KEY_HEAD = `${PREFIX}node:`
const ALIVE_KEY_TAIL = ':alive'
const aliveKey = (node: string) => `${ALIVE_KEY_HEAD}${node}${ALIVE_KEY_TAIL}`
const infoKey = (node: string) => `${PREFIX}node:${node}`
const sessionsKey = (node: string) => `${PREFIX}sessions:${node}`
const NODES = `${PREFIX}nodes`
const serviceKey = (domain: string) => `${PREFIX}service:${domain}`
const secretKey = (name: string) => `${PREFIX}secret:${name}`

/**
 * Claims a hosted service's domain for node ARGV[1] unless a live node holds
 * it (its liveness key, ARGV[2] .. holder .. ARGV[3], exists); returns the
 * holder. One script, so two nodes cannot both see it free and both take it.
 */
const CLAIM_SERVICE = `local holder = redis.call('GET', KEYS[1])
if holder and redis.call('EXISTS', ARGV[2] .. holder .. ARGV[3]) == 1 then return holder end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]`

/**
 * A stanza forwarded between nodes (Element's toString, its namespace
 * declared first) as a client stream writes it, with jabber:client in scope:
 * the declaration goes, as C2sSession would leave it out.
 */
const CLIENT_NAMESPACE_DECLARED = new RegExp(`^<([a-z]+) xmlns='${NS.client}'(?=[ />])`)
const inClientStream = (stanza: string) => stanza.replace(CLIENT_NAMESPACE_DECLARED, '<$1')
/** An iq get or set as this server serialises it (attribute values quoted with ', which they cannot hold unescaped). */
const IQ_REQUEST = /^<iq\s[^>]*\stype='(?:get|set)'/

/** What the registry keeps of a session: what routing needs. */
interface Entry {
  /** Priority (RFC 6121 §4.7.2.3). */
  p: number
  /** Whether it sent initial presence. */
  a: boolean
  /** Its last available presence, for probes and initial presence (serialised). */
  x?: string
  /** Enabled message carbons (XEP-0280). */
  c?: 1
  /** Requested the roster: gets roster pushes (RFC 6121 §2.1.6). */
  i?: 1
  /** Its XEP-0198 resumption id, when the id names another node (the session was resumed here from there). */
  r?: string
  /** What modules share of it (C2sSession.shared), as JSON. */
  m?: string
}

type ClusterEvent =
  | {t: 'bind'; node: string; jid: string; e: Entry}
  | {t: 'unbind'; node: string; jid: string}
  /** Forget every session of `node`: it stopped, or it (re)started and what it had before is gone. */
  | {t: 'reset'; node: string}
  | {t: 'account'; node: string; event: AccountEvent}
  /** What the store keeps of an account and modules cache changed (a blocklist, archiving preferences). */
  | {t: 'data'; node: string; jid: string}

/** On a node's channel: a stanza for one of its sessions (a message with its sender's sequence number), acknowledgements, or a resumption's request or answer. */
type NodeMessage =
  | {to: string; s: string; from?: string; q?: number}
  /** What one turn of the sender's event loop had for this node, in order (see post()). */
  | {b: NodeMessage[]}
  /** Messages of `from`'s sequence numbers that left the receiving node's hands (delivered and acknowledged by the client, stored, or handed on). */
  | {ack: number[]; from: string}
  | ResumeRequest
  | ResumeAnswer
  | MoveRequest
  | MoveAnswer
  /** A stanza for a hosted service this node serves (see serviceHome()), with its sender's sequence number (toService()). */
  | {svc: string; k: ServiceSenderKind; from?: string; q?: number}
  | NodeRequest
  | NodeAnswer

/** What this turn of the event loop posted to one node (Cluster.post()). */
interface OutgoingBatch {
  messages: NodeMessage[]
  /** The sequence numbers of the stanzas among them that are kept until acknowledged (forward()): handled here if no node took the batch. */
  trackedSeqs?: number[]
  /** Resolves with how many subscribers the batch reached. */
  sent: Promise<number>
  settle(receivers: number, error?: unknown): void
}

/** A request that node `from` asks this one to run (ask()): `xmppctl muc …` for rooms this node serves, a BOSH request for a session held here. */
interface NodeRequest {
  ask: unknown
  aid: number
  from: string
}

/** The answer to request `aid`, or its error. */
interface NodeAnswer {
  aid: number
  from: string
  answer?: unknown
  error?: {code: string; message: string; hint?: string}
}

/** `from` is stopping: take its resumable session, to wait here for its client to resume it. */
interface MoveRequest {
  move: HandedOverSession
  mid: number
  from: string
}

/** Whether this node took the session of move request `mid`. */
interface MoveAnswer {
  mid: number
  from: string
  taken: boolean
}

/** XEP-0198 §5: hand over the session `resume` names if it is `account`'s (the bare JID `from` authenticated), after the client's count `h`. */
interface ResumeRequest {
  resume: string
  h: number
  account: string
  rid: number
  from: string
}

/** The answer to request `rid`: the session, or why not. */
interface ResumeAnswer {
  rid: number
  from: string
  session?: HandedOverSession
  refused?: ResumeRefusal
}

/** How long a node waits for another to answer a resumption request before the client gets item-not-found. */
export const RESUME_REQUEST_TIMEOUT_MS = 5000

const NOT_FOUND: ResumeRefusal = {condition: 'item-not-found'}

/** How long a node waits for Redis at start. */
const CONNECT_TIMEOUT_MS = 5000

/** How long a node gathers acknowledgements of messages before it sends them. */
const ACK_DELAY_MS = 50

export interface AccountEvent {
  type: 'user-deleted' | 'user-disabled' | 'password-changed'
  jid: string
}

export interface ClusterNodeStatus {
  node: string
  health: 'up' | 'down'
  sessions: number
  pid?: number
  startedAt?: string
}

export interface ClusterStatus {
  node: string
  redis: string
  nodes: ClusterNodeStatus[]
}

/** What the cluster asks of the server it runs in. */
export interface ClusterHost {
  logger: Logger
  /** A stanza for a session of this node that is no longer here (or a node gone before it was delivered). */
  undeliverable(stanza: Element): void
  /** A remote session ended without saying so (its node died, or restarted): unavailable presence to local contacts. */
  remoteSessionEnded(session: C2sSession): void
  /** The same, for its contacts on other servers: one node of the cluster is asked, the one that claimed the farewell (nodeGone()). */
  remoteSessionEndedForOtherServers(session: C2sSession): void
  /** An account changed on another node's say-so: close its sessions here. */
  accountEvent(event: AccountEvent): void
  /** Another node changed data of the account (bare JID) that modules cache: drop it here. */
  accountDataChanged(bare: string): void
  /** Another node asks for the resumable session `id` names, for a connection authenticated as `account`: undefined when there is none of that account. */
  handOff(id: string, h: number, account: string): HandOff | undefined
  /** A session handed over to this node that no connection took: it ends here (`rebound`: the client has bound that resource again meanwhile). */
  abandoned(session: HandedOverSession, rebound: boolean): void
  /** A session another node moved here as it stopped: false when it cannot wait here for its client. */
  adoptMoved(session: HandedOverSession): boolean
  /** A session on another node ended or became unavailable (what it joined here, a room say, must hear it). */
  remoteSessionGone(fullJid: string): void
  /** A stanza another node forwarded to a hosted service this node serves, its `from` set by that node: from a client of the cluster, or from another server. Settles once the service has handled it. */
  serviceStanza(stanza: Element, sender: ServiceSenderKind): Promise<void>
  /** A stanza this node sent to the node serving a hosted service, which died before it acknowledged it: to be served again, by whichever node serves the domain now. */
  serviceStanzaUnacknowledged(stanza: Element, sender: ServiceSenderKind): void
  /** Runs a request another node asked this one to run (ask()); its answer goes back as JSON. */
  nodeRequest(request: unknown): Promise<unknown>
}

/** How long the claim to speak for a dead node to other servers is kept (farewell()): longer than any node takes to see the death. */
const FAREWELL_CLAIM_MS = 10 * 60_000

/** How long a request to another node (ask()) waits for its answer, unless the caller says otherwise. */
export const NODE_REQUEST_TIMEOUT_MS = 10_000

/** The longest a bind result waits for the other nodes to be told of the session. */
const REGISTRATION_WAIT_MS = 2000

/** How long a stopping node waits for another to take a session it moves there. */
const MOVE_TIMEOUT_MS = 3000

/**
 * A session bound on another node, as the core and modules see it through
 * the Router: its address, priority, availability and presence, whether it
 * enabled carbons and asked for the roster (so carbons and roster pushes
 * reach it from any node), and send(). What a module keeps per session in
 * its own memory stays on the session's node, and such modules skip remote
 * sessions: PEP finds no entity capabilities for a proxy (no +notify across
 * nodes), mod_blocking pushes only to sessions that asked on its node, and
 * client state indication queues on the node that holds the connection,
 * once the stanza arrived there.
 */
class RemoteSession {
  readonly jid: Jid
  readonly fullJid: string
  readonly bareJid: string
  readonly host: string
  readonly username: string
  readonly localSession = undefined
  priority = 0
  available = false
  presence: Element | undefined
  carbons = false
  interested = false
  resumptionId: string | undefined
  shared: SharedSessionState = NOTHING_SHARED

  constructor(
    readonly node: string,
    jid: Jid,
    entry: Entry,
    private readonly cluster: Cluster,
  ) {
    this.jid = jid
    this.fullJid = `${jid.local}@${jid.domain}/${jid.resource}`
    this.bareJid = `${jid.local}@${jid.domain}`
    this.host = jid.domain
    this.username = jid.local
    this.update(entry)
  }

  update(entry: Entry): void {
    this.priority = entry.p
    this.available = entry.a
    this.presence = entry.x === undefined ? undefined : parseElement(entry.x)
    this.carbons = entry.c === 1
    this.interested = entry.i === 1
    this.resumptionId = entry.r
    this.shared = entry.m === undefined ? NOTHING_SHARED : this.cluster.sharedState(entry.m)
  }

  send(stanza: Element | string): void {
    this.cluster.forward(this, typeof stanza === 'string' ? stanza : stanza.toString())
  }

  /** What the core may ask of a session it routes to (see the class comment). */
  asSession(): C2sSession {
    return this as unknown as C2sSession
  }
}

/**
 * The Router of a cluster node: local sessions first, then the mirror of the
 * other nodes'. localAvailable() and every() stay local.
 */
export class ClusterRouter extends Router {
  private readonly remote = new Map<string, Map<string, RemoteSession>>()
  /** Remote sessions resumed away from the node their resumption id names, by that id. */
  private readonly moved = new Map<string, RemoteSession>()
  cluster: Cluster | undefined
  private readonly registrations = new WeakMap<C2sSession, Promise<void>>()

  override bind(session: C2sSession): C2sSession | undefined {
    const previous = super.bind(session)
    // The full JID is bound here now: the mirror's entry for it (a session on another node that this one replaces, or resumes) goes.
    this.forget(session.bareJid, session.jid!.resource)
    const registered = this.cluster?.registered(session)
    if (registered) this.registrations.set(session, registered)
    return previous
  }

  /** The other nodes have been told of the session (its bind result waits for this, so that what they send it from then on finds it). */
  override registration(session: C2sSession): Promise<void> | undefined {
    const registered = this.registrations.get(session)
    if (!registered) return undefined
    this.registrations.delete(session)
    // Redis out of reach holds the publish until it is back: a login does not wait for that.
    let timer: NodeJS.Timeout | undefined
    const bounded = new Promise<void>((resolve) => (timer = setTimeout(resolve, REGISTRATION_WAIT_MS)))
    return Promise.race([registered, bounded]).finally(() => clearTimeout(timer))
  }

  override unbind(session: C2sSession): boolean {
    const removed = super.unbind(session)
    if (removed) this.cluster?.unregistered(session)
    return removed
  }

  override changed(session: C2sSession): Promise<void> | undefined {
    if (session.jid && super.get(session.bareJid, session.jid.resource) === session) return this.cluster?.registered(session)
    return undefined
  }

  override locate(bare: string, resource: string): Promise<C2sSession | undefined> | undefined {
    return this.cluster?.locate(bare, resource)
  }

  override get(bare: string, resource: string): C2sSession | undefined {
    return super.get(bare, resource) ?? this.remote.get(bare)?.get(resource)?.asSession()
  }

  override all(bare: string): C2sSession[] {
    const local = super.all(bare)
    const remote = this.remote.get(bare)
    if (remote) for (const session of remote.values()) local.push(session.asSession())
    return local
  }

  override available(bare: string): C2sSession[] {
    const local = super.available(bare)
    const remote = this.remote.get(bare)
    if (!remote) return local
    for (const session of remote.values()) if (session.available) local.push(session.asSession())
    return local
  }

  override localAvailable(bare: string): C2sSession[] {
    return super.available(bare)
  }

  /** The local session of a full JID, if one is bound here. */
  local(bare: string, resource: string): C2sSession | undefined {
    return super.get(bare, resource)
  }

  // ---- the mirror ------------------------------------------------------------

  mirror(session: RemoteSession): RemoteSession | undefined {
    let resources = this.remote.get(session.bareJid)
    if (!resources) {
      resources = new Map()
      this.remote.set(session.bareJid, resources)
    }

    const previous = resources.get(session.jid.resource)
    resources.set(session.jid.resource, session)
    if (previous) this.unindex(previous)
    this.index(session)
    return previous
  }

  /** Indexes (again) a mirrored session by the resumption id its entry carries. */
  index(session: RemoteSession): void {
    if (session.resumptionId !== undefined) this.moved.set(session.resumptionId, session)
  }

  private unindex(session: RemoteSession): void {
    if (session.resumptionId !== undefined && this.moved.get(session.resumptionId) === session) this.moved.delete(session.resumptionId)
  }

  /** The remote session resumed away from the node its resumption id names, if one is. */
  movedTo(id: string): RemoteSession | undefined {
    return this.moved.get(id)
  }

  mirrored(bare: string, resource: string): RemoteSession | undefined {
    return this.remote.get(bare)?.get(resource)
  }

  forget(bare: string, resource: string): RemoteSession | undefined {
    const resources = this.remote.get(bare)
    const session = resources?.get(resource)
    if (!session) return undefined
    resources!.delete(resource)
    if (resources!.size === 0) this.remote.delete(bare)
    this.unindex(session)
    return session
  }

  /** Removes every session of `node` from the mirror; returns them. */
  forgetNode(node: string): RemoteSession[] {
    const gone: RemoteSession[] = []
    for (const [bare, resources] of this.remote) {
      for (const [resource, session] of resources) {
        if (session.node !== node) continue
        resources.delete(resource)
        this.unindex(session)
        gone.push(session)
      }

      if (resources.size === 0) this.remote.delete(bare)
    }

    return gone
  }

  /** Every session of other nodes in the mirror. */
  remoteSessions(): RemoteSession[] {
    const sessions: RemoteSession[] = []
    for (const resources of this.remote.values()) sessions.push(...resources.values())
    return sessions
  }

  /** Sessions of `bare` on other nodes. */
  remoteOf(bare: string): number {
    return this.remote.get(bare)?.size ?? 0
  }

  remoteCount(): number {
    let count = 0
    for (const resources of this.remote.values()) count += resources.size
    return count
  }
}

type RedisClient = ReturnType<typeof createClient>

export interface ClusterOptions {
  heartbeatMs?: number
  ttlMs?: number
  /**
   * Claim the node's name even if its liveness key has not expired: the
   * supervisor of workers (cluster.workers) saw the previous process of this
   * name exit, so the key is a dead process's.
   */
  takeover?: boolean
  resumeRequestTimeoutMs?: number
}

export class Cluster {
  readonly node: string
  private readonly token = randomBytes(12).toString('base64url')
  private readonly router: ClusterRouter
  private readonly host: ClusterHost
  private readonly redisLabel: string
  private readonly heartbeatMs: number
  private readonly ttlMs: number
  private readonly takeover: boolean
  private client: RedisClient | undefined
  private subscriber: RedisClient | undefined
  private timer: NodeJS.Timeout | undefined
  /** Nodes whose sessions are in the mirror, for the liveness check. */
  private readonly liveNodes = new Set<string>()
  /** Control requests sent to other nodes and not yet answered, by number (ask()). */
  private readonly asked = new Map<number, (answer: NodeAnswer) => void>()
  private lastAsk = 0
  /** The node serving each hosted service's domain, as last read or claimed (serviceHome()). */
  private readonly serviceHomes = new Map<string, string>()
  /** The shared secrets this node uses, by name (sharedSecret()). */
  private readonly secrets = new Map<string, Buffer>()
  /** Remote sessions' shared states by their JSON (sharedState()). */
  private readonly sharedStates = new Map<string, SharedSessionState>()
  /** Events that arrive while the registry is being loaded: applied after it. */
  private pending: ClusterEvent[] | undefined = []
  private beating = false
  /** The last sequence number of a stanza this node sent to another and keeps until acknowledged (forward()). */
  private seq = 0
  /** Messages and iq requests sent to each node and not yet acknowledged, by sequence number (in sending order). */
  private readonly inflight = new Map<string, Map<number, string>>()
  /** Stanzas sent to each node for a hosted service it serves and not yet acknowledged, by sequence number (toService()). */
  private readonly serviceInflight = new Map<string, Map<number, {stanza: string; kind: ServiceSenderKind}>>()
  /** Acknowledgements to send: the sequence numbers taken from each node. */
  private readonly acks = new Map<string, number[]>()
  private ackTimer: NodeJS.Timeout | undefined
  /** What this turn posted to each node, published together at its end (post()). */
  private outbox = new Map<string, OutgoingBatch>()
  private outboxFlush: NodeJS.Immediate | undefined
  private stopped = false
  private stopping = false
  /** This node is stopping: it moves its sessions away, and takes none. */
  private departing = false
  private lastMove = 0
  private readonly moves = new Map<number, (taken: boolean) => void>()
  /** Resumption requests this node sent, by request id, until answered or timed out. */
  private readonly requests = new Map<number, {node: string; timer: NodeJS.Timeout; answered(answer: ResumeAnswer): void}>()
  private lastRequest = 0
  private readonly resumeRequestTimeoutMs: number

  constructor(config: Configuration, router: ClusterRouter, host: ClusterHost, options: ClusterOptions = {}) {
    const settings = config.settings
    this.node = settings.cluster!.node!
    this.router = router
    this.host = host
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS
    this.ttlMs = options.ttlMs ?? LIVENESS_TTL_MS
    this.takeover = options.takeover ?? false
    this.resumeRequestTimeoutMs = options.resumeRequestTimeoutMs ?? RESUME_REQUEST_TIMEOUT_MS
    this.redisLabel = `${settings.redis_server}:${settings.redis_port}/${settings.redis_db}`
    // Relative to the configuration file, as sql_password_file is.
    const base = path.dirname(config.file ?? path.join(config.dataDir, 'xmppctl.yml'))
    const password = settings.redis_password_file ? readSecretFile(path.resolve(base, settings.redis_password_file), 'redis_password_file', 'the Redis password') : settings.redis_password
    this.client = createClient({
      socket: {host: settings.redis_server, port: settings.redis_port, connectTimeout: 5000, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000)},
      ...(password === undefined ? {} : {password}),
      database: settings.redis_db,
    })
    router.cluster = this
  }

  /** Connects, claims this node's name, subscribes, and loads the other nodes' sessions. */
  async start(): Promise<void> {
    const client = this.client!
    let lastError = ''
    client.on('error', (error: Error) => {
      // The client reconnects by itself; say so once per kind of failure.
      if (error.message !== lastError) this.host.logger.error(`redis ${this.redisLabel}: ${error.message}`)
      lastError = error.message
    })
    client.on('ready', () => (lastError = ''))
    let timer: NodeJS.Timeout | undefined
    try {
      // The client retries for ever; a node that cannot reach Redis at start says so instead of waiting.
      await Promise.race([
        client.connect(),
        new Promise((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS))),
      ])
    } catch (error) {
      client.destroy()
      throw new UnavailableError(`cannot reach Redis at ${this.redisLabel}: ${error instanceof Error ? error.message : String(error)}`, 'check redis_server, redis_port and redis_password_file, and that Redis runs')
    } finally {
      clearTimeout(timer)
    }

    const claimed = await client.set(aliveKey(this.node), this.token, {...(this.takeover ? {} : {condition: 'NX' as const}), expiration: {type: 'PX', value: this.ttlMs}})
    if (claimed !== 'OK') {
      throw new UnavailableError(`another node named ${this.node} is alive in the cluster (Redis ${this.redisLabel})`, `give this node another cluster.node, or wait ${Math.ceil(this.ttlMs / 1000)} s after that node stopped`)
    }

    // Sessions a previous run of this node left (kill -9) go: the other nodes drop them from their mirrors at its reset event.
    await client.multi().sAdd(NODES, this.node).del(sessionsKey(this.node)).hSet(infoKey(this.node), {pid: String(process.pid), startedAt: new Date().toISOString()}).exec()
    this.subscriber = client.duplicate()
    this.subscriber.on('error', () => {})
    // Pub/sub keeps nothing for a subscriber that is away: after its connection comes back (the
    // client subscribes again by itself), the registry is read again for the events it missed.
    let connected = false
    this.subscriber.on('ready', () => {
      if (connected && !this.stopped) void this.resync()
      connected = true
    })
    await this.subscriber.connect()
    await this.subscriber.subscribe(EVENTS, (message) => this.event(message))
    await this.subscriber.subscribe(nodeChannel(this.node), (message) => this.nodeMessage(message))
    await client.publish(EVENTS, JSON.stringify({t: 'reset', node: this.node} satisfies ClusterEvent))
    await this.load()
    this.timer = setInterval(() => void this.heartbeat(), this.heartbeatMs)
    this.host.logger.info(`cluster node ${this.node} on Redis ${this.redisLabel}: ${this.liveNodes.size} other node(s), ${this.router.remoteCount()} remote session(s)`)
  }

  /** The other live nodes' sessions, in full; events that came meanwhile are applied after. */
  private async load(): Promise<void> {
    const client = this.client!
    const nodes = (await client.sMembers(NODES)).filter((node) => node !== this.node)
    const alive = nodes.length === 0 ? [] : await client.mGet(nodes.map((node) => aliveKey(node)))
    for (const [index, node] of nodes.entries()) {
      if (alive[index] === null) continue
      this.liveNodes.add(node)
      const sessions = await client.hGetAll(sessionsKey(node))
      for (const [full, value] of Object.entries(sessions)) this.mirror(node, full, JSON.parse(value) as Entry)
    }

    const pending = this.pending ?? []
    this.pending = undefined
    for (const event of pending) this.apply(event)
  }

  /**
   * Brings the mirror back in line with Redis after this node's subscription
   * was cut (a Redis restart, a network blip): sessions bound meanwhile are
   * added, those that went are dropped (their contacts here told, as for a
   * node that died), and nodes that died meanwhile are gone. Events that
   * arrive while it reads are applied after, as at start.
   */
  private async resync(): Promise<void> {
    if (this.pending) return
    this.pending = []
    try {
      const client = this.client!
      const nodes = (await client.sMembers(NODES)).filter((node) => node !== this.node)
      const alive = nodes.length === 0 ? [] : await client.mGet(nodes.map((node) => aliveKey(node)))
      const registered = new Map<string, Record<string, string>>()
      for (const [index, node] of nodes.entries()) if (alive[index] !== null) registered.set(node, await client.hGetAll(sessionsKey(node)))
      for (const node of [...this.liveNodes]) if (!registered.has(node)) this.nodeGone(node, 'dead')
      for (const session of this.router.remoteSessions()) {
        if (registered.get(session.node)?.[session.fullJid] !== undefined) continue
        this.router.forget(session.bareJid, session.jid.resource)
        if (session.available) this.host.remoteSessionEnded(session.asSession())
        this.host.remoteSessionGone(session.fullJid)
      }

      await this.restoreClaims()

      for (const [node, sessions] of registered) {
        this.liveNodes.add(node)
        for (const [full, value] of Object.entries(sessions)) this.mirror(node, full, JSON.parse(value) as Entry)
      }

      this.host.logger.info(`cluster: node ${this.node} subscribed again; ${this.liveNodes.size} other node(s), ${this.router.remoteCount()} remote session(s)`)
    } catch (error) {
      this.host.logger.error(`cluster resync: ${error instanceof Error ? error.message : String(error)}`)
    } finally {
      const pending = this.pending ?? []
      this.pending = undefined
      for (const event of pending) this.apply(event)
    }
  }

  private mirror(node: string, full: string, entry: Entry): void {
    const jid = parseJid(full)
    if (!jid || jid.resource === '') return
    const bare = `${jid.local}@${jid.domain}`
    const existing = this.router.mirrored(bare, jid.resource)
    if (existing && existing.node === node) {
      existing.update(entry)
      return this.router.index(existing)
    }

    const session = new RemoteSession(node, jid, entry, this)
    this.router.mirror(session)
    this.liveNodes.add(node)
  }

  // ---- what this node tells the others ----------------------------------------

  private entry(session: C2sSession): Entry {
    const id = session.resumptionId
    return {
      p: session.priority,
      a: session.available,
      ...(session.available && session.presence ? {x: session.presence.toString()} : {}),
      ...(session.carbons ? {c: 1} : {}),
      ...(session.interested ? {i: 1} : {}),
      ...(id !== undefined && resumptionNode(id) !== this.node ? {r: id} : {}),
      ...(session.shared === NOTHING_SHARED ? {} : {m: JSON.stringify(session.shared)}),
    }
  }

  /** A local session was bound, or what the registry keeps of it changed; settles once Redis has told the other nodes. */
  async registered(session: C2sSession): Promise<void> {
    const entry = this.entry(session)
    const event: ClusterEvent = {t: 'bind', node: this.node, jid: session.fullJid, e: entry}
    this.postedFirst()
    try {
      await this.client!.multi().hSet(sessionsKey(this.node), session.fullJid, JSON.stringify(entry)).publish(EVENTS, JSON.stringify(event)).exec()
    } catch (error) {
      this.failed('registering', session.fullJid, error)
    }
  }

  unregistered(session: C2sSession): void {
    this.unregisteredJid(session.fullJid)
  }

  private unregisteredJid(full: string): void {
    const event: ClusterEvent = {t: 'unbind', node: this.node, jid: full}
    this.postedFirst()
    this.client!.multi().hDel(sessionsKey(this.node), full).publish(EVENTS, JSON.stringify(event)).exec().catch((error: unknown) => this.failed('unregistering', full, error))
  }

  /** An account event (`user disable` on this node's control socket): every other node closes the account's sessions too. */
  accountChanged(event: AccountEvent): void {
    this.postedFirst()
    this.client!.publish(EVENTS, JSON.stringify({t: 'account', node: this.node, event} satisfies ClusterEvent)).catch((error: unknown) => this.failed('announcing', event.jid, error))
  }

  /** This node changed data of an account that modules cache; settles once Redis has told the other nodes. */
  async accountDataChanged(bare: string): Promise<void> {
    this.postedFirst()
    try {
      await this.client!.publish(EVENTS, JSON.stringify({t: 'data', node: this.node, jid: bare} satisfies ClusterEvent))
    } catch (error) {
      this.failed('announcing a change of', bare, error)
    }
  }

  /**
   * A stanza for a session on another node, published to that node. Pub/sub
   * says nothing of delivery, and a node killed a moment ago may still count
   * as a receiver: a message is kept until that node acknowledges it (in
   * batches, ACK_DELAY_MS), and goes to offline storage here if the node
   * dies first or no node took it. That node acknowledges once the message
   * left its hands: written to a client without stream management, or
   * acknowledged by the client under XEP-0198 (so a node killed while its
   * client had not acknowledged leaves the message stored here, not lost),
   * stored offline there, or handed on. Delivery is at least once: a node
   * that dies between delivering and acknowledging leaves a copy stored too.
   * An iq request is kept the same way, so that one its target's node never
   * took is answered with an error here (RFC 6120 §8.2.3: a request always
   * gets a response) rather than leave its sender waiting.
   */
  forward(session: RemoteSession, stanza: string): void {
    const tracked = stanza.startsWith('<message') || IQ_REQUEST.test(stanza)
    const seq = tracked ? ++this.seq : 0
    if (tracked) {
      let pending = this.inflight.get(session.node)
      if (!pending) {
        pending = new Map()
        this.inflight.set(session.node, pending)
      }

      pending.set(seq, stanza)
    }

    const payload: NodeMessage = tracked ? {to: session.fullJid, s: stanza, from: this.node, q: seq} : {to: session.fullJid, s: stanza}
    const batch = this.post(session.node, payload)
    if (!tracked) return
    // Should no node take the batch (the node is gone and not yet seen gone), its messages are stored here, its requests answered.
    batch.trackedSeqs ??= []
    batch.trackedSeqs.push(seq)
  }

  /**
   * Queues `message` for `node`'s channel. Everything this turn of the event
   * loop posts to one node goes in one publish at the turn's end, in the
   * order posted: a message each for Redis to route and for the node to
   * read cost more than the stanzas themselves when many pairs talk across
   * nodes. The batch's `sent` resolves with how many subscribers took it.
   */
  private post(node: string, message: NodeMessage): OutgoingBatch {
    let batch = this.outbox.get(node)
    if (!batch) {
      let settle!: OutgoingBatch['settle']
      const sent = new Promise<number>((resolve, reject) => {
        settle = (receivers, error) => (error === undefined ? resolve(receivers) : reject(error))
      })
      // A caller that only posts need not handle a failure: it is logged in flushOutbox().
      sent.catch(() => {})
      batch = {messages: [], sent, settle}
      this.outbox.set(node, batch)
      this.outboxFlush ??= setImmediate(() => this.flushOutbox())
    }

    batch.messages.push(message)
    return batch
  }

  /**
   * Publishes what this turn posted before an event that follows it: a
   * session's last stanzas (its unavailable presence to a room, say) reach
   * the other nodes before its unbind, as they did when each was published
   * at once. One connection to Redis keeps the order.
   */
  private postedFirst(): void {
    if (this.outbox.size > 0) this.flushOutbox()
  }

  /** Publishes the turn's batches: one as it is when it holds one message, else wrapped. */
  private flushOutbox(): void {
    clearImmediate(this.outboxFlush)
    this.outboxFlush = undefined
    const outbox = this.outbox
    this.outbox = new Map()
    for (const [node, batch] of outbox) {
      const {messages, trackedSeqs} = batch
      this.client!.publish(nodeChannel(node), JSON.stringify(messages.length === 1 ? messages[0] : ({b: messages} satisfies NodeMessage))).then(
        (receivers) => {
          if (receivers === 0) for (const seq of trackedSeqs ?? []) this.unacknowledged(node, seq)
          batch.settle(receivers)
        },
        (error: unknown) => {
          this.failed('sending to node', node, error)
          for (const seq of trackedSeqs ?? []) this.unacknowledged(node, seq)
          batch.settle(0, error)
        },
      )
    }
  }

  /** A stanza `node` did not acknowledge and never will: a message is stored here, a request answered with an error (ServerCore.undeliverable()). */
  private unacknowledged(node: string, seq: number): void {
    const pending = this.inflight.get(node)
    const stanza = pending?.get(seq)
    if (stanza === undefined) return
    pending!.delete(seq)
    this.host.logger.debug(`cluster: node ${node} did not take a stanza (${seq}); handled here`)
    const element = parseElement(stanza)
    if (element) this.host.undeliverable(element)
  }

  /** `node` took the messages of these sequence numbers (each on its own: a client acknowledges when it does). */
  private acknowledged(node: string, seqs: readonly number[]): void {
    if (!Array.isArray(seqs)) return
    const pending = this.inflight.get(node)
    const service = this.serviceInflight.get(node)
    for (const seq of seqs) {
      pending?.delete(seq)
      service?.delete(seq)
    }
  }

  /** Acknowledges, after ACK_DELAY_MS, the message `from` sent as `seq`: one publish per sender per batch. */
  private acknowledge(from: string, seq: number): void {
    if (this.stopped) return
    let seqs = this.acks.get(from)
    if (!seqs) {
      seqs = []
      this.acks.set(from, seqs)
    }

    seqs.push(seq)
    this.ackTimer ??= setTimeout(() => void this.sendAcks(), ACK_DELAY_MS)
  }

  private async sendAcks(): Promise<void> {
    clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    const acks = [...this.acks]
    this.acks.clear()
    await Promise.all(acks.map(([node, seqs]) => this.post(node, {ack: seqs, from: this.node}).sent.catch(() => {})))
  }

  // ---- XEP-0198 resumption across nodes -----------------------------------------

  /**
   * §5 across nodes: asks the node holding the session `id` names (the node
   * its registry entry says it moved to, else the node the id names) to
   * hand it over for a connection authenticated as `account`, after the
   * client's count `h`. `adopt` takes the session when it comes (false:
   * the connection cannot take it any more). Settles with undefined once
   * adopted, or with a refusal: item-not-found at once when that node is
   * not alive, or does not answer within resumeRequestTimeoutMs. Undefined
   * when no other node holds it.
   */
  resume(id: string, h: number, account: string, adopt: (session: HandedOverSession) => boolean): Promise<ResumeRefusal | undefined> | undefined {
    const node = this.router.movedTo(id)?.node ?? resumptionNode(id)
    if (node === undefined || node === this.node || this.stopping) return undefined
    if (!this.liveNodes.has(node)) return Promise.resolve(NOT_FOUND)
    const rid = ++this.lastRequest
    return new Promise((resolve) => {
      const done = (refusal: ResumeRefusal | undefined) => {
        const request = this.requests.get(rid)
        if (!request) return
        clearTimeout(request.timer)
        this.requests.delete(rid)
        resolve(refusal)
      }

      const timer = setTimeout(() => {
        this.host.logger.warn(`cluster: node ${node} did not answer a resumption request within ${this.resumeRequestTimeoutMs / 1000} s`)
        done(NOT_FOUND)
      }, this.resumeRequestTimeoutMs)
      this.requests.set(rid, {
        node,
        timer,
        // Called as the answer is read, before any stanza behind it on the channel: the session is bound before they are delivered.
        answered: (answer) => {
          if (!answer.session) return done(answer.refused ?? NOT_FOUND)
          if (adopt(answer.session)) return done(undefined)
          this.abandon(answer.session, node)
          done(NOT_FOUND)
        },
      })
      this.post(node, {resume: id, h, account, rid, from: this.node})
        .sent.then((receivers) => {
          // The node is gone and not yet seen gone.
          if (receivers === 0) done(NOT_FOUND)
        })
        .catch((error: unknown) => {
          this.failed('asking for the resumable session of', account, error)
          done(NOT_FOUND)
        })
    })
  }

  /** The answer to a resumption request; a session in one that came too late ends here (never lost, never in two places). */
  private answered(answer: ResumeAnswer): void {
    const request = this.requests.get(answer.rid)
    if (request && request.node === answer.from) return request.answered(answer)
    if (!answer.session) return
    this.host.logger.warn(`cluster: node ${answer.from} handed over ${answer.session.jid} after the client was told item-not-found; it ends here`)
    this.abandon(answer.session, answer.from)
  }

  /** A session handed over from `from` that no connection here takes: it ends here, unless its client bound that resource again elsewhere. */
  private abandon(session: HandedOverSession, from: string): void {
    const jid = parseJid(session.jid)
    if (!jid) return
    const bare = `${jid.local}@${jid.domain}`
    const other = this.router.mirrored(bare, jid.resource)
    this.host.abandoned(session, this.router.local(bare, jid.resource) !== undefined || (other !== undefined && other.node !== from))
  }

  /**
   * Another node asks for a resumable session of this node (§5). The
   * session leaves this node at once (C2sSession.handOff): stanzas that
   * still come here for its full JID (from nodes that have not seen the new
   * node's bind yet, or from this node's own clients) go on to the new
   * node, through a mirror entry made now. Should the answer reach no one,
   * the session ends here as if its resumption timed out.
   */
  private resumeRequested(request: ResumeRequest): void {
    const reply = (answer: {session?: HandedOverSession; refused?: ResumeRefusal}) => this.post(request.from, {rid: request.rid, from: this.node, ...answer}).sent
    const handOff = typeof request.resume === 'string' && typeof request.account === 'string' && typeof request.h === 'number' ? this.host.handOff(request.resume, request.h, request.account) : undefined
    if (!handOff || 'refused' in handOff) {
      reply({refused: handOff?.refused ?? NOT_FOUND}).catch((error: unknown) => this.failed('answering a resumption request of', request.from, error))
      return
    }

    const {session, settle} = handOff
    const jid = parseJid(session.jid)!
    this.mirror(request.from, session.jid, this.entryOf(session, request.from))
    const failed = (why: string) => {
      this.host.logger.warn(`cluster: ${session.jid} could not be handed over to node ${request.from} (${why}); it ends here`)
      const bare = `${jid.local}@${jid.domain}`
      if (this.router.mirrored(bare, jid.resource)?.node === request.from) this.router.forget(bare, jid.resource)
      settle(false)
      this.unregisteredJid(session.jid)
    }

    reply({session})
      .then((receivers) => {
        if (receivers === 0) return failed('it is gone')
        settle(true)
        // The new node's bind event replaces this node's entry in every mirror; only the registry's copy goes here.
        this.client!.hDel(sessionsKey(this.node), session.jid).catch((error: unknown) => this.failed('unregistering', session.jid, error))
      })
      .catch((error: unknown) => failed(error instanceof Error ? error.message : String(error)))
  }

  private failed(what: string, jid: string, error: unknown): void {
    this.host.logger.error(`cluster: ${what} ${jid}: ${error instanceof Error ? error.message : String(error)}`)
  }

  // ---- what the others tell this node -----------------------------------------

  private event(message: string): void {
    let event: ClusterEvent
    try {
      event = JSON.parse(message) as ClusterEvent
    } catch {
      return
    }

    if (event.node === this.node) return
    if (this.pending) this.pending.push(event)
    else this.apply(event)
  }

  private apply(event: ClusterEvent): void {
    switch (event.t) {
      case 'bind': {
        const jid = parseJid(event.jid)
        if (!jid) return
        // RFC 6120 §7.7.2.2: a resource bound again elsewhere replaces the older session.
        const local = this.router.local(`${jid.local}@${jid.domain}`, jid.resource)
        if (local) local.close('conflict', 'replaced by a new connection with the same resource')
        const wasAvailable = this.router.mirrored(`${jid.local}@${jid.domain}`, jid.resource)?.available === true
        this.mirror(event.node, event.jid, event.e)
        if (wasAvailable && !event.e.a) this.host.remoteSessionGone(event.jid)
        return
      }

      case 'unbind': {
        const jid = parseJid(event.jid)
        const existing = jid && this.router.mirrored(`${jid.local}@${jid.domain}`, jid.resource)
        if (existing && existing.node === event.node) {
          this.router.forget(existing.bareJid, jid.resource)
          this.host.remoteSessionGone(existing.fullJid)
        }

        return
      }

      case 'reset': {
        // A node that stopped, or restarted: what it had before is gone, and it said nothing for it.
        this.nodeGone(event.node, 'restarted')
        return
      }

      case 'account': {
        this.host.accountEvent(event.event)
        return
      }

      case 'data': {
        this.host.accountDataChanged(event.jid)
      }
    }
  }

  private nodeMessage(message: string): void {
    let parsed: NodeMessage
    try {
      parsed = JSON.parse(message) as NodeMessage
    } catch {
      return
    }

    if (!('b' in parsed)) return this.received(parsed)
    if (Array.isArray(parsed.b)) for (const item of parsed.b) this.received(item)
  }

  private received(parsed: NodeMessage): void {
    if ('b' in parsed) return
    if ('ack' in parsed) return this.acknowledged(parsed.from, parsed.ack)
    if ('resume' in parsed) return this.resumeRequested(parsed)
    if ('rid' in parsed) return this.answered(parsed)
    if ('move' in parsed) return this.moveRequested(parsed)
    if ('mid' in parsed) return this.moves.get(parsed.mid)?.(parsed.taken)
    if ('ask' in parsed) return void this.askRequested(parsed)
    if ('aid' in parsed) return this.asked.get(parsed.aid)?.(parsed)
    const {from, q} = parsed
    const receipt = q !== undefined && from !== undefined ? () => this.acknowledge(from, q) : undefined
    if ('svc' in parsed) {
      const element = parseElement(parsed.svc)
      // Acknowledged once the service handled it (a room relayed the message, answered the iq), or failed to.
      if (element) void this.host.serviceStanza(element, parsed.k).finally(receipt)
      else receipt?.()
      return
    }

    const jid = typeof parsed.s === 'string' ? parseJid(parsed.to) : undefined
    if (jid) {
      const bare = `${jid.local}@${jid.domain}`
      const session = this.router.local(bare, jid.resource)
      // Acknowledged once the client took it (XEP-0198) or it was stored: see forward(). Not parsed
      // again here: the node that sent it serialised it, as it does the stanzas a session hands over.
      if (session) return session.sendSerialized(inClientStream(parsed.s), receipt)
      // A session that was handed over to another node (resumed there) and that the sender's node did not know had moved: it goes on.
      const moved = this.router.mirrored(bare, jid.resource)
      if (moved && moved.node !== this.node) moved.send(parsed.s)
      else {
        const element = parseElement(parsed.s)
        if (element) this.host.undeliverable(element)
      }
    }

    receipt?.()
  }

  /** Drops a node's sessions from the mirror, and tells local contacts they went. */
  private nodeGone(node: string, reason: 'restarted' | 'dead'): RemoteSession[] {
    this.liveNodes.delete(node)
    // Messages it never acknowledged: stored (and requests answered) before its users' contacts hear they left.
    for (const seq of [...(this.inflight.get(node)?.keys() ?? [])]) this.unacknowledged(node, seq)
    this.inflight.delete(node)
    const gone = this.router.forgetNode(node)
    for (const session of gone) {
      if (session.available) this.host.remoteSessionEnded(session.asSession())
      this.host.remoteSessionGone(session.fullJid)
    }

    const available = gone.filter((session) => session.available)
    if (available.length > 0) void this.farewell(node, reason, available)

    // Its services are claimed again by the next stanza for them, here or on another node.
    for (const [domain, home] of this.serviceHomes) if (home === node) this.serviceHomes.delete(domain)
    // What it never acknowledged for them goes there now: the sender hears the answer, an error at least, rather than nothing.
    const unacknowledged = this.serviceInflight.get(node)
    this.serviceInflight.delete(node)
    for (const {stanza, kind} of unacknowledged?.values() ?? []) {
      const element = parseElement(stanza)
      if (element) this.host.serviceStanzaUnacknowledged(element, kind)
    }

    return gone
  }

  private async heartbeat(): Promise<void> {
    if (this.beating || this.stopped) return
    this.beating = true
    try {
      const client = this.client!
      const previous = await client.set(aliveKey(this.node), this.token, {expiration: {type: 'PX', value: this.ttlMs}, GET: true})
      if (previous !== this.token) {
        // Our key expired (Redis was out of reach longer than the TTL): the others dropped our sessions; tell them again.
        this.host.logger.warn(`cluster: node ${this.node} was seen dead; registering its ${[...this.router.every()].length} session(s) again`)
        await client.multi().sAdd(NODES, this.node).del(sessionsKey(this.node)).publish(EVENTS, JSON.stringify({t: 'reset', node: this.node} satisfies ClusterEvent)).exec()
        for (const session of this.router.every()) void this.registered(session)
        await this.restoreClaims()
      }

      const nodes = [...this.liveNodes]
      if (nodes.length === 0) return
      const alive = await client.mGet(nodes.map((node) => aliveKey(node)))
      for (const [index, node] of nodes.entries()) {
        if (alive[index] !== null) continue
        const gone = this.nodeGone(node, 'dead')
        this.host.logger.warn(`cluster: node ${node} stopped answering; ${gone.length} of its session(s) dropped`)
        // Any survivor may tidy up: deleting twice is harmless.
        await client.del(sessionsKey(node))
      }
    } catch (error) {
      this.host.logger.error(`cluster heartbeat: ${error instanceof Error ? error.message : String(error)}`)
    } finally {
      this.beating = false
    }
  }

  /** Every node the registry knows, from Redis: its health and its sessions. */
  async status(): Promise<ClusterStatus> {
    const client = this.client!
    const names = (await client.sMembers(NODES)).sort()
    const nodes: ClusterNodeStatus[] = []
    for (const node of names) {
      const [alive, sessions, info] = await Promise.all([client.exists(aliveKey(node)), client.hLen(sessionsKey(node)), client.hGetAll(infoKey(node))])
      nodes.push({
        node,
        health: alive === 1 ? 'up' : 'down',
        sessions: alive === 1 ? Number(sessions) : 0,
        ...(info.pid ? {pid: Number(info.pid)} : {}),
        ...(info.startedAt ? {startedAt: info.startedAt} : {}),
      })
    }

    return {node: this.node, redis: this.redisLabel, nodes}
  }

  /**
   * This node is stopping: each session a client may resume (XEP-0198 §5)
   * goes to another live node, in turn, where it waits for its client, and
   * the client's connection here is cut only once that node holds it. A
   * restart of one node (rolling, or `restart --node`) thus ends no such
   * session. A session no node takes (none alive, all stopping, or no
   * answer within MOVE_TIMEOUT_MS) ends here as before. Returns how many
   * moved.
   */
  async moveAway(sessions: readonly C2sSession[]): Promise<number> {
    this.departing = true
    if (sessions.length === 0 || !this.client?.isOpen) return 0
    // From Redis: a node that restarted and has bound no session yet is alive, though no event said so.
    const names = (await this.client.sMembers(NODES)).filter((node) => node !== this.node)
    const alive = names.length === 0 ? [] : await this.client.mGet(names.map((node) => aliveKey(node)))
    const targets = names.filter((_node, index) => alive[index] !== null)
    if (targets.length === 0) return 0
    let moved = 0
    await Promise.all(
      sessions.map(async (local, index) => {
        const handOff = local.moveAway()
        if (!handOff || 'refused' in handOff) return
        const {session, settle, connection} = handOff
        const target = targets[index % targets.length]
        // Stanzas that come here for it meanwhile go on to the target (as for a resumption elsewhere).
        this.mirror(target, session.jid, this.entryOf(session, target))
        const mid = ++this.lastMove
        const taken = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), MOVE_TIMEOUT_MS)
          this.moves.set(mid, (answer) => {
            clearTimeout(timer)
            resolve(answer)
          })
          this.post(target, {move: session, mid, from: this.node})
            .sent.then((receivers) => receivers === 0 && resolve(false))
            .catch(() => resolve(false))
        })
        this.moves.delete(mid)
        if (taken) {
          settle(true)
          moved++
          await this.client!.hDel(sessionsKey(this.node), session.jid).catch((error: unknown) => this.failed('unregistering', session.jid, error))
        } else {
          const jid = parseJid(session.jid)!
          const bare = `${jid.local}@${jid.domain}`
          if (this.router.mirrored(bare, jid.resource)?.node === target) this.router.forget(bare, jid.resource)
          settle(false)
          this.unregisteredJid(session.jid)
        }

        // Cut without a closing tag: the client resumes on whichever node it reaches.
        connection?.destroy()
      }),
    )
    if (moved > 0) this.host.logger.info(`cluster: ${moved} of ${sessions.length} resumable session(s) moved to ${targets.join(', ')} before stopping`)
    return moved
  }

  /** What the registry keeps of a session on its way to node `to` (with its resumption id when that names another node). */
  private entryOf(session: HandedOverSession, to: string): Entry {
    return {
      p: session.priority,
      a: session.available,
      ...(session.available && session.presence !== undefined ? {x: session.presence} : {}),
      ...(session.carbons ? {c: 1} : {}),
      ...(session.interested ? {i: 1} : {}),
      ...(resumptionNode(session.sm.id) === to ? {} : {r: session.sm.id}),
      ...(session.shared === undefined ? {} : {m: JSON.stringify(session.shared)}),
    }
  }

  /**
   * Unavailable presence for a gone node's sessions to their contacts on
   * other servers (RFC 6121 §4.5.2), from one node only: every node sees
   * the death, and the first to claim it in Redis (for that incarnation of
   * the node, by its start time, and for how it went) speaks for the
   * cluster, so that peers hear it once.
   */
  private async farewell(node: string, reason: 'restarted' | 'dead', sessions: readonly RemoteSession[]): Promise<void> {
    try {
      const startedAt = (await this.client!.hGet(infoKey(node), 'startedAt')) ?? ''
      const claimed = await this.client!.set(`${PREFIX}farewell:${node}:${startedAt}:${reason}`, this.node, {condition: 'NX', expiration: {type: 'PX', value: FAREWELL_CLAIM_MS}})
      if (claimed === null) return
      for (const session of sessions) this.host.remoteSessionEndedForOtherServers(session.asSession())
    } catch (error) {
      this.failed('telling other servers that the users of', node, error)
    }
  }

  /**
   * The node that serves a hosted service's domain: every stanza for its
   * rooms goes there, so that a room lives in one node's memory, whichever
   * node its occupants are bound to. The first node to need it claims it in
   * Redis; it keeps it while it lives (a restart under the same name too),
   * and once it is dead the next node to need it takes it over (its rooms
   * then come back from the store, as after a restart).
   */
  async serviceHome(domain: string): Promise<string> {
    const known = this.serviceHomes.get(domain)
    if (known !== undefined) return known
    const home = String(await this.client!.eval(CLAIM_SERVICE, {keys: [serviceKey(domain)], arguments: [this.node, ALIVE_KEY_HEAD, ALIVE_KEY_TAIL]}))
    this.serviceHomes.set(domain, home)
    if (home === this.node) this.host.logger.info(`cluster: node ${this.node} serves ${domain}`)
    return home
  }

  /**
   * Sends a stanza for a hosted service's domain to the node that serves it:
   * 'here' when that is this node, 'unreachable' when that node is gone
   * and not yet seen gone (nobody took the stanza). As with messages to
   * sessions (forward()), pub/sub says nothing of delivery: the stanza is
   * kept until that node acknowledges it, once its service handled it, and
   * should that node die first, it is served again by the node that serves
   * the domain then (nodeGone()). A message to a room that died with its
   * node then gets that node's error, not silence; delivery is at least
   * once.
   */
  async toService(domain: string, stanza: Element, sender: ServiceSenderKind): Promise<'here' | 'sent' | 'unreachable'> {
    const home = await this.serviceHome(domain)
    if (home === this.node) return 'here'
    const serialized = stanza.toString()
    const seq = ++this.seq
    let pending = this.serviceInflight.get(home)
    if (!pending) {
      pending = new Map()
      this.serviceInflight.set(home, pending)
    }

    pending.set(seq, {stanza: serialized, kind: sender})
    let receivers: number
    try {
      receivers = await this.post(home, {svc: serialized, k: sender, from: this.node, q: seq}).sent
    } catch (error) {
      this.serviceInflight.get(home)?.delete(seq)
      throw error
    }

    if (receivers > 0) return 'sent'
    this.serviceInflight.get(home)?.delete(seq)
    if (this.serviceHomes.get(domain) === home) this.serviceHomes.delete(domain)
    return 'unreachable'
  }

  /**
   * A session the registry in Redis has and the mirror not yet: bound on
   * another node a moment ago, its announcement not yet read here (a client
   * told its bind succeeded can be written to at once, RFC 6120 §7.6.2). It
   * joins the mirror, as its announcement will make it anyway.
   */
  async locate(bare: string, resource: string): Promise<C2sSession | undefined> {
    const full = `${bare}/${resource}`
    try {
      const nodes = (await this.client!.sMembers(NODES)).filter((node) => node !== this.node)
      for (const node of nodes) {
        const [value, alive] = await this.client!.multi().hGet(sessionsKey(node), full).exists(aliveKey(node)).exec()
        if (typeof value !== 'string' || Number(alive) !== 1) continue
        if (!this.router.mirrored(bare, resource)) this.mirror(node, full, JSON.parse(value) as Entry)
        return this.router.mirrored(bare, resource)?.asSession()
      }
    } catch (error) {
      this.failed('looking up', full, error)
    }

    return undefined
  }

  /**
   * A secret every node of the cluster shares (`secret:NAME`, 32 random
   * bytes, made by the first node that asks): what one node signs, another
   * must be able to check (XEP-0185 dialback keys).
   */
  async sharedSecret(name: string): Promise<Buffer> {
    await this.client!.set(secretKey(name), randomBytes(32).toString('base64'), {condition: 'NX'})
    const secret = Buffer.from((await this.client!.get(secretKey(name)))!, 'base64')
    this.secrets.set(name, secret)
    return secret
  }

  /**
   * A Redis that lost its data (restarted without persistence, flushed) gets
   * back what this node holds: the shared secrets (every node holds the
   * same), and its claims on the services it serves, whose rooms are in its
   * memory (another node claiming them would make a second room of each).
   */
  private async restoreClaims(): Promise<void> {
    for (const [name, secret] of this.secrets) await this.client!.set(secretKey(name), secret.toString('base64'), {condition: 'NX'})
    for (const [domain, home] of this.serviceHomes) if (home === this.node) await this.client!.set(serviceKey(domain), this.node, {condition: 'NX'})
  }

  /** Runs a request on `node` (its host's nodeRequest()) and resolves with its answer; its error, or none within `timeoutMs`, rejects. */
  ask(node: string, request: unknown, timeoutMs = NODE_REQUEST_TIMEOUT_MS): Promise<unknown> {
    const aid = ++this.lastAsk
    return new Promise((resolve, reject) => {
      const settle = (error: Error | undefined, answer?: unknown) => {
        clearTimeout(timer)
        this.asked.delete(aid)
        if (error) reject(error)
        else resolve(answer)
      }

      const unreachable = () => settle(new XmppctlError('node-unreachable', `node ${node} of the cluster did not answer`, {hint: 'see which nodes are alive with "xmppctl status"', exitCode: ExitCode.unavailable}))
      const timer = setTimeout(unreachable, timeoutMs)
      this.asked.set(aid, ({answer, error}) => settle(error && new XmppctlError(error.code, error.message, error.hint === undefined ? {} : {hint: error.hint}), answer))
      this.post(node, {ask: request, aid, from: this.node}).sent.then(
        // Nobody took it: the node is gone and not yet seen gone.
        (receivers) => receivers === 0 && unreachable(),
        (error: unknown) => settle(error instanceof Error ? error : new Error(String(error))),
      )
    })
  }

  private async askRequested(request: NodeRequest): Promise<void> {
    let reply: NodeAnswer
    try {
      reply = {aid: request.aid, from: this.node, answer: await this.host.nodeRequest(request.ask)}
    } catch (error) {
      const known = error instanceof XmppctlError ? error : undefined
      reply = {aid: request.aid, from: this.node, error: {code: known?.code ?? 'internal', message: error instanceof Error ? error.message : String(error), ...(known?.hint === undefined ? {} : {hint: known.hint})}}
    }

    await this.post(request.from, reply).sent.catch(() => {})
  }

  /**
   * A remote session's shared state, parsed once per distinct JSON: most
   * sessions share the same few (one client's caps), and each mirror entry
   * holding its own copy would cost every node memory per remote session.
   */
  sharedState(json: string): SharedSessionState {
    const known = this.sharedStates.get(json)
    if (known) return known
    let state: SharedSessionState
    try {
      const parsed = JSON.parse(json) as unknown
      state = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? Object.freeze(parsed as Record<string, unknown>) : NOTHING_SHARED
    } catch {
      state = NOTHING_SHARED
    }

    // Bounded: distinct states past the bound are parsed per session, not kept here.
    if (this.sharedStates.size < SHARED_STATES_KEPT) this.sharedStates.set(json, state)
    return state
  }

  /** Another node, stopping, moves a resumable session here: it waits, detached, for its client. */
  private moveRequested(request: MoveRequest): void {
    const taken = !this.departing && !this.stopping && this.host.adoptMoved(request.move)
    this.post(request.from, {mid: request.mid, from: this.node, taken})
  }

  /** Leaves the cluster: this node's sessions and liveness go, so the others drop them at once. */
  async stop(): Promise<void> {
    if (this.stopped || this.stopping) return
    this.stopping = true
    clearInterval(this.timer)
    for (const [rid, request] of this.requests) request.answered({rid, from: request.node, refused: NOT_FOUND})
    const client = this.client
    // What was taken is said before the others hear this node left, or they would store it again.
    if (client?.isOpen) await this.sendAcks()
    if (client?.isOpen) this.postedFirst()
    this.stopped = true
    clearTimeout(this.ackTimer)
    if (!client?.isOpen) return
    try {
      await client.multi().del(sessionsKey(this.node)).del(aliveKey(this.node)).publish(EVENTS, JSON.stringify({t: 'reset', node: this.node} satisfies ClusterEvent)).exec()
    } catch {}

    await this.subscriber?.quit().catch(() => {})
    await client.quit().catch(() => {})
  }
}
