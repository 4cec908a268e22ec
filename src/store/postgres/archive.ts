import {archivePage} from '../archive-page.js'
import type {ArchiveEntries, ArchiveEntry, ArchiveFilter, ArchivePage, ArchivePrefs, ArchiveResult, ArchiveStore, PurgeOptions} from '../archive-store.js'
import {PostgresDatabase, type PostgresOptions, type Queryable, SQLSTATE, hasSqlState} from './database.js'
import {ArchiveIds} from './archive-ids.js'
import {arrayIdIn, numbered} from './rooms.js'

/** Archive entries deleted per statement by a purge or an account's deletion. */
const DELETE_BATCH = 10_000

/**
 * Deletes the archive entries `where` selects (over `parameters`), DELETE_BATCH
 * at a time, each batch one statement on `db`: the pool (each batch its own
 * transaction) or a transaction's connection. sql_query_timeout
 * (statement_timeout) bounds each statement, and one DELETE of a large
 * archive (a trigger call per entry) would run past it and roll back whole.
 * Bounded by the entries there were at the start: entries archived
 * meanwhile could otherwise keep it going.
 */
export async function deleteArchiveEntries(db: Queryable, where: string, parameters: readonly unknown[], onProgress?: (removed: number, total: number) => void): Promise<number> {
  const total = (await db.query<{n: number}>(`SELECT count(*) AS n FROM archive_entries WHERE ${where}`, parameters)).rows[0].n
  let removed = 0
  for (let batches = Math.floor(total / DELETE_BATCH) + 1; batches > 0; batches--) {
    const deleted = (await db.query(`DELETE FROM archive_entries WHERE (owner, id) IN (SELECT owner, id FROM archive_entries WHERE ${where} LIMIT ${DELETE_BATCH})`, parameters)).rowCount ?? 0
    removed += deleted
    onProgress?.(removed, total)
    if (deleted < DELETE_BATCH) break
  }

  return removed
}

interface PendingMessage {
  id: number
  stanza: string
  entries: readonly ArchiveEntry[]
}

export interface PostgresArchiveOptions {
  /** A batch of archived messages could not be written (they are lost; the messages themselves were delivered). */
  onWriteError?: (error: unknown, lost: number) => void
}

function jidList(json: string): string[] {
  try {
    const parsed = JSON.parse(json) as unknown
    return Array.isArray(parsed) ? parsed.filter((jid): jid is string => typeof jid === 'string') : []
  } catch {
    return []
  }
}

/**
 * The PostgreSQL message archive: the SQLite store's tables (each message
 * once, an entry per archive that holds it). add() returns the id at once
 * and queues the message; one write at a time takes everything queued, in
 * one transaction of a few statements over arrays, so that the batch grows
 * with the load instead of the number of commits (group commit). Reads, a
 * purge and close() wait for what was queued. A crash loses what was not
 * yet committed, never the message itself, which is delivered or stored
 * offline on its own path.
 */
export class PostgresArchiveStore implements ArchiveStore {
  private readonly db: PostgresDatabase
  private readonly options: PostgresArchiveOptions
  private pending: PendingMessage[] = []
  private writing: Promise<void> | undefined
  /** Ids only grow, even if the clock steps back, and no other process sharing the database hands out the same. */
  private readonly ids: ArchiveIds

  private constructor(db: PostgresDatabase, ids: ArchiveIds, options: PostgresArchiveOptions) {
    this.db = db
    this.ids = ids
    this.options = options
  }

  static async open(options: PostgresOptions, archiveOptions: PostgresArchiveOptions = {}): Promise<PostgresArchiveStore> {
    const db = await PostgresDatabase.acquire(options)
    try {
      const ids = await ArchiveIds.claim(db, async () => (await db.query<{id: number | null}>('SELECT max(id) AS id FROM archive_stanzas')).rows[0].id ?? 0)
      return new PostgresArchiveStore(db, ids, archiveOptions)
    } catch (error) {
      await db.release()
      throw error
    }
  }

  add(stanza: string, entries: ArchiveEntries): string {
    const id = this.ids.next()
    this.pending.push({id, stanza, entries})
    this.writing ??= this.writeQueued()
    return String(id)
  }

  /** Writes what is queued, batch after batch, until nothing is left. */
  private async writeQueued(): Promise<void> {
    // Let this turn of the event loop queue what it archives, so that it goes in one batch.
    await new Promise<void>((resolve) => setImmediate(resolve))
    while (this.pending.length > 0) {
      const batch = this.pending
      this.pending = []
      try {
        try {
          await this.db.transaction((tx) => this.insert(tx, batch))
        } catch (error) {
          // An account deleted between the owners' lookup and its entries' insert fails the batch on a
          // foreign key: written again, the owners are read anew and that account's entries left out.
          if (!hasSqlState(error, SQLSTATE.foreignKeyViolation)) throw error
          await this.db.transaction((tx) => this.insert(tx, batch))
        }
      } catch (error) {
        try {
          this.options.onWriteError?.(error, batch.length)
        } catch {
          // A failing report must not stop the writer: what is queued next would never be written.
        }
      }
    }

    this.writing = undefined
  }

  /** One batch: owners looked up (an account deleted since has none, and its entries are left out), then messages and entries. */
  private async insert(tx: Queryable, batch: readonly PendingMessage[]): Promise<void> {
    const accounts = new Map<string, [string, string]>()
    for (const message of batch) for (const entry of message.entries) accounts.set(`${entry.username}@${entry.host}`, [entry.host, entry.username])
    const hosts = [...accounts.values()].map(([host]) => host)
    const usernames = [...accounts.values()].map(([, username]) => username)
    await tx.query(
      `INSERT INTO archive_owners (host, username)
       SELECT a.host, a.username FROM unnest($1::text[], $2::text[]) AS x (host, username) JOIN accounts a ON a.host = x.host AND a.username = x.username
       ON CONFLICT (host, username) DO NOTHING`,
      [hosts, usernames],
    )
    const {rows} = await tx.query<{host: string; username: string; owner: number}>(
      // FOR KEY SHARE: an account deleted now waits for this batch (its entries then go with it) rather than failing it.
      'SELECT o.host, o.username, o.owner FROM archive_owners o JOIN unnest($1::text[], $2::text[]) AS x (host, username) ON o.host = x.host AND o.username = x.username FOR KEY SHARE OF o',
      [hosts, usernames],
    )
    const owners = new Map(rows.map((row) => [`${row.username}@${row.host}`, row.owner]))
    const stanzas: [number[], string[], number[]] = [[], [], []]
    const entries: [number[], number[], string[], string[]] = [[], [], [], []]
    for (const message of batch) {
      let kept = 0
      for (const entry of message.entries) {
        const owner = owners.get(`${entry.username}@${entry.host}`)
        if (owner === undefined) continue
        entries[0].push(owner)
        entries[1].push(message.id)
        entries[2].push(entry.with)
        entries[3].push(entry.withResource)
        kept++
      }

      if (kept === 0) continue
      stanzas[0].push(message.id)
      stanzas[1].push(message.stanza)
      stanzas[2].push(kept)
    }

    if (stanzas[0].length === 0) return
    await tx.query('INSERT INTO archive_stanzas (id, stanza, refs) SELECT * FROM unnest($1::bigint[], $2::text[], $3::integer[])', stanzas)
    await tx.query('INSERT INTO archive_entries (owner, id, with_jid, with_resource) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])', entries)
  }

  /** Resolves once everything added so far is written (or reported lost). */
  private async written(): Promise<void> {
    while (this.writing) await this.writing
  }

  async query(host: string, username: string, filter: ArchiveFilter, page: ArchivePage): Promise<ArchiveResult | undefined> {
    await this.written()
    const owner = (await this.db.query<{owner: number}>('SELECT owner FROM archive_owners WHERE host = $1 AND username = $2', [host, username])).rows[0]?.owner
    return archivePage(
      async (sql, parameters) => (await this.db.query(numbered(sql), parameters)).rows,
      {
        from: 'archive_entries e JOIN archive_stanzas s ON s.id = e.id',
        id: 'e.id',
        stanza: 's.stanza',
        where: ['e.owner = ?'],
        parameters: [owner ?? -1],
        withConditions: (query) => [
          ...(query.with === undefined ? [] : [['e.with_jid = ?', query.with] as [string, unknown]]),
          ...(query.withResource === undefined ? [] : [['e.with_resource = ?', query.withResource] as [string, unknown]]),
        ],
        exists: async (id) => owner !== undefined && (await this.db.query('SELECT 1 FROM archive_entries WHERE owner = $1 AND id = $2', [owner, id])).rows.length > 0,
        idIn: arrayIdIn,
      },
      filter,
      page,
    )
  }

  async getPrefs(host: string, username: string): Promise<ArchivePrefs | undefined> {
    const row = (await this.db.query<{mode: ArchivePrefs['mode']; always: string; never: string}>('SELECT mode, always, never FROM archive_prefs WHERE host = $1 AND username = $2', [host, username])).rows[0]
    return row ? {mode: row.mode, always: jidList(row.always), never: jidList(row.never)} : undefined
  }

  async setPrefs(host: string, username: string, prefs: ArchivePrefs): Promise<boolean> {
    const stored = await this.db.query(
      `INSERT INTO archive_prefs (host, username, mode, always, never) SELECT host, username, $3, $4, $5 FROM accounts WHERE host = $1 AND username = $2
       ON CONFLICT (host, username) DO UPDATE SET mode = excluded.mode, always = excluded.always, never = excluded.never`,
      [host, username, prefs.mode, JSON.stringify(prefs.always), JSON.stringify(prefs.never)],
    )
    return (stored.rowCount ?? 0) > 0
  }

  /** Counts entries, one per archive that holds a message; a message goes with the last entry that names it (the schema's trigger). */
  async purge({before, account, dryRun = false, onProgress}: PurgeOptions): Promise<number> {
    await this.written()
    const where = 'owner IN (SELECT owner FROM archive_owners WHERE $1::text IS NULL OR (host = $1 AND username = $2)) AND id < $3'
    const parameters = [account?.host ?? null, account?.username ?? null, before.getTime() * 1000]
    if (dryRun) return (await this.db.query<{n: number}>(`SELECT count(*) AS n FROM archive_entries WHERE ${where}`, parameters)).rows[0].n
    // In batches of one transaction each, as offline messages are purged: one stopped part way removed only what it was asked to.
    return deleteArchiveEntries(this.db, where, parameters, onProgress)
  }

  async close(): Promise<void> {
    await this.written()
    await this.db.release()
  }
}
