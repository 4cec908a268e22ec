/**
 * Rosters, pending subscription requests and offline messages of the bundled
 * server (RFC 6121), and the other per-account data of its modules (last
 * activity, vCards, private XML). Asynchronous like AccountStore, so that a
 * networked store can implement it; every write is one transaction.
 */

export type Subscription = 'none' | 'to' | 'from' | 'both'

export interface RosterItem {
  /** The contact's bare JID, normalised. */
  contact: string
  name: string | undefined
  subscription: Subscription
  /** An outbound subscription request is pending ("pending out", RFC 6121 §3.1.2). */
  ask: boolean
  /** The user pre-approved the contact's subscription request (RFC 6121 §3.4); only with subscription none or to. */
  approved: boolean
  groups: string[]
}

export interface OfflineMessage {
  id: number
  /** The serialised stanza, as it will be delivered. */
  stanza: string
  createdAt: Date
}

/** How much of the store one account's roster may use; one limit for every path that adds items. */
export interface RosterLimits {
  items: number
  /** Bytes of contacts, names and groups together. */
  bytes: number
}

/**
 * A roster version (RFC 6121 §2.6): opaque, different after every change
 * of the roster, and never the same for two different rosters of one
 * account, even across its deletion and re-creation.
 */
export type RosterVersion = string

/** Stored, with the roster's version that includes the change; or why not. */
export type PutItemResult = {version: RosterVersion} | 'no-account' | 'roster-full'

/** A private XML item (XEP-0049), keyed by its root element's namespace and name. */
export interface PrivateKey {
  ns: string
  name: string
}

export interface PrivateItem extends PrivateKey {
  /** The serialised element; undefined in a put removes the item. */
  xml: string | undefined
}

/**
 * How many stored items each area of per-account data holds for one account,
 * by area (`rosterItems`, `offlineMessages`, …): a store for a new area adds
 * its entry, and `user info` shows it without change.
 */
export type AccountDataCounts = Record<string, number>

/** Which offline messages `purgeOfflineMessages` removes: all of them unless narrowed. */
export interface OfflinePurge {
  /** Only messages stored before this moment. */
  before?: Date
  /** Only messages of this account. */
  account?: {host: string; username: string}
  /** Count what would be removed, remove nothing. */
  dryRun?: boolean
}

export type PutPrivateResult = 'stored' | 'no-account' | 'storage-full'
export type BlockResult = 'stored' | 'no-account' | 'blocklist-full'

export interface RosterStore {
  getRoster(host: string, username: string): Promise<RosterItem[]>
  /**
   * The roster's current version and, unless that is `cachedVersion` (the
   * version a client holds), its items; read in one transaction, so the
   * version is that of the items (RFC 6121 §2.6.3).
   */
  getVersionedRoster(host: string, username: string, cachedVersion: RosterVersion | undefined): Promise<{version: RosterVersion; items: RosterItem[] | undefined}>
  getRosterVersion(host: string, username: string): Promise<RosterVersion>
  getItem(host: string, username: string, contact: string): Promise<RosterItem | undefined>
  /**
   * Inserts or replaces the item and moves the roster to a new version, in
   * one transaction with the check that the roster stays within `limits`
   * (a change that shrinks an item always passes).
   */
  putItem(host: string, username: string, item: RosterItem, limits: RosterLimits): Promise<PutItemResult>
  /** The contacts whose subscription is one of `subscriptions`, without reading the rest of the roster. */
  getContacts(host: string, username: string, subscriptions: readonly Subscription[]): Promise<string[]>
  /** Removes the item and moves the roster to a new version, in one transaction; the new version, or undefined when the item was absent. */
  removeItem(host: string, username: string, contact: string): Promise<RosterVersion | undefined>

  /** Inbound subscription requests waiting for the user's answer (RFC 6121 §3.1.3). */
  getSubscriptionRequests(host: string, username: string): Promise<Array<{contact: string; stanza: string}>>
  putSubscriptionRequest(host: string, username: string, contact: string, stanza: string): Promise<boolean>
  hasSubscriptionRequest(host: string, username: string, contact: string): Promise<boolean>
  removeSubscriptionRequest(host: string, username: string, contact: string): Promise<boolean>

  /** Stores a message unless the user already has `limit` waiting; false when full or absent. */
  storeOfflineMessage(host: string, username: string, stanza: string, limit: number): Promise<boolean>
  /** Oldest first; at most `limit` messages after the one with id `afterId`. */
  getOfflineMessages(host: string, username: string, page?: {afterId?: number; limit?: number}): Promise<OfflineMessage[]>
  /** Deletes the given messages (after delivery). */
  deleteOfflineMessages(host: string, username: string, ids: readonly number[]): Promise<void>
  countOfflineMessages(host: string, username: string): Promise<number>

  /** When the account was last available, and the status it left with (XEP-0012). */
  getLastActivity(host: string, username: string): Promise<{at: Date; status: string} | undefined>
  setLastActivity(host: string, username: string, at: Date, status: string): Promise<void>

  /** The account's vCard (XEP-0054), serialised; undefined when none is stored. */
  getVcard(host: string, username: string): Promise<string | undefined>
  /** Replaces the vCard (undefined removes it); false when the account does not exist. */
  setVcard(host: string, username: string, vcard: string | undefined): Promise<boolean>

  /** The stored items among `keys` (XEP-0049), in the order of `keys`; absent ones are left out. */
  getPrivateItems(host: string, username: string, keys: readonly PrivateKey[]): Promise<Array<PrivateKey & {xml: string}>>
  /**
   * Stores or removes each item (each key at most once), all in one
   * transaction with the check that the account's items stay within
   * `maxBytes` of XML together (a change that does not grow the total
   * always passes).
   */
  putPrivateItems(host: string, username: string, items: readonly PrivateItem[], maxBytes: number): Promise<PutPrivateResult>
  /** The JIDs the user blocks (XEP-0191), normalised, in order; empty for an account that does not exist. */
  getBlocklist(host: string, username: string): Promise<string[]>
  /** Adds `jids` in one transaction, all or none: none when the list would then hold more than `limit`. */
  addToBlocklist(host: string, username: string, jids: readonly string[], limit: number): Promise<BlockResult>
  /** Removes `jids`, or every JID when `jids` is undefined (XEP-0191 §3.5). */
  removeFromBlocklist(host: string, username: string, jids?: readonly string[]): Promise<void>
  /** The counts of every area of the account's stored data, read in one transaction so that they agree with one another. */
  countAccountData(host: string, username: string): Promise<AccountDataCounts>
  /**
   * Removes the offline messages `purge` selects, in batches that are each
   * one transaction (a server storing messages meanwhile waits for one batch
   * at most); returns how many were removed, or would be under `dryRun`.
   */
  purgeOfflineMessages(purge: OfflinePurge): Promise<number>
  close(): Promise<void>
}
