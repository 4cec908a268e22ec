import type Database from 'better-sqlite3'

import type {OfflineMessage, OfflinePurge} from '../offline-store.js'
import type {PrivateItem, PrivateKey, PutPrivateResult} from '../private-store.js'
import type {BlockResult} from '../blocklist-store.js'
import type {AccountDataCounts, AccountDataStore} from '../account-data-store.js'
import type {PutItemResult, RosterItem, RosterLimits, RosterVersion, Subscription} from '../roster-store.js'
import {ACCOUNT_DATA_TABLES, UNCHANGED_ROSTER_VERSION, itemBytes, rosterItemFromRow, type RosterItemRow} from '../account-data-rows.js'
import {deleteInBatches, isForeignKeyError, openSharedConnection} from './connection.js'
import {translatingErrors} from './index.js'

interface VersionRow {
  version: number
  epoch: string
}

function formatVersion(row: VersionRow | undefined): RosterVersion {
  return row ? `${row.version}-${row.epoch}` : UNCHANGED_ROSTER_VERSION
}

const toItem = rosterItemFromRow
type ItemRow = RosterItemRow

/** Offline messages removed per transaction by a purge. */
const PURGE_BATCH = 1000

/** Thrown inside a transaction to roll back a block that would pass the limit. */
class BlocklistFull extends Error {}

/**
 * The SQLite roster and offline store. It shares the account store's file
 * (whose migrations create its tables), on a connection of its own; open the
 * account store first so that the schema is current.
 */
export class SqliteAccountDataStore implements AccountDataStore {
  private readonly db: Database.Database
  private readonly statements

  private constructor(db: Database.Database) {
    this.db = db
    this.statements = {
      roster: db.prepare<[string, string], ItemRow>(
        'SELECT contact, name, subscription, ask, approved, groups FROM roster_items WHERE host = ? AND username = ? ORDER BY contact',
      ),
      item: db.prepare<[string, string, string], ItemRow>(
        'SELECT contact, name, subscription, ask, approved, groups FROM roster_items WHERE host = ? AND username = ? AND contact = ?',
      ),
      putItem: db.prepare(
        'INSERT OR REPLACE INTO roster_items (host, username, contact, name, subscription, ask, approved, groups) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      removeItem: db.prepare('DELETE FROM roster_items WHERE host = ? AND username = ? AND contact = ?'),
      version: db.prepare<[string, string], VersionRow>('SELECT version, epoch FROM roster_versions WHERE host = ? AND username = ?'),
      // A counter, not a hash of the items: a roster that returns to an earlier content still gets a version of its own.
      bumpVersion: db.prepare<[string, string], VersionRow>(
        'INSERT INTO roster_versions (host, username, version, epoch) VALUES (?, ?, 1, lower(hex(randomblob(6)))) ON CONFLICT (host, username) DO UPDATE SET version = version + 1 RETURNING version, epoch',
      ),
      // Text lengths in bytes: CAST to BLOB, as length() of TEXT counts characters.
      usage: db.prepare<[string, string], {items: number; bytes: number | null}>(
        "SELECT count(*) AS items, sum(length(CAST(contact AS BLOB)) + length(CAST(coalesce(name, '') AS BLOB)) + length(CAST(groups AS BLOB))) AS bytes FROM roster_items WHERE host = ? AND username = ?",
      ),
      contacts: db.prepare<[string, string, string], {contact: string}>(
        'SELECT contact FROM roster_items WHERE host = ? AND username = ? AND subscription IN (SELECT value FROM json_each(?)) ORDER BY contact',
      ),
      requests: db.prepare<[string, string], {contact: string; stanza: string}>(
        'SELECT contact, stanza FROM subscription_requests WHERE host = ? AND username = ? ORDER BY created_at',
      ),
      putRequest: db.prepare(
        'INSERT OR REPLACE INTO subscription_requests (host, username, contact, stanza, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      hasRequest: db.prepare<[string, string, string], {found: number}>('SELECT 1 AS found FROM subscription_requests WHERE host = ? AND username = ? AND contact = ?'),
      removeRequest: db.prepare('DELETE FROM subscription_requests WHERE host = ? AND username = ? AND contact = ?'),
      countOffline: db.prepare<[string, string], {n: number}>('SELECT count(*) AS n FROM offline_messages WHERE host = ? AND username = ?'),
      insertOffline: db.prepare('INSERT INTO offline_messages (host, username, stanza, created_at) VALUES (?, ?, ?, ?)'),
      offline: db.prepare<[string, string, number, number], {id: number; stanza: string; created_at: number}>(
        'SELECT id, stanza, created_at FROM offline_messages WHERE host = ? AND username = ? AND id > ? ORDER BY id LIMIT ?',
      ),
      lastActivity: db.prepare<[string, string], {at: number; status: string}>('SELECT at, status FROM last_activity WHERE host = ? AND username = ?'),
      setLastActivity: db.prepare('INSERT OR REPLACE INTO last_activity (host, username, at, status) VALUES (?, ?, ?, ?)'),
      deleteOffline: db.prepare('DELETE FROM offline_messages WHERE host = ? AND username = ? AND id = ?'),
      vcard: db.prepare<[string, string], {vcard: string}>('SELECT vcard FROM vcards WHERE host = ? AND username = ?'),
      setVcard: db.prepare('INSERT OR REPLACE INTO vcards (host, username, vcard) VALUES (?, ?, ?)'),
      deleteVcard: db.prepare('DELETE FROM vcards WHERE host = ? AND username = ?'),
      account: db.prepare<[string, string], {found: number}>('SELECT 1 AS found FROM accounts WHERE host = ? AND username = ?'),
      privateItem: db.prepare<[string, string, string, string], {xml: string}>('SELECT xml FROM private_storage WHERE host = ? AND username = ? AND namespace = ? AND name = ?'),
      // Bytes, as for rosters: length() of TEXT counts characters.
      privateUsage: db.prepare<[string, string], {bytes: number | null}>('SELECT sum(length(CAST(xml AS BLOB))) AS bytes FROM private_storage WHERE host = ? AND username = ?'),
      putPrivate: db.prepare('INSERT OR REPLACE INTO private_storage (host, username, namespace, name, xml) VALUES (?, ?, ?, ?, ?)'),
      deletePrivate: db.prepare('DELETE FROM private_storage WHERE host = ? AND username = ? AND namespace = ? AND name = ?'),
      blocklist: db.prepare<[string, string], {jid: string}>('SELECT jid FROM blocklist_items WHERE host = ? AND username = ? ORDER BY jid'),
      countBlocked: db.prepare<[string, string], {n: number}>('SELECT count(*) AS n FROM blocklist_items WHERE host = ? AND username = ?'),
      block: db.prepare('INSERT OR IGNORE INTO blocklist_items (host, username, jid) VALUES (?, ?, ?)'),
      unblock: db.prepare('DELETE FROM blocklist_items WHERE host = ? AND username = ? AND jid = ?'),
      unblockAll: db.prepare('DELETE FROM blocklist_items WHERE host = ? AND username = ?'),
      // One statement reads one snapshot: the counts agree with one another.
      accountData: db.prepare<{host: string; username: string}, Record<string, number>>(
        `SELECT ${ACCOUNT_DATA_TABLES.map(([area, table]) => `(SELECT count(*) FROM ${table} WHERE host = @host AND username = @username) AS ${area}`).join(', ')}`,
      ),
    }
  }

  static open(dataDir: string): SqliteAccountDataStore {
    const {db, file} = openSharedConnection(dataDir, 'roster')
    // Errors after open (a full disk, a lock, damage) arrive as StoreErrors, as from the account store.
    return translatingErrors(new SqliteAccountDataStore(db), file)
  }

  async getRoster(host: string, username: string): Promise<RosterItem[]> {
    return this.statements.roster.all(host, username).map(toItem)
  }

  async getVersionedRoster(host: string, username: string, cachedVersion: RosterVersion | undefined): Promise<{version: RosterVersion; items: RosterItem[] | undefined}> {
    return this.db.transaction(() => {
      const version = formatVersion(this.statements.version.get(host, username))
      return {version, items: version === cachedVersion ? undefined : this.statements.roster.all(host, username).map(toItem)}
    })()
  }

  async getRosterVersion(host: string, username: string): Promise<RosterVersion> {
    return formatVersion(this.statements.version.get(host, username))
  }

  async getItem(host: string, username: string, contact: string): Promise<RosterItem | undefined> {
    const row = this.statements.item.get(host, username, contact)
    return row ? toItem(row) : undefined
  }

  async putItem(host: string, username: string, item: RosterItem, limits: RosterLimits): Promise<PutItemResult> {
    const put = this.db.transaction((): PutItemResult => {
      const previous = this.statements.item.get(host, username, item.contact)
      const previousBytes = previous ? itemBytes(toItem(previous)) : 0
      const bytes = itemBytes(item)
      if (!previous || bytes > previousBytes) {
        const usage = this.statements.usage.get(host, username)!
        if (!previous && usage.items >= limits.items) return 'roster-full'
        if ((usage.bytes ?? 0) - previousBytes + bytes > limits.bytes) return 'roster-full'
      }

      this.statements.putItem.run(host, username, item.contact, item.name ?? null, item.subscription, item.ask ? 1 : 0, item.approved ? 1 : 0, JSON.stringify(item.groups))
      return {version: formatVersion(this.statements.bumpVersion.get(host, username))}
    })
    try {
      return put.immediate()
    } catch (error) {
      if (isForeignKeyError(error)) return 'no-account'
      throw error
    }
  }

  async getContacts(host: string, username: string, subscriptions: readonly Subscription[]): Promise<string[]> {
    return this.statements.contacts.all(host, username, JSON.stringify(subscriptions)).map((row) => row.contact)
  }

  async removeItem(host: string, username: string, contact: string): Promise<RosterVersion | undefined> {
    return this.db.transaction(() => {
      if (this.statements.removeItem.run(host, username, contact).changes === 0) return undefined
      return formatVersion(this.statements.bumpVersion.get(host, username))
    }).immediate()
  }

  async getSubscriptionRequests(host: string, username: string): Promise<Array<{contact: string; stanza: string}>> {
    return this.statements.requests.all(host, username)
  }

  async putSubscriptionRequest(host: string, username: string, contact: string, stanza: string): Promise<boolean> {
    try {
      this.statements.putRequest.run(host, username, contact, stanza, Date.now())
      return true
    } catch (error) {
      if (isForeignKeyError(error)) return false
      throw error
    }
  }

  async hasSubscriptionRequest(host: string, username: string, contact: string): Promise<boolean> {
    return this.statements.hasRequest.get(host, username, contact) !== undefined
  }

  async removeSubscriptionRequest(host: string, username: string, contact: string): Promise<boolean> {
    return this.statements.removeRequest.run(host, username, contact).changes > 0
  }

  async storeOfflineMessage(host: string, username: string, stanza: string, limit: number): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.statements.countOffline.get(host, username)!.n >= limit) return false
      try {
        this.statements.insertOffline.run(host, username, stanza, Date.now())
        return true
      } catch (error) {
        if (isForeignKeyError(error)) return false
        throw error
      }
    }).immediate()
  }

  async getOfflineMessages(host: string, username: string, page: {afterId?: number; limit?: number} = {}): Promise<OfflineMessage[]> {
    return this.statements.offline.all(host, username, page.afterId ?? 0, page.limit ?? -1).map((row) => ({id: row.id, stanza: row.stanza, createdAt: new Date(row.created_at)}))
  }

  async deleteOfflineMessages(host: string, username: string, ids: readonly number[]): Promise<void> {
    this.db.transaction(() => {
      for (const id of ids) this.statements.deleteOffline.run(host, username, id)
    }).immediate()
  }

  async countOfflineMessages(host: string, username: string): Promise<number> {
    return this.statements.countOffline.get(host, username)!.n
  }

  async getLastActivity(host: string, username: string): Promise<{at: Date; status: string} | undefined> {
    const row = this.statements.lastActivity.get(host, username)
    return row ? {at: new Date(row.at), status: row.status} : undefined
  }

  async setLastActivity(host: string, username: string, at: Date, status: string): Promise<void> {
    try {
      this.statements.setLastActivity.run(host, username, at.getTime(), status)
    } catch (error) {
      if (!isForeignKeyError(error)) throw error
    }
  }

  async getVcard(host: string, username: string): Promise<string | undefined> {
    return this.statements.vcard.get(host, username)?.vcard
  }

  async setVcard(host: string, username: string, vcard: string | undefined): Promise<boolean> {
    if (vcard === undefined) {
      this.statements.deleteVcard.run(host, username)
      return this.statements.account.get(host, username) !== undefined
    }

    try {
      this.statements.setVcard.run(host, username, vcard)
      return true
    } catch (error) {
      if (isForeignKeyError(error)) return false
      throw error
    }
  }

  async getPrivateItems(host: string, username: string, keys: readonly PrivateKey[]): Promise<Array<PrivateKey & {xml: string}>> {
    const found: Array<PrivateKey & {xml: string}> = []
    for (const {ns, name} of keys) {
      const row = this.statements.privateItem.get(host, username, ns, name)
      if (row) found.push({ns, name, xml: row.xml})
    }

    return found
  }

  async putPrivateItems(host: string, username: string, items: readonly PrivateItem[], maxBytes: number): Promise<PutPrivateResult> {
    const put = this.db.transaction((): PutPrivateResult => {
      if (this.statements.account.get(host, username) === undefined) return 'no-account'
      let growth = 0
      for (const {ns, name, xml} of items) {
        const previous = this.statements.privateItem.get(host, username, ns, name)?.xml
        growth += Buffer.byteLength(xml ?? '') - Buffer.byteLength(previous ?? '')
      }

      if (growth > 0 && (this.statements.privateUsage.get(host, username)!.bytes ?? 0) + growth > maxBytes) return 'storage-full'
      for (const {ns, name, xml} of items) {
        if (xml === undefined) this.statements.deletePrivate.run(host, username, ns, name)
        else this.statements.putPrivate.run(host, username, ns, name, xml)
      }

      return 'stored'
    })
    return put.immediate()
  }

  async getBlocklist(host: string, username: string): Promise<string[]> {
    return this.statements.blocklist.all(host, username).map((row) => row.jid)
  }

  async addToBlocklist(host: string, username: string, jids: readonly string[], limit: number): Promise<BlockResult> {
    const add = this.db.transaction((): BlockResult => {
      let added = 0
      for (const jid of jids) added += this.statements.block.run(host, username, jid).changes
      // Rolled back by the throw: a refused command changes nothing.
      if (added > 0 && this.statements.countBlocked.get(host, username)!.n > limit) throw new BlocklistFull()
      return 'stored'
    })
    try {
      return add.immediate()
    } catch (error) {
      if (error instanceof BlocklistFull) return 'blocklist-full'
      if (isForeignKeyError(error)) return 'no-account'
      throw error
    }
  }

  async removeFromBlocklist(host: string, username: string, jids?: readonly string[]): Promise<void> {
    this.db.transaction(() => {
      if (jids === undefined) this.statements.unblockAll.run(host, username)
      else for (const jid of jids) this.statements.unblock.run(host, username, jid)
    }).immediate()
  }

  async countAccountData(host: string, username: string): Promise<AccountDataCounts> {
    return {...this.statements.accountData.get({host, username})!}
  }

  async purgeOfflineMessages({before, account, dryRun = false}: OfflinePurge): Promise<number> {
    const conditions = [...(before ? ['created_at < @before'] : []), ...(account ? ['host = @host AND username = @username'] : [])]
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : ''
    const parameters = {...(before ? {before: before.getTime()} : {}), ...(account ? {host: account.host, username: account.username} : {})}
    const selected = this.db.prepare<typeof parameters, {n: number; last: number | null}>(`SELECT count(*) AS n, max(id) AS last FROM offline_messages ${where}`).get(parameters)!
    if (dryRun || selected.last === null) return dryRun ? selected.n : 0
    // Up to the last id selected now: messages stored while the purge runs are not its business, and the loop ends.
    const batch = this.db.prepare(
      `DELETE FROM offline_messages WHERE id IN (SELECT id FROM offline_messages ${where ? `${where} AND` : 'WHERE'} id <= @last ORDER BY id LIMIT ${PURGE_BATCH})`,
    )
    // No new row can match (ids only grow), so the count read above bounds the batches.
    const removeBatch = () => {
      const removed = batch.run({...parameters, last: selected.last}).changes
      return {removed, more: removed === PURGE_BATCH}
    }

    return deleteInBatches(this.db, removeBatch, Math.floor(selected.n / PURGE_BATCH) + 1)
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close()
  }
}
