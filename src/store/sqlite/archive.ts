import type Database from 'better-sqlite3'
import {Worker} from 'node:worker_threads'

import type {ArchiveEntry, ArchiveFilter, ArchivePage, ArchivePrefs, ArchiveResult, ArchiveStore, PurgeOptions} from '../archive-store.js'
import {compiledFile} from '../../paths.js'
import type {ArchiveRow, WriterRequest, WriterResponse} from './archive-writer.js'
import {isForeignKeyError, openSharedConnection} from './connection.js'
import {translatingErrors} from './index.js'

/** How long an archived message may wait to be written with others. */
const FLUSH_INTERVAL_MS = 1000
/** Rows that are written at once, without waiting for the interval. */
const FLUSH_ROWS = 50_000

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
 * at once, and what is queued goes to the writer thread (archive-writer.ts)
 * at most FLUSH_INTERVAL_MS later (sooner past FLUSH_ROWS rows), which
 * writes it in one transaction. Each account's rows go to its own index
 * pages, so a transaction costs about a page write per account it touches:
 * batching, and a thread of its own, keep that off the server's thread. A
 * query, a purge and close() wait until what was queued is written. A crash
 * (kill -9) loses the archive rows not yet written, at most about
 * FLUSH_INTERVAL_MS of them, never the message itself, which is delivered or
 * stored offline on its own path.
 */
export class SqliteArchiveStore implements ArchiveStore {
  private readonly db: Database.Database
  private readonly options: ArchiveStoreOptions
  private readonly statements
  private readonly dataDir: string
  private readonly queries = new Map<string, Database.Statement>()
  private pending: ArchiveRow[] = []
  private flushTimer: NodeJS.Timeout | undefined
  /** Started by the first flush: a command that only reads or purges never starts it. */
  private writer: Worker | undefined
  private batches = 0
  /** Batches sent to the writer and not yet answered, by number, with their row counts. */
  private readonly unanswered = new Map<number, number>()
  private waiters: Array<() => void> = []
  /** The last id handed out: ids only grow, even if the clock steps back. */
  private lastId: number

  private constructor(db: Database.Database, dataDir: string, options: ArchiveStoreOptions) {
    this.db = db
    this.dataDir = dataDir
    this.options = options
    this.statements = {
      lastId: db.prepare<[], {id: number | null}>('SELECT max(id) AS id FROM archive_messages'),
      exists: db.prepare<[string, string, number], {found: number}>('SELECT 1 AS found FROM archive_messages WHERE host = ? AND username = ? AND id = ?'),
      prefs: db.prepare<[string, string], PrefsRow>('SELECT mode, always, never FROM archive_prefs WHERE host = ? AND username = ?'),
      setPrefs: db.prepare('INSERT OR REPLACE INTO archive_prefs (host, username, mode, always, never) VALUES (?, ?, ?, ?, ?)'),
    }
    this.lastId = this.statements.lastId.get()?.id ?? 0
  }

  static open(dataDir: string, options: ArchiveStoreOptions = {}): SqliteArchiveStore {
    const {db, file} = openSharedConnection(dataDir, 'archive')
    return translatingErrors(new SqliteArchiveStore(db, dataDir, options), file)
  }

  add(host: string, username: string, entry: ArchiveEntry): string {
    const id = Math.max(Date.now() * 1000, this.lastId + 1)
    this.lastId = id
    this.pending.push([id, host, username, entry.with, entry.withResource, entry.stanza])
    if (this.pending.length >= FLUSH_ROWS) this.flush()
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_INTERVAL_MS)

    return String(id)
  }

  /** Sends the queue to the writer thread. */
  private flush(): void {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    if (this.pending.length === 0) return
    const request: WriterRequest = {batch: ++this.batches, rows: this.pending}
    this.pending = []
    this.unanswered.set(request.batch, request.rows.length)
    const writer = this.startWriter()
    // Held open while it has work (a waiting close() must see its answer), let go when idle.
    writer.ref()
    writer.postMessage(request)
  }

  private startWriter(): Worker {
    if (this.writer) return this.writer
    const writer = new Worker(compiledFile('store/sqlite/archive-writer.js'), {workerData: {dataDir: this.dataDir}})
    writer.on('message', ({batch, error, lost}: WriterResponse) => {
      this.unanswered.delete(batch)
      if (error !== undefined) this.options.onWriteError?.(new Error(error), lost ?? 0)
      this.settle()
    })
    // A writer that dies takes its unanswered batches with it; the next flush starts another.
    const died = (error: unknown) => {
      if (this.writer !== writer) return
      this.writer = undefined
      const lost = [...this.unanswered.values()].reduce((sum, rows) => sum + rows, 0)
      this.unanswered.clear()
      if (lost > 0 || error) this.options.onWriteError?.(error ?? new Error('the archive writer stopped'), lost)
      this.settle()
    }

    writer.on('error', died)
    writer.on('exit', (code) => died(code === 0 ? undefined : new Error(`the archive writer exited with code ${code}`)))
    this.writer = writer
    return writer
  }

  private settle(): void {
    if (this.unanswered.size > 0) return
    this.writer?.unref()
    const waiters = this.waiters
    this.waiters = []
    for (const resolve of waiters) resolve()
  }

  /** Resolves once everything added so far is written (or reported lost). */
  private async written(): Promise<void> {
    this.flush()
    if (this.unanswered.size === 0) return
    await new Promise<void>((resolve) => this.waiters.push(resolve))
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
    await this.written()
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
      if (isForeignKeyError(error)) return false
      throw error
    }
  }

  async purge({before, account, dryRun = false}: PurgeOptions): Promise<number> {
    await this.written()
    const where = account ? 'host = ? AND username = ? AND id < ?' : 'id < ?'
    const parameters = [...(account ? [account.host, account.username] : []), before.getTime() * 1000]
    if (dryRun) return (this.prepared(`SELECT count(*) AS n FROM archive_messages WHERE ${where}`).get(...parameters) as {n: number}).n
    return this.db.transaction(() => this.prepared(`DELETE FROM archive_messages WHERE ${where}`).run(...parameters).changes).immediate()
  }

  async close(): Promise<void> {
    if (!this.db.open) return
    await this.written()
    const writer = this.writer
    this.writer = undefined
    await writer?.terminate()
    this.db.close()
  }
}
