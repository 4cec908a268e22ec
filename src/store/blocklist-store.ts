/**
 * Blocklists (XEP-0191): the JIDs an account blocks, bounded in number.
 */

export type BlockResult = 'stored' | 'no-account' | 'blocklist-full'

export interface BlocklistStore {
  /** The JIDs the user blocks (XEP-0191), normalised, in order; empty for an account that does not exist. */
  getBlocklist(host: string, username: string): Promise<string[]>
  /** Adds `jids` in one transaction, all or none: none when the list would then hold more than `limit`. */
  addToBlocklist(host: string, username: string, jids: readonly string[], limit: number): Promise<BlockResult>
  /** Removes `jids`, or every JID when `jids` is undefined (XEP-0191 §3.5). */
  removeFromBlocklist(host: string, username: string, jids?: readonly string[]): Promise<void>
}
