/**
 * XEP-0198 stream management state of one session: the count of stanzas
 * handled from the client (`h` we report), and the stanzas sent to it that
 * it has not acknowledged yet, kept so they can be sent again after a
 * resumption, or stored offline or bounced when the session ends.
 */

import {randomToken} from './random.js'

/** Counters are modulo 2^32 (XEP-0198 §4). */
const WRAP = 2 ** 32

export const SM_NS = 'urn:xmpp:sm:3'

/**
 * Separates a resumption id's random part from the cluster node that made
 * it: `~` occurs neither in base64url nor in node names ([A-Za-z0-9._-]).
 */
const NODE_SEPARATOR = '~'
const TOKEN = /^[A-Za-z0-9_-]{24}$/
const NODE = /^[A-Za-z0-9._-]{1,64}$/

/**
 * A new resumption id (XEP-0198 §5 SM-ID): 18 random bytes (144 bits, what
 * makes it unguessable), and in a cluster the name of this node, so that a
 * client that reconnects to another node can be resumed from here. Clients
 * treat it as opaque; outside a cluster it is the random part alone.
 */
export function resumptionId(node?: string): string {
  const token = randomToken(18)
  return node === undefined ? token : `${token}${NODE_SEPARATOR}${node}`
}

/** The node a resumption id names, or undefined: no node (made outside a cluster), or not an id this server made. */
export function resumptionNode(id: string): string | undefined {
  const at = id.indexOf(NODE_SEPARATOR)
  if (at === -1) return undefined
  const token = id.slice(0, at)
  const node = id.slice(at + 1)
  return TOKEN.test(token) && NODE.test(node) ? node : undefined
}

/** What a session's stream management state becomes when another node takes the session over (cluster.ts). */
export interface StreamManagementState {
  id: string
  resumeTimeoutMs: number
  handled: number
  /** The client's `h` from its <resume/>: the count just before queue[0]. */
  acknowledged: number
  queue: string[]
}

export class StreamManagement {
  /** The resumption id, when the client asked for resumption. */
  readonly id: string | undefined
  /** How long the session waits for its client to resume it once the connection is lost (0 without resumption). */
  readonly resumeTimeoutMs: number
  /** Stanzas handled from the client, modulo 2^32. */
  handled = 0
  /** Stanzas sent and not acknowledged, oldest first. */
  private queue: string[] = []
  /**
   * What to call when each queued stanza leaves this node's hands (the client
   * acknowledged it, or it was stored or handed over), in step with `queue`:
   * a cluster node tells the node that sent it then (cluster.ts).
   */
  private receipts: Array<(() => void) | undefined> = []
  /** The count (modulo 2^32) of the stanza just before queue[0]: what the client last acknowledged. */
  private acknowledged = 0
  private readonly maxQueue: number
  /** An <r/> was sent and its <a/> has not come yet: one request at a time. */
  private ackRequested = false

  constructor(id: string | undefined, maxQueue: number, resumeTimeoutMs = 0) {
    this.id = id
    this.maxQueue = maxQueue
    this.resumeTimeoutMs = id === undefined ? 0 : resumeTimeoutMs
  }

  /** The state another node handed over (XEP-0198 §5 across cluster nodes): the client's count applied, the rest to send again. */
  static restore(state: StreamManagementState, maxQueue: number): StreamManagement {
    const sm = new StreamManagement(state.id, maxQueue, state.resumeTimeoutMs)
    sm.handled = state.handled % WRAP
    sm.acknowledged = state.acknowledged % WRAP
    sm.queue = [...state.queue]
    sm.receipts = state.queue.map(() => undefined)
    return sm
  }

  /** The state to hand to another node. */
  state(): StreamManagementState {
    return {id: this.id!, resumeTimeoutMs: this.resumeTimeoutMs, handled: this.handled, acknowledged: this.acknowledged, queue: [...this.queue]}
  }

  /** Takes every receipt of the queue (the stanzas stay): the caller calls them once the stanzas are safe elsewhere. */
  takeReceipts(): Array<() => void> {
    const receipts = this.receipts.filter((receipt) => receipt !== undefined)
    this.receipts = this.queue.map(() => undefined)
    return receipts
  }

  get unacknowledged(): readonly string[] {
    return this.queue
  }

  /** Records a stanza sent; false when the queue is full (the client does not acknowledge). */
  sent(stanza: string, receipt?: () => void): boolean {
    this.queue.push(stanza)
    this.receipts.push(receipt)
    return this.queue.length <= this.maxQueue
  }

  /**
   * Whether to ask for an acknowledgement now: stanzas are unacknowledged
   * and no request is outstanding; the request is then counted as made.
   * Asking after every burst (§4 leaves the policy to the server) lets a
   * client that took in a stanza say so before its connection drops:
   * what was not acknowledged goes to offline storage, and the client would
   * receive it twice if the session then ended without a resumption.
   */
  requestAck(): boolean {
    if (this.ackRequested || this.queue.length === 0) return false
    this.ackRequested = true
    return true
  }

  /** A new connection (a resumption): a request made on the old one may never have arrived. */
  reconnected(): void {
    this.ackRequested = false
  }

  received(): void {
    this.handled = (this.handled + 1) % WRAP
  }

  /**
   * The client acknowledged `h` stanzas in all: those leave the queue.
   * Returns false when `h` counts more stanzas than were sent (§4 "h too high").
   */
  acknowledge(h: number): boolean {
    const count = (h - this.acknowledged + WRAP) % WRAP
    if (count > this.queue.length) return false
    this.queue.splice(0, count)
    const receipts = this.receipts.splice(0, count)
    this.acknowledged = h % WRAP
    this.ackRequested = false
    for (const receipt of receipts) receipt?.()
    return true
  }

  /** The count of stanzas sent so far, modulo 2^32 (for the handled-count-too-high error). */
  get sentCount(): number {
    return (this.acknowledged + this.queue.length) % WRAP
  }
}

/** Parses an `h` attribute: an unsigned 32-bit integer, or undefined. */
export function parseCount(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,10}$/.test(value)) return undefined
  const count = Number(value)
  return count < WRAP ? count : undefined
}

/**
 * How long a session waits for resumption (ms), given the client's `max`
 * (seconds) on <enable/>: XEP-0198 §5 lets the client state its preferred
 * maximum and the server choose what it allows. A valid request is honoured
 * up to `maxResumeTimeoutMs` (never below the configured timeout, as
 * ejabberd's max_resume_timeout); anything else gets the configured timeout.
 * 0 means no resumption.
 */
export function resumptionWindow(requestedMax: string | undefined, limits: {resumeTimeoutMs: number; maxResumeTimeoutMs: number | undefined}): number {
  const configured = limits.resumeTimeoutMs
  const ceiling = Math.max(limits.maxResumeTimeoutMs ?? configured, configured)
  const requested = requestedMax !== undefined && /^\d{1,9}$/.test(requestedMax) ? Number(requestedMax) * 1000 : 0
  return requested > 0 && ceiling > 0 ? Math.min(requested, ceiling) : configured
}
