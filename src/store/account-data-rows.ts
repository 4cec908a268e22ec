/**
 * What the SQL stores of per-account data (SQLite and PostgreSQL) share:
 * the shape of a roster row, how an item counts against the roster's byte
 * limit, and the table behind each area that `user info` counts.
 */
import type {RosterItem, RosterVersion, Subscription} from './roster-store.js'

export interface RosterItemRow {
  contact: string
  name: string | null
  subscription: Subscription
  ask: number
  approved: number
  /** The groups as a JSON array. */
  groups: string
}

/** An account whose roster never changed has this version: its roster is empty (the roster-versioning migration gave older rosters a row). */
export const UNCHANGED_ROSTER_VERSION: RosterVersion = '0'

export function rosterItemFromRow(row: RosterItemRow): RosterItem {
  let groups: string[] = []
  try {
    const parsed = JSON.parse(row.groups) as unknown
    if (Array.isArray(parsed)) groups = parsed.filter((group): group is string => typeof group === 'string')
  } catch {}

  return {contact: row.contact, name: row.name ?? undefined, subscription: row.subscription, ask: row.ask === 1, approved: row.approved === 1, groups}
}

/** What an item counts against RosterLimits.bytes; the same sum as the stores' usage queries. */
export function itemBytes(item: RosterItem): number {
  return Buffer.byteLength(item.contact) + Buffer.byteLength(item.name ?? '') + Buffer.byteLength(JSON.stringify(item.groups))
}

/**
 * Each area of per-account data and the table that holds it: the counts of
 * `user info`. A module's new table adds its line here; its migration's ON
 * DELETE CASCADE removes its rows with the account.
 */
export const ACCOUNT_DATA_TABLES: ReadonlyArray<readonly [area: string, table: string]> = [
  ['rosterItems', 'roster_items'],
  ['subscriptionRequests', 'subscription_requests'],
  ['offlineMessages', 'offline_messages'],
  ['vcard', 'vcards'],
  ['privateItems', 'private_storage'],
  ['blockedJids', 'blocklist_items'],
  ['lastActivity', 'last_activity'],
  ['pepNodes', 'pep_nodes'],
  ['pepItems', 'pep_items'],
  ['archivedMessages', 'archive_messages'],
  ['archivePreferences', 'archive_prefs'],
]
