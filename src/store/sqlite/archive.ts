import type Database from 'better-sqlite3'

import type {ArchiveEntry, ArchiveFilter, ArchivePage, ArchivePrefs, ArchiveResult, ArchiveStore, PurgeOptions} from '../archive-store.js'
import {openSharedConnection} from './connection.js'
import {translatingErrors} from './index.js'

/** How long an archived message may wait to be written with others. */
const FLUSH_INTERVAL_MS = 100
/** Rows that are written at once, without waiting for the interval. */
const FLUSH_ROWS = 10_000

interface PendingRow {
  id: number
  host: string
  username: string
  entry: ArchiveEntry
}

interface PrefsRow {
  mode: ArchivePrefs['mode']
  always: string
  never: string
}

/** Archive ids are decimal microseconds: anything else cannot name a message. */
function parseId(id: string): number | undefined {
  return /^\d{1,16}$/.test(id) ? Number(id) : undefined
}

function jidList(json: string): string[] {
  try {
    const parsed = JSON.parse(json) as unknown
    return Array.isArray(parsed) ? parsed.filter((jid): jid is string => typeof jid === 'string') : []
  } catch {
    return []
  }
}

export interface ArchiveStoreOptions {
  /** A batch of archived messages could not be written (they are lost; the messages themselves were delivered). */
  onWriteError?: (error: unknown, lost: number) => void
}

/**
 * The SQLite message archive, on a connection of its own to the account
 * store's file (open the account store first, so that the schema is current).
 *
 * Messages are archived in batches: add() queues the row and returns its id
 * at once, and what is queued is written in one transaction at most
 * FLUSH_INTERVAL_MS later (sooner past FLUSH_ROWS rows). Each account's rows
 * go to its own index pages, so a transaction costs about a page write per
 * account it touches: per event-loop turn that was nearly a page per row,
 * the archive's whole cost. A query, a purge and close() write the queue
 * first. A crash (kill -9) loses the archive rows of the batch not yet
 * written, at most FLUSH_INTERVAL_MS of them, never the message itself,
 * which is delivered or stored offline on its own path.
 */
export class SqliteArchiveStore implements ArchiveStore {
  private readonly db: Database.Database
  private readonly options: ArchiveStoreOptions
  private readonly statements
  private readonly writeBatch: Database.Transaction<(rows: readonly PendingRow[]) => void>
  private readonly queries = new Map<string, Database.Statement>()
  private pending: PendingRow[] = []
  private flushTimer: NodeJS.Timeout | undefined
  /** The last id handed out: ids only grow, even if the clock steps back. */
  private lastId: number

  private constructor(db: Database.Database, options: ArchiveStoreOptions) {
    this.db = db
    this.options = options
    this.statements = {
      // INSERT … SELECT … WHERE EXISTS: a row for an account deleted meanwhile is skipped instead of failing its whole batch on the foreign key.
      insert: db.prepare(
        'INSERT INTO archive_messages (id, host, username, with_jid, with_resource, stanza) SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM accounts WHERE host = ? AND username = ?)',
      ),
      lastId: db.prepare<[], {id: number | null}>('SELECT max(id) AS id FROM archive_messages'),
      exists: db.prepare<[string, string, number], {found: number}>('SELECT 1 AS found FROM archive_messages WHERE host = ? AND username = ? AND id = ?'),
      prefs: db.prepare<[string, string], PrefsRow>('SELECT mode, always, never FROM archive_prefs WHERE host = ? AND username = ?'),
      setPrefs: db.prepare('INSERT OR REPLACE INTO archive_prefs (host, username, mode, always, never) VALUES (?, ?, ?, ?, ?)'),
    }
    this.lastId = this.statements.lastId.get()?.id ?? 0
    this.writeBatch = db.transaction((rows: readonly PendingRow[]) => {
      for (const {id, host, username, entry} of rows) this.statements.insert.run(id, host, username, entry.with, entry.withResource, entry.stanza, host, username)
    })
  }

  static open(dataDir: string, options: ArchiveStoreOptions = {}): SqliteArchiveStore {
    const {db, file} = openSharedConnection(dataDir, 'archive')
    // Each batch rewrites the index pages of the accounts it touches; a checkpoint copies each page
    // to the database once however often the WAL holds it, so checkpointing every 64 MiB rather than
    // every 4 MiB (SQLite's default) writes far less (measured: 2 to 2.5 times the rows per second).
    db.pragma('wal_autocheckpoint = 16384')
    return translatingErrors(new SqliteArchiveStore(db, options), file)
  }

  add(host: string, username: string, entry: ArchiveEntry): string {
    const id = Math.max(Date.now() * 1000, this.lastId + 1)
    this.lastId = id
    this.pending.push({id, host, username, entry})
    if (this.pending.length >= FLUSH_ROWS) this.flushQuietly()
    else this.flushTimer ??= setTimeout(() => this.flushQuietly(), FLUSH_INTERVAL_MS)

    return String(id)
  }


  /** Writes the queue in one transaction. */
  private flush(): void {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    if (this.pending.length === 0) return
    const rows = this.pending
    this.pending = []
    this.writeBatch.immediate(rows)
  }

  private flushQuietly(): void {
    const lost = this.pending.length
    try {
      this.flush()
    } catch (error) {
      this.options.onWriteError?.(error, lost)
    }
  }

  /** A prepared statement per query shape, kept: the shapes are few (which filters are set). */
  private prepared(sql: string): Database.Statement {
    let statement = this.queries.get(sql)
    if (!statement) {
      statement = this.db.prepare(sql)
      this.queries.set(sql, statement)
    }

    return statement
  }

  async query(host: string, username: string, filter: ArchiveFilter, page: ArchivePage): Promise<ArchiveResult | undefined> {
    this.flush()
    const known = (id: string | undefined): number | undefined | false => {
      if (id === undefined) return undefined
      const parsed = parseId(id)
      return parsed !== undefined && this.statements.exists.get(host, username, parsed) ? parsed : false
    }

    const afterId = known(filter.afterId)
    const beforeId = known(filter.beforeId)
    const after = known(page.after)
    const before = page.before === '' ? undefined : known(page.before)
    if (afterId === false || beforeId === false || after === false || before === false) return undefined

    const where = ['host = ?', 'username = ?']
    const parameters: unknown[] = [host, username]
    const add = (condition: string, value: unknown) => {
      where.push(condition)
      parameters.push(value)
    }

    if (filter.with !== undefined) add('with_jid = ?', filter.with)
    if (filter.withResource !== undefined) add('with_resource = ?', filter.withResource)
    // Ids are microseconds since the epoch; the form's times have milliseconds at most.
    if (filter.start) add('id >= ?', filter.start.getTime() * 1000)
    if (filter.end) add('id <= ?', filter.end.getTime() * 1000 + 999)
    if (afterId !== undefined) add('id > ?', afterId)
    if (beforeId !== undefined) add('id < ?', beforeId)
    if (filter.ids) add('id IN (SELECT value FROM json_each(?))', JSON.stringify(filter.ids.map((id) => parseId(id) ?? -1)))
    const matching = where.join(' AND ')
    const count = (this.prepared(`SELECT count(*) AS n FROM archive_messages WHERE ${matching}`).get(...parameters) as {n: number}).n

    // One row more than the page shows whether the results go on past it.
    const backwards = page.before !== undefined
    const bound = backwards ? before : after
    const sql = `SELECT id, stanza FROM archive_messages WHERE ${matching}${bound === undefined ? '' : backwards ? ' AND id < ?' : ' AND id > ?'} ORDER BY id ${backwards ? 'DESC' : 'ASC'} LIMIT ?`
    const rows = this.prepared(sql).all(...parameters, ...(bound === undefined ? [] : [bound]), page.max + 1) as Array<{id: number; stanza: string}>
    const complete = rows.length <= page.max
    const shown = rows.slice(0, page.max)
    if (backwards) shown.reverse()
    const firstIndex =
      shown.length === 0 ? 0 : (this.prepared(`SELECT count(*) AS n FROM archive_messages WHERE ${matching} AND id < ?`).get(...parameters, shown[0].id) as {n: number}).n
    return {messages: shown.map((row) => ({id: String(row.id), at: new Date(Math.floor(row.id / 1000)), stanza: row.stanza})), complete, count, firstIndex}
  }

  async getPrefs(host: string, username: string): Promise<ArchivePrefs | undefined> {
    const row = this.statements.prefs.get(host, username)
    return row ? {mode: row.mode, always: jidList(row.always), never: jidList(row.never)} : undefined
  }

  async setPrefs(host: string, username: string, prefs: ArchivePrefs): Promise<boolean> {
    try {
      this.statements.setPrefs.run(host, username, prefs.mode, JSON.stringify(prefs.always), JSON.stringify(prefs.never))
      return true
    } catch (error) {
      if (error instanceof Error && 'code' in error && (error as {code: unknown}).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return false
      throw error
    }
  }

  async purge({before, account, dryRun = false}: PurgeOptions): Promise<number> {
    this.flush()
    const where = account ? 'host = ? AND username = ? AND id < ?' : 'id < ?'
    const parameters = [...(account ? [account.host, account.username] : []), before.getTime() * 1000]
    if (dryRun) return (this.prepared(`SELECT count(*) AS n FROM archive_messages WHERE ${where}`).get(...parameters) as {n: number}).n
    return this.db.transaction(() => this.prepared(`DELETE FROM archive_messages WHERE ${where}`).run(...parameters).changes).immediate()
  }

  async close(): Promise<void> {
    if (!this.db.open) return
    this.flushQuietly()
    this.db.close()
  }
}
