import type Database from 'better-sqlite3'
import {Worker} from 'node:worker_threads'

import type {ArchiveEntries, ArchiveFilter, ArchivePage, ArchivePrefs, ArchiveResult, ArchiveStore, PurgeOptions} from '../archive-store.js'
import {compiledFile} from '../../paths.js'
import type {ArchiveRow, WriterRequest, WriterResponse} from './archive-writer.js'
import {archivePage} from '../archive-page.js'
import {liveArchiveId} from '../archive-ids.js'
import {deleteInBatches, isForeignKeyError, jsonIdIn, openSharedConnection} from './connection.js'
import {translatingErrors} from './index.js'

/** How long an archived message may wait to be committed with others (in the writer thread). */
const COMMIT_INTERVAL_MS = 1000
/** Rows that are committed at once, without waiting for the interval. */
const COMMIT_ROWS = 50_000
/** How long rows wait on the server's thread to go to the writer together, and how many go at once without waiting. */
const HAND_OFF_MS = 5
const HAND_OFF_ROWS = 256
/** Messages a purge removes per transaction. */
const PURGE_BATCH_MESSAGES = 1000

interface PrefsRow {
  mode: ArchivePrefs['mode']
  always: string
  never: string
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
  /** The store was busy (locked by another process past the busy timeout): `held` messages wait to be written at the next try. */
  onWriteDeferred?: (error: unknown, held: number) => void
}

/**
 * The SQLite message archive, on a connection of its own to the account
 * store's file (open the account store first, so that the schema is current).
 *
 * Messages are archived in batches: add() queues the row and returns its id
 * at once, what was queued goes to the writer thread (archive-writer.ts)
 * HAND_OFF_MS after the first row (at once past HAND_OFF_ROWS rows), and the
 * writer stages the rows as they come and commits them at most
 * COMMIT_INTERVAL_MS after the first (sooner past COMMIT_ROWS rows), in one
 * transaction. Each account's rows go to its own
 * index pages, so a transaction costs about a page write per account it
 * touches: batching, and a thread of its own, keep that off the server's
 * thread. A query, a purge and close() wait until what was queued is
 * written. A crash (kill -9) loses the archive rows not yet committed, at
 * most about COMMIT_INTERVAL_MS of them, never the message itself, which is
 * delivered or stored offline on its own path. A store locked by another
 * process past the busy timeout loses nothing: the writer keeps the rows and
 * tries again (archive-writer.ts); a query meanwhile answers without them.
 */
export class SqliteArchiveStore implements ArchiveStore {
  private readonly db: Database.Database
  private readonly options: ArchiveStoreOptions
  private readonly statements
  private readonly dataDir: string
  private readonly queries = new Map<string, Database.Statement>()
  private pending: ArchiveRow[] = []
  private handOff: NodeJS.Timeout | undefined
  /** Started by the first hand-off: a command that only reads or purges never starts it. */
  private writer: Worker | undefined
  private batches = 0
  /** Batches sent to the writer and not yet answered, by number, with their row counts. */
  private readonly unanswered = new Map<number, number>()
  private waiters: Array<() => void> = []
  /** Rows the writer holds for a retry after it found the store busy (its last answer said so). */
  private held = 0
  /** The last id handed out: ids only grow, even if the clock steps back. */
  private lastId: number

  private constructor(db: Database.Database, dataDir: string, options: ArchiveStoreOptions) {
    this.db = db
    this.dataDir = dataDir
    this.options = options
    this.statements = {
      lastId: db.prepare<[], {id: number | null}>('SELECT max(id) AS id FROM archive_stanzas'),
      owner: db.prepare<[string, string], {owner: number}>('SELECT owner FROM archive_owners WHERE host = ? AND username = ?'),
      exists: db.prepare<[number, number], {found: number}>('SELECT 1 AS found FROM archive_entries WHERE owner = ? AND id = ?'),
      prefs: db.prepare<[string, string], PrefsRow>('SELECT mode, always, never FROM archive_prefs WHERE host = ? AND username = ?'),
      setPrefs: db.prepare('INSERT OR REPLACE INTO archive_prefs (host, username, mode, always, never) VALUES (?, ?, ?, ?, ?)'),
    }
    this.lastId = this.statements.lastId.get()?.id ?? 0
  }

  static open(dataDir: string, options: ArchiveStoreOptions = {}): SqliteArchiveStore {
    const {db, file} = openSharedConnection(dataDir, 'archive')
    return translatingErrors(new SqliteArchiveStore(db, dataDir, options), file)
  }

  add(stanza: string, entries: ArchiveEntries): string {
    // Never an imported id (../archive-ids.ts): an import in another process cannot see this one until it is written.
    const id = liveArchiveId(Math.max(Date.now() * 1000, this.lastId + 1))
    this.lastId = id
    const row: ArchiveRow = [id, stanza]
    for (const entry of entries) row.push(entry.host, entry.username, entry.with, entry.withResource)
    this.pending.push(row)
    if (this.pending.length >= HAND_OFF_ROWS) this.send(false)
    else this.handOff ??= setTimeout(() => this.send(false), HAND_OFF_MS)
    return String(id)
  }

  /**
   * Hands what was archived since the last hand-off to the writer thread,
   * which stages it with what it already holds and commits (`commit`: at
   * once). Rows leave this thread's heap within HAND_OFF_MS, young: kept
   * here until their commit, they outlived young-generation collections and
   * cost the server thread more than routing the messages did (measured with
   * the bench's archive rounds: throughput with archiving fell to 0.61 of
   * without, with the rows only held and never written).
   */
  private send(commit: boolean, final = false): void {
    clearTimeout(this.handOff)
    this.handOff = undefined
    if (this.pending.length === 0 && !commit) return
    const request: WriterRequest = {batch: ++this.batches, rows: this.pending, commit, final, commitIntervalMs: COMMIT_INTERVAL_MS, commitRows: COMMIT_ROWS}
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
    writer.on('message', ({batches, error, lost, deferred}: WriterResponse) => {
      for (const batch of batches) this.unanswered.delete(batch)
      if (deferred !== undefined) {
        this.held = deferred
        this.options.onWriteDeferred?.(new Error(error), deferred)
      } else {
        this.held = 0
        if (error !== undefined) this.options.onWriteError?.(new Error(error), lost ?? 0)
      }

      this.settle()
    })
    // A writer that dies takes its unanswered batches with it; the next hand-off starts another.
    const died = (error: unknown) => {
      if (this.writer !== writer) return
      this.writer = undefined
      const lost = [...this.unanswered.values()].reduce((sum, rows) => sum + rows, this.held)
      this.unanswered.clear()
      this.held = 0
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
    // Rows held for a retry keep it going.
    if (this.held === 0) this.writer?.unref()
    const waiters = this.waiters
    this.waiters = []
    for (const resolve of waiters) resolve()
  }

  /** Resolves once everything added so far is written, reported lost, or (`final` unset) held by the writer for a retry. */
  private async written(final = false): Promise<void> {
    if (this.pending.length === 0 && this.unanswered.size === 0 && (!final || this.held === 0)) return
    this.send(true, final)
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
    const owner = this.statements.owner.get(host, username)?.owner
    const result = await archivePage((sql, parameters) => this.prepared(sql).all(...parameters), {
      from: 'archive_entries e JOIN archive_stanzas s ON s.id = e.id',
      id: 'e.id',
      stanza: 's.stanza',
      where: ['e.owner = ?'],
      parameters: [owner ?? -1],
      withConditions: (query) => [
        ...(query.with === undefined ? [] : [['e.with_jid = ?', query.with] as [string, unknown]]),
        ...(query.withResource === undefined ? [] : [['e.with_resource = ?', query.withResource] as [string, unknown]]),
      ],
      exists: (id) => owner !== undefined && this.statements.exists.get(owner, id) !== undefined,
      idIn: jsonIdIn,
    }, filter, page)
    return result
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

  /**
   * Counts entries, one per archive that holds a message; a message goes with
   * the last entry that names it (the schema's trigger). In batches with a
   * pause between (deleteInBatches()): in one transaction, a purge of 600,000
   * entries held the store's one write lock for 4.1 s, and a running server's
   * writes wait for it, their event loop with them, failing after 5 s.
   */
  async purge({before, account, dryRun = false, onProgress}: PurgeOptions): Promise<number> {
    await this.written()
    const beforeId = before.getTime() * 1000
    if (account) {
      // One archive's entries older than `before` are one range of the primary key, in id order.
      const where = 'owner = (SELECT owner FROM archive_owners WHERE host = @host AND username = @username) AND id < @before'
      const parameters = {host: account.host, username: account.username, before: beforeId}
      const total = (this.prepared(`SELECT count(*) AS n FROM archive_entries WHERE ${where}`).get(parameters) as {n: number}).n
      if (dryRun || total === 0) return total
      const batch = this.prepared(`DELETE FROM archive_entries WHERE ${where} AND id IN (SELECT id FROM archive_entries WHERE ${where} ORDER BY id LIMIT ${PURGE_BATCH_MESSAGES})`)
      const removeBatch = () => {
        const removed = batch.run(parameters).changes
        return {removed, more: removed === PURGE_BATCH_MESSAGES}
      }

      return deleteInBatches(this.db, removeBatch, Math.floor(total / PURGE_BATCH_MESSAGES) + 1, onProgress && ((removed) => onProgress(removed, total)))
    }

    const total = (this.prepared('SELECT count(*) AS n FROM archive_entries WHERE owner IN (SELECT owner FROM archive_owners) AND id < ?').get(beforeId) as {n: number}).n
    if (dryRun || total === 0) return total
    // Every archive's: by ranges of message ids, oldest first, so that each batch deletes messages that lie
    // together in archive_stanzas. In the order of the entries' key (owner, then id), each batch took a
    // message from every other page of archive_stanzas, and rewrote it. Measured on 600,000 entries of 200
    // archives: 14.6 s of CPU in key order, 5.9 s by id ranges, 3.9 s in one transaction; another
    // process's writes waited at most 54 ms by id ranges, 3.8 s behind the one transaction.
    const messages = (this.prepared('SELECT count(*) AS n FROM archive_stanzas WHERE id < ?').get(beforeId) as {n: number}).n
    const nextBound = this.prepared(`SELECT id FROM archive_stanzas WHERE id > @after AND id < @before ORDER BY id LIMIT 1 OFFSET ${PURGE_BATCH_MESSAGES - 1}`).pluck()
    const range = this.prepared('DELETE FROM archive_entries WHERE owner IN (SELECT owner FROM archive_owners) AND id > @after AND id <= @upTo')
    let after = 0
    const removeBatch = () => {
      const bound = nextBound.get({after, before: beforeId}) as number | undefined
      const upTo = bound ?? beforeId - 1
      const removed = range.run({after, upTo}).changes
      after = upTo
      return {removed, more: bound !== undefined}
    }

    return deleteInBatches(this.db, removeBatch, Math.floor(messages / PURGE_BATCH_MESSAGES) + 1, onProgress && ((removed) => onProgress(removed, total)))
  }

  async close(): Promise<void> {
    if (!this.db.open) return
    await this.written(true)
    const writer = this.writer
    this.writer = undefined
    await writer?.terminate()
    this.db.close()
  }
}
