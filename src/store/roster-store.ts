/**
 * Rosters and pending subscription requests of the bundled server (RFC 6121
 * §2, §3). Asynchronous like AccountStore, so that a networked store can
 * implement it; every write is one transaction. The other per-account data
 * of the server's modules has a store interface of its own beside this one
 * (account-data-store.ts gathers them).
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

}
