/**
 * Rosters, pending subscription requests and offline messages of the bundled
 * server (RFC 6121). Asynchronous like AccountStore, so that a networked
 * store can implement it; every write is one transaction.
 */

export type Subscription = 'none' | 'to' | 'from' | 'both'

export interface RosterItem {
  /** The contact's bare JID, normalised. */
  contact: string
  name: string | undefined
  subscription: Subscription
  /** An outbound subscription request is pending ("pending out", RFC 6121 §3.1.2). */
  ask: boolean
  groups: string[]
}

export interface OfflineMessage {
  id: number
  /** The serialised stanza, as it will be delivered. */
  stanza: string
  createdAt: Date
}

export interface RosterStore {
  getRoster(host: string, username: string): Promise<RosterItem[]>
  getItem(host: string, username: string, contact: string): Promise<RosterItem | undefined>
  /** Inserts or replaces the item; false when the account does not exist. */
  putItem(host: string, username: string, item: RosterItem): Promise<boolean>
  removeItem(host: string, username: string, contact: string): Promise<boolean>

  /** Inbound subscription requests waiting for the user's answer (RFC 6121 §3.1.3). */
  getSubscriptionRequests(host: string, username: string): Promise<Array<{contact: string; stanza: string}>>
  putSubscriptionRequest(host: string, username: string, contact: string, stanza: string): Promise<boolean>
  removeSubscriptionRequest(host: string, username: string, contact: string): Promise<boolean>

  /** Stores a message unless the user already has `limit` waiting; false when full or absent. */
  storeOfflineMessage(host: string, username: string, stanza: string, limit: number): Promise<boolean>
  /** Oldest first. */
  getOfflineMessages(host: string, username: string): Promise<OfflineMessage[]>
  /** Deletes the given messages (after delivery). */
  deleteOfflineMessages(host: string, username: string, ids: readonly number[]): Promise<void>
  countOfflineMessages(host: string, username: string): Promise<number>
  close(): Promise<void>
}
