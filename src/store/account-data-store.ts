/**
 * Everything the server keeps per account besides the account itself and
 * the archive, PEP and rooms (which have stores of their own): one store
 * behind the interfaces of its concepts. The server opens one and hands each
 * module only the interfaces of the data it keeps (modules/types.ts).
 */

import type {BlocklistStore} from './blocklist-store.js'
import type {LastActivityStore} from './last-activity-store.js'
import type {OfflineStore} from './offline-store.js'
import type {PrivateStore} from './private-store.js'
import type {RosterStore} from './roster-store.js'
import type {VcardStore} from './vcard-store.js'

/**
 * How many stored items each area of per-account data holds for one account,
 * by area (`rosterItems`, `offlineMessages`, …): a store for a new area adds
 * its entry, and `user info` shows it without change.
 */
export type AccountDataCounts = Record<string, number>

export interface AccountDataStore extends RosterStore, OfflineStore, VcardStore, PrivateStore, BlocklistStore, LastActivityStore {
  /** The counts of every area of the account's stored data, read in one transaction so that they agree with one another. */
  countAccountData(host: string, username: string): Promise<AccountDataCounts>
  close(): Promise<void>
}
