/**
 * Client State Indication (XEP-0352), the session's part: while a client
 * says it is inactive (a phone in a pocket), what mod_client_state says may
 * wait is held, so that its radio can sleep. Anything else first releases
 * what waits, so that the client sees every stanza in the order it was sent.
 */
import type {Element} from '../xml/element.js'

export const CSI_NS = 'urn:xmpp:csi:0'

/** What waits for an inactive client, in order; a presence replaces the one before it from the same full JID (the older one is stale by then). */
export class HeldStanzas {
  private readonly held = new Map<string, Element>()
  private serial = 0

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.held.size
  }

  /** Holds `stanza`; false when the queue is full and everything should go out now instead. */
  hold(stanza: Element): boolean {
    if (stanza.name === 'presence') {
      const key = `presence ${stanza.attrs.from ?? ''}`
      // Deleted first so that the newer presence takes its place in order.
      this.held.delete(key)
      this.held.set(key, stanza)
    } else {
      this.held.set(`stanza ${++this.serial}`, stanza)
    }

    return this.held.size <= this.limit
  }

  /** Everything held, oldest first; the queue is then empty. */
  release(): Element[] {
    const stanzas = [...this.held.values()]
    this.held.clear()
    return stanzas
  }
}
