import type {AccountDataCounts, AccountDataStore} from '../account-data-store.js'
import type {BlockResult} from '../blocklist-store.js'
import type {OfflineMessage, OfflinePurge} from '../offline-store.js'
import type {PrivateItem, PrivateKey, PutPrivateResult} from '../private-store.js'
import type {PutItemResult, RosterItem, RosterLimits, RosterVersion, Subscription} from '../roster-store.js'
import {ACCOUNT_DATA_TABLES, UNCHANGED_ROSTER_VERSION, itemBytes, rosterItemFromRow, type RosterItemRow} from '../account-data-rows.js'
import {PostgresDatabase, type PostgresOptions, type Queryable} from './database.js'
import {lockAccount, rosterEpoch} from './index.js'

/** Offline messages removed per transaction by a purge. */
const PURGE_BATCH = 1000

const ITEM_COLUMNS = 'contact, name, subscription, ask, approved, groups'

function formatVersion(row: {version: number; epoch: string} | undefined): RosterVersion {
  return row ? `${row.version}-${row.epoch}` : UNCHANGED_ROSTER_VERSION
}

/**
 * The PostgreSQL store of rosters, offline messages, vCards, private XML,
 * blocklists and last activity: the SQLite store's tables and rules
 * (sqlite/account-data.ts). A write that checks a limit first locks the
 * account's row (lockAccount), so concurrent writers of one account take
 * turns as they do on SQLite's single writer.
 */
export class PostgresAccountDataStore implements AccountDataStore {
  private readonly db: PostgresDatabase

  private constructor(db: PostgresDatabase) {
    this.db = db
  }

  /** Open the account store first: its opening creates the tables. */
  static async open(options: PostgresOptions): Promise<PostgresAccountDataStore> {
    return new PostgresAccountDataStore(await PostgresDatabase.acquire(options))
  }

  private async roster(db: Queryable, host: string, username: string): Promise<RosterItem[]> {
    const {rows} = await db.query<RosterItemRow>(`SELECT ${ITEM_COLUMNS} FROM roster_items WHERE host = $1 AND username = $2 ORDER BY contact COLLATE "C"`, [host, username])
    return rows.map(rosterItemFromRow)
  }

  private async version(db: Queryable, host: string, username: string): Promise<RosterVersion> {
    return formatVersion((await db.query<{version: number; epoch: string}>('SELECT version, epoch FROM roster_versions WHERE host = $1 AND username = $2', [host, username])).rows[0])
  }

  /** A counter, not a hash of the items: a roster that returns to an earlier content still gets a version of its own. */
  private async bumpVersion(tx: Queryable, host: string, username: string): Promise<RosterVersion> {
    const {rows} = await tx.query<{version: number; epoch: string}>(
      'INSERT INTO roster_versions (host, username, version, epoch) VALUES ($1, $2, 1, $3) ON CONFLICT (host, username) DO UPDATE SET version = roster_versions.version + 1 RETURNING version, epoch',
      [host, username, rosterEpoch()],
    )
    return formatVersion(rows[0])
  }

  async getRoster(host: string, username: string): Promise<RosterItem[]> {
    return this.roster(this.db, host, username)
  }

  async getVersionedRoster(host: string, username: string, cachedVersion: RosterVersion | undefined): Promise<{version: RosterVersion; items: RosterItem[] | undefined}> {
    return this.db.transaction(
      async (tx) => {
        const version = await this.version(tx, host, username)
        return {version, items: version === cachedVersion ? undefined : await this.roster(tx, host, username)}
      },
      {isolation: 'repeatable read'},
    )
  }

  async getRosterVersion(host: string, username: string): Promise<RosterVersion> {
    return this.version(this.db, host, username)
  }

  async getItem(host: string, username: string, contact: string): Promise<RosterItem | undefined> {
    const row = (await this.db.query<RosterItemRow>(`SELECT ${ITEM_COLUMNS} FROM roster_items WHERE host = $1 AND username = $2 AND contact = $3`, [host, username, contact])).rows[0]
    return row ? rosterItemFromRow(row) : undefined
  }

  async putItem(host: string, username: string, item: RosterItem, limits: RosterLimits): Promise<PutItemResult> {
    return this.db.serially(`${username}@${host}`, async (): Promise<PutItemResult> => {
      return this.db.transaction(async (tx): Promise<PutItemResult> => {
        if (!(await lockAccount(tx, host, username))) return 'no-account'
        const previousRow = (await tx.query<RosterItemRow>(`SELECT ${ITEM_COLUMNS} FROM roster_items WHERE host = $1 AND username = $2 AND contact = $3`, [host, username, item.contact])).rows[0]
        const previousBytes = previousRow ? itemBytes(rosterItemFromRow(previousRow)) : 0
        const bytes = itemBytes(item)
        if (!previousRow || bytes > previousBytes) {
          // Bytes, as the SQLite store counts them: octet_length, not characters.
          const usage = (
            await tx.query<{items: number; bytes: number | null}>(
              "SELECT count(*) AS items, sum(octet_length(contact) + octet_length(coalesce(name, '')) + octet_length(groups)) AS bytes FROM roster_items WHERE host = $1 AND username = $2",
              [host, username],
            )
          ).rows[0]
          if (!previousRow && usage.items >= limits.items) return 'roster-full'
          if (Number(usage.bytes ?? 0) - previousBytes + bytes > limits.bytes) return 'roster-full'
        }

        await tx.query(
          `INSERT INTO roster_items (host, username, ${ITEM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (host, username, contact) DO UPDATE SET name = excluded.name, subscription = excluded.subscription, ask = excluded.ask, approved = excluded.approved, groups = excluded.groups`,
          [host, username, item.contact, item.name ?? null, item.subscription, item.ask ? 1 : 0, item.approved ? 1 : 0, JSON.stringify(item.groups)],
        )
        return {version: await this.bumpVersion(tx, host, username)}
      })
    })
  }

  async getContacts(host: string, username: string, subscriptions: readonly Subscription[]): Promise<string[]> {
    const {rows} = await this.db.query<{contact: string}>('SELECT contact FROM roster_items WHERE host = $1 AND username = $2 AND subscription = ANY($3::text[]) ORDER BY contact COLLATE "C"', [
      host,
      username,
      subscriptions,
    ])
    return rows.map((row) => row.contact)
  }

  async removeItem(host: string, username: string, contact: string): Promise<RosterVersion | undefined> {
    return this.db.serially(`${username}@${host}`, async (): Promise<RosterVersion | undefined> => {
      return this.db.transaction(async (tx) => {
        const removed = await tx.query('DELETE FROM roster_items WHERE host = $1 AND username = $2 AND contact = $3', [host, username, contact])
        if (removed.rowCount === 0) return undefined
        return this.bumpVersion(tx, host, username)
      })
    })
  }

  async getSubscriptionRequests(host: string, username: string): Promise<Array<{contact: string; stanza: string}>> {
    return (await this.db.query<{contact: string; stanza: string}>('SELECT contact, stanza FROM subscription_requests WHERE host = $1 AND username = $2 ORDER BY created_at', [host, username])).rows
  }

  async putSubscriptionRequest(host: string, username: string, contact: string, stanza: string): Promise<boolean> {
    return this.db.serially(`${username}@${host}`, async (): Promise<boolean> => {
      // The account's existence in the same statement: no foreign-key error to catch, and a deleted account stores nothing.
      const stored = await this.db.query(
        `INSERT INTO subscription_requests (host, username, contact, stanza, created_at)
         SELECT host, username, $3, $4, $5 FROM accounts WHERE host = $1 AND username = $2
         ON CONFLICT (host, username, contact) DO UPDATE SET stanza = excluded.stanza, created_at = excluded.created_at`,
        [host, username, contact, stanza, Date.now()],
      )
      return (stored.rowCount ?? 0) > 0
    })
  }

  async hasSubscriptionRequest(host: string, username: string, contact: string): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM subscription_requests WHERE host = $1 AND username = $2 AND contact = $3', [host, username, contact])).rows.length > 0
  }

  async removeSubscriptionRequest(host: string, username: string, contact: string): Promise<boolean> {
    return this.db.serially(`${username}@${host}`, async (): Promise<boolean> => {
      return ((await this.db.query('DELETE FROM subscription_requests WHERE host = $1 AND username = $2 AND contact = $3', [host, username, contact])).rowCount ?? 0) > 0
    })
  }

  async storeOfflineMessage(host: string, username: string, stanza: string, limit: number): Promise<boolean> {
    return this.db.serially(`${username}@${host}`, async (): Promise<boolean> => {
      return this.db.transaction(async (tx) => {
        if (!(await lockAccount(tx, host, username))) return false
        const count = (await tx.query<{n: number}>('SELECT count(*) AS n FROM offline_messages WHERE host = $1 AND username = $2', [host, username])).rows[0].n
        if (count >= limit) return false
        await tx.query('INSERT INTO offline_messages (host, username, stanza, created_at) VALUES ($1, $2, $3, $4)', [host, username, stanza, Date.now()])
        return true
      })
    })
  }

  async getOfflineMessages(host: string, username: string, page: {afterId?: number; limit?: number} = {}): Promise<OfflineMessage[]> {
    const {rows} = await this.db.query<{id: number; stanza: string; created_at: number}>(
      'SELECT id, stanza, created_at FROM offline_messages WHERE host = $1 AND username = $2 AND id > $3 ORDER BY id LIMIT $4',
      [host, username, page.afterId ?? 0, page.limit ?? null],
    )
    return rows.map((row) => ({id: row.id, stanza: row.stanza, createdAt: new Date(row.created_at)}))
  }

  async deleteOfflineMessages(host: string, username: string, ids: readonly number[]): Promise<void> {
    return this.db.serially(`${username}@${host}`, async (): Promise<void> => {
      await this.db.query('DELETE FROM offline_messages WHERE host = $1 AND username = $2 AND id = ANY($3::bigint[])', [host, username, ids])
    })
  }

  async countOfflineMessages(host: string, username: string): Promise<number> {
    return (await this.db.query<{n: number}>('SELECT count(*) AS n FROM offline_messages WHERE host = $1 AND username = $2', [host, username])).rows[0].n
  }

  async getLastActivity(host: string, username: string): Promise<{at: Date; status: string} | undefined> {
    const row = (await this.db.query<{at: number; status: string}>('SELECT at, status FROM last_activity WHERE host = $1 AND username = $2', [host, username])).rows[0]
    return row ? {at: new Date(row.at), status: row.status} : undefined
  }

  async setLastActivity(host: string, username: string, at: Date, status: string): Promise<void> {
    return this.db.serially(`${username}@${host}`, async (): Promise<void> => {
      await this.db.query(
        `INSERT INTO last_activity (host, username, at, status) SELECT host, username, $3, $4 FROM accounts WHERE host = $1 AND username = $2
         ON CONFLICT (host, username) DO UPDATE SET at = excluded.at, status = excluded.status`,
        [host, username, at.getTime(), status],
      )
    })
  }

  async getVcard(host: string, username: string): Promise<string | undefined> {
    return (await this.db.query<{vcard: string}>('SELECT vcard FROM vcards WHERE host = $1 AND username = $2', [host, username])).rows[0]?.vcard
  }

  async setVcard(host: string, username: string, vcard: string | undefined): Promise<boolean> {
    return this.db.serially(`${username}@${host}`, async (): Promise<boolean> => {
      if (vcard === undefined) {
        await this.db.query('DELETE FROM vcards WHERE host = $1 AND username = $2', [host, username])
        return (await this.db.query('SELECT 1 FROM accounts WHERE host = $1 AND username = $2', [host, username])).rows.length > 0
      }

      const stored = await this.db.query(
        'INSERT INTO vcards (host, username, vcard) SELECT host, username, $3 FROM accounts WHERE host = $1 AND username = $2 ON CONFLICT (host, username) DO UPDATE SET vcard = excluded.vcard',
        [host, username, vcard],
      )
      return (stored.rowCount ?? 0) > 0
    })
  }

  async getPrivateItems(host: string, username: string, keys: readonly PrivateKey[]): Promise<Array<PrivateKey & {xml: string}>> {
    return this.privateItems(this.db, host, username, keys)
  }

  private async privateItems(db: Queryable, host: string, username: string, keys: readonly PrivateKey[]): Promise<Array<PrivateKey & {xml: string}>> {
    if (keys.length === 0) return []
    const {rows} = await db.query<{namespace: string; name: string; xml: string}>(
      'SELECT namespace, name, xml FROM private_storage WHERE host = $1 AND username = $2 AND (namespace, name) IN (SELECT * FROM unnest($3::text[], $4::text[]))',
      [host, username, keys.map((key) => key.ns), keys.map((key) => key.name)],
    )
    const found = new Map(rows.map((row) => [`${row.namespace}\u0000${row.name}`, row.xml]))
    return keys.flatMap(({ns, name}) => {
      const xml = found.get(`${ns}\u0000${name}`)
      return xml === undefined ? [] : [{ns, name, xml}]
    })
  }

  async putPrivateItems(host: string, username: string, items: readonly PrivateItem[], maxBytes: number): Promise<PutPrivateResult> {
    return this.db.serially(`${username}@${host}`, async (): Promise<PutPrivateResult> => {
      return this.db.transaction(async (tx): Promise<PutPrivateResult> => {
        if (!(await lockAccount(tx, host, username))) return 'no-account'
        const previous = await this.privateItems(tx, host, username, items)
        const previousBytes = new Map(previous.map((item) => [`${item.ns}\u0000${item.name}`, Buffer.byteLength(item.xml)]))
        let growth = 0
        for (const {ns, name, xml} of items) growth += Buffer.byteLength(xml ?? '') - (previousBytes.get(`${ns}\u0000${name}`) ?? 0)
        if (growth > 0) {
          const used = Number((await tx.query<{bytes: number | null}>('SELECT sum(octet_length(xml)) AS bytes FROM private_storage WHERE host = $1 AND username = $2', [host, username])).rows[0].bytes ?? 0)
          if (used + growth > maxBytes) return 'storage-full'
        }

        for (const {ns, name, xml} of items) {
          if (xml === undefined) await tx.query('DELETE FROM private_storage WHERE host = $1 AND username = $2 AND namespace = $3 AND name = $4', [host, username, ns, name])
          else {
            await tx.query(
              'INSERT INTO private_storage (host, username, namespace, name, xml) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (host, username, namespace, name) DO UPDATE SET xml = excluded.xml',
              [host, username, ns, name, xml],
            )
          }
        }

        return 'stored'
      })
    })
  }

  async getBlocklist(host: string, username: string): Promise<string[]> {
    return (await this.db.query<{jid: string}>('SELECT jid FROM blocklist_items WHERE host = $1 AND username = $2 ORDER BY jid COLLATE "C"', [host, username])).rows.map((row) => row.jid)
  }

  async addToBlocklist(host: string, username: string, jids: readonly string[], limit: number): Promise<BlockResult> {
    return this.db.serially(`${username}@${host}`, async (): Promise<BlockResult> => {
      return this.db.transaction(async (tx): Promise<BlockResult> => {
        if (!(await lockAccount(tx, host, username))) return 'no-account'
        const added = await tx.query('INSERT INTO blocklist_items (host, username, jid) SELECT $1, $2, jid FROM unnest($3::text[]) AS jid ON CONFLICT DO NOTHING', [host, username, jids])
        if ((added.rowCount ?? 0) > 0) {
          const count = (await tx.query<{n: number}>('SELECT count(*) AS n FROM blocklist_items WHERE host = $1 AND username = $2', [host, username])).rows[0].n
          // Rolled back by the throw: a refused command changes nothing.
          if (count > limit) throw new BlocklistFull()
        }

        return 'stored'
      }).catch((error: unknown) => {
        if (error instanceof BlocklistFull) return 'blocklist-full' as const
        throw error
      })
    })
  }

  async removeFromBlocklist(host: string, username: string, jids?: readonly string[]): Promise<void> {
    return this.db.serially(`${username}@${host}`, async (): Promise<void> => {
      if (jids === undefined) await this.db.query('DELETE FROM blocklist_items WHERE host = $1 AND username = $2', [host, username])
      else await this.db.query('DELETE FROM blocklist_items WHERE host = $1 AND username = $2 AND jid = ANY($3::text[])', [host, username, jids])
    })
  }

  async countAccountData(host: string, username: string): Promise<AccountDataCounts> {
    // One statement reads one snapshot: the counts agree with one another.
    const {rows} = await this.db.query<Record<string, number>>(
      `SELECT ${ACCOUNT_DATA_TABLES.map(([area, table]) => `(SELECT count(*) FROM ${table} WHERE host = $1 AND username = $2) AS "${area}"`).join(', ')}`,
      [host, username],
    )
    return {...rows[0]}
  }

  async purgeOfflineMessages({before, account, dryRun = false}: OfflinePurge): Promise<number> {
    const conditions = ['($1::bigint IS NULL OR created_at < $1)', '($2::text IS NULL OR (host = $2 AND username = $3))']
    const parameters = [before?.getTime() ?? null, account?.host ?? null, account?.username ?? null]
    const selected = (await this.db.query<{n: number; last: number | null}>(`SELECT count(*) AS n, max(id) AS last FROM offline_messages WHERE ${conditions.join(' AND ')}`, parameters)).rows[0]
    if (dryRun || selected.last === null) return dryRun ? selected.n : 0
    // Up to the last id selected now, in batches that are each one transaction, as the SQLite store.
    let removed = 0
    for (let batches = Math.floor(selected.n / PURGE_BATCH) + 1; batches > 0; batches--) {
      const deleted = await this.db.query(
        `DELETE FROM offline_messages WHERE id IN (SELECT id FROM offline_messages WHERE ${conditions.join(' AND ')} AND id <= $4 ORDER BY id LIMIT ${PURGE_BATCH})`,
        [...parameters, selected.last],
      )
      removed += deleted.rowCount ?? 0
      if ((deleted.rowCount ?? 0) < PURGE_BATCH) break
    }

    return removed
  }

  async close(): Promise<void> {
    await this.db.release()
  }
}

/** Thrown inside a transaction to roll back a block that would pass the limit. */
class BlocklistFull extends Error {}
