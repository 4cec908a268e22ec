/**
 * Offline messages (RFC 6121 §8.5.2.2.1, XEP-0160): stored while an account
 * has no available resource, delivered and deleted at its next login, purged
 * by age (`xmppctl offline purge`). Every write is one transaction.
 */

export interface OfflineMessage {
  id: number
  /** The serialised stanza, as it will be delivered. */
  stanza: string
  createdAt: Date
}

/** Which offline messages `purgeOfflineMessages` removes: all of them unless narrowed. */
export interface OfflinePurge {
  /** Only messages stored before this moment. */
  before?: Date
  /** Only messages of this account. */
  account?: {host: string; username: string}
  /** Count what would be removed, remove nothing. */
  dryRun?: boolean
}

export interface OfflineStore {
  /** Stores a message unless the user already has `limit` waiting; false when full or absent. */
  storeOfflineMessage(host: string, username: string, stanza: string, limit: number): Promise<boolean>
  /** Oldest first; at most `limit` messages after the one with id `afterId`. */
  getOfflineMessages(host: string, username: string, page?: {afterId?: number; limit?: number}): Promise<OfflineMessage[]>
  /** Deletes the given messages (after delivery). */
  deleteOfflineMessages(host: string, username: string, ids: readonly number[]): Promise<void>
  countOfflineMessages(host: string, username: string): Promise<number>
  /**
   * Removes the offline messages `purge` selects, in batches that are each
   * one transaction (a server storing messages meanwhile waits for one batch
   * at most); returns how many were removed, or would be under `dryRun`.
   */
  purgeOfflineMessages(purge: OfflinePurge): Promise<number>
}
