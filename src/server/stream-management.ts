/**
 * XEP-0198 stream management state of one session: the count of stanzas
 * handled from the client (`h` we report), and the stanzas sent to it that
 * it has not acknowledged yet, kept so they can be sent again after a
 * resumption, or stored offline or bounced when the session ends.
 */

/** Counters are modulo 2^32 (XEP-0198 §4). */
const WRAP = 2 ** 32

export const SM_NS = 'urn:xmpp:sm:3'

export class StreamManagement {
  /** The resumption id, when the client asked for resumption. */
  readonly id: string | undefined
  /** Stanzas handled from the client, modulo 2^32. */
  handled = 0
  /** Stanzas sent and not acknowledged, oldest first. */
  private queue: string[] = []
  /** The count (modulo 2^32) of the stanza just before queue[0]: what the client last acknowledged. */
  private acknowledged = 0
  private readonly maxQueue: number

  constructor(id: string | undefined, maxQueue: number) {
    this.id = id
    this.maxQueue = maxQueue
  }

  get unacknowledged(): readonly string[] {
    return this.queue
  }

  /** Records a stanza sent; false when the queue is full (the client does not acknowledge). */
  sent(stanza: string): boolean {
    this.queue.push(stanza)
    return this.queue.length <= this.maxQueue
  }

  /** Whether it is time to ask for an acknowledgement: every few stanzas, not for each one. */
  get wantsAck(): boolean {
    return this.queue.length > 0 && this.queue.length % 5 === 0
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
    this.acknowledged = h % WRAP
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
