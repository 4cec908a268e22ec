/**
 * The archive's writer thread (sqlite/archive.ts). Writing archived messages
 * costs as much CPU as routing them: each row goes to two index pages of its
 * account. On the server's thread that halved message throughput; here it
 * runs on another core, on a connection of its own to the store file.
 *
 * Rows are staged as they arrive, one row per message in a table of this
 * connection's in-memory temp database, and moved to the archive together,
 * at most `commitIntervalMs` after the first (or at `commitRows` rows, or
 * when a request asks to commit), because a commit costs about a page write
 * per account it touches, however few of its rows it holds. Staging keeps
 * the rows off this thread's heap while they wait: held there as arrays,
 * they outlived young-generation collections, and their collection cost
 * this thread about a fifth of its time. It also makes the move three
 * statements that SQLite runs on its own, rather than three calls from here
 * per message. A temp database is this connection's alone: writing it takes
 * no lock on the store file, so staging never holds up another writer.
 */
import {parentPort, workerData} from 'node:worker_threads'

import {isBusyError, isForeignKeyError, openSharedConnection} from './connection.js'

/**
 * One archived message: its id and stanza, then four fields (owner's host and
 * username, the other party's bare JID and resource) for each of the one or
 * two archives that hold it (the sender's, the recipient's).
 * Flat, so that a batch crosses to this thread as one array of strings.
 */
export type ArchiveRow = Array<string | number>

export interface WriterRequest {
  batch: number
  rows: ArchiveRow[]
  /** Commit what is held now: a reader waits for it. */
  commit: boolean
  /** The store is closing: what cannot be written now is lost rather than kept for a retry. */
  final?: boolean
  commitIntervalMs: number
  commitRows: number
}

export interface WriterResponse {
  /** The requests whose rows this commit wrote (or lost, or kept for a retry). */
  batches: number[]
  /** Set when the batch could not be written: what went wrong, and how many rows were lost with it. */
  error?: string
  lost?: number
  /** Set instead of `lost` when the store was busy: how many rows this thread holds, to write at its next try. */
  deferred?: number
}

/** How soon a commit that found the store busy is tried again. */
const RETRY_MS = 1000
/** The most rows held while the store stays busy; past it they are lost, rather than the process's memory. */
const MAX_HELD_ROWS = 1_000_000

const {dataDir} = workerData as {dataDir: string}
const {db} = openSharedConnection(dataDir, 'archive')
// Each batch rewrites the index pages of the accounts it touches; a checkpoint copies each page
// to the database once however often the WAL holds it, so checkpointing every 64 MiB rather than
// every 4 MiB (SQLite's default) writes far less (measured: 2 to 2.5 times the rows per second).
db.pragma('wal_autocheckpoint = 16384')
db.pragma('temp_store = MEMORY')
// An owner column is NULL where the message has no such archive (or its account is gone).
db.exec(`CREATE TEMP TABLE archive_staging (
  id INTEGER NOT NULL, stanza TEXT NOT NULL,
  owner1 INTEGER, with1 TEXT, resource1 TEXT,
  owner2 INTEGER, with2 TEXT, resource2 TEXT
)`)
const statements = {
  owner: db.prepare<[string, string], {owner: number}>('SELECT owner FROM archive_owners WHERE host = ? AND username = ?'),
  addOwner: db.prepare<[string, string], {owner: number}>('INSERT INTO archive_owners (host, username) VALUES (?, ?) RETURNING owner'),
  stage: db.prepare('INSERT INTO temp.archive_staging VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
  stanzas: db.prepare(`INSERT INTO archive_stanzas (id, stanza, refs)
    SELECT id, stanza, (owner1 IS NOT NULL) + (owner2 IS NOT NULL) FROM temp.archive_staging WHERE owner1 IS NOT NULL OR owner2 IS NOT NULL`),
  // In key order (owner, then id), so that each account's entries go in one after another, on the pages the
  // one before touched, rather than in the order the messages came, which jumps between accounts at every
  // row. Measured with bench/archive-stall.js at 30,000 messages/s: this statement took 27% less time, and the
  // whole process 10-16% less CPU per message, the sort included.
  entries: db.prepare(`INSERT INTO archive_entries (owner, id, with_jid, with_resource)
    SELECT owner1, id, with1, resource1 FROM temp.archive_staging WHERE owner1 IS NOT NULL
    UNION ALL SELECT owner2, id, with2, resource2 FROM temp.archive_staging WHERE owner2 IS NOT NULL
    ORDER BY 1, 2`),
  staleOwners: db.prepare<[], number>(`SELECT owner FROM (SELECT owner1 AS owner FROM temp.archive_staging UNION SELECT owner2 FROM temp.archive_staging)
    WHERE owner IS NOT NULL AND owner NOT IN (SELECT owner FROM archive_owners)`).pluck(),
  renumber1: db.prepare('UPDATE temp.archive_staging SET owner1 = ? WHERE owner1 = ?'),
  renumber2: db.prepare('UPDATE temp.archive_staging SET owner2 = ? WHERE owner2 = ?'),
  clear: db.prepare('DELETE FROM temp.archive_staging'),
}

/** Owners' numbers by host, then username; dropped when a commit meets one that is gone with its account. */
const owners = new Map<string, Map<string, number>>()
/** Each cached number's account, to find the archive of an account deleted and created again since. */
const ownerAccounts = new Map<number, [host: string, username: string]>()

/** The account's archive number, made on its first message; null when the account does not exist. */
function ownerOf(host: string, username: string): number | null {
  let byUsername = owners.get(host)
  if (!byUsername) owners.set(host, (byUsername = new Map()))
  let owner = byUsername.get(username)
  if (owner === undefined) {
    try {
      owner = (statements.owner.get(host, username) ?? statements.addOwner.get(host, username)!).owner
    } catch (error) {
      // An account that does not exist (deleted since) fails on the foreign key: its messages are not archived.
      if (isForeignKeyError(error)) return null
      throw error
    }

    byUsername.set(username, owner)
    ownerAccounts.set(owner, [host, username])
  }

  return owner
}

/** Each row's owners, looked up before the staging transaction: a new owner is a write to the store file, in a transaction of its own. */
function ownersOf(rows: readonly ArchiveRow[]): Array<number | null> {
  const numbers: Array<number | null> = []
  for (const row of rows) {
    numbers.push(ownerOf(row[2] as string, row[3] as string))
    numbers.push(row.length > 6 ? ownerOf(row[6] as string, row[7] as string) : null)
  }

  return numbers
}

const stage = db.transaction((rows: readonly ArchiveRow[], numbers: ReadonlyArray<number | null>) => {
  for (let index = 0; index < rows.length; index++) {
    const row = rows[index]
    const [owner1, owner2] = [numbers[2 * index], numbers[2 * index + 1]]
    if (owner1 === null && owner2 === null) continue
    statements.stage.run(row[0], row[1], owner1, row[4], row[5], owner2, row[8] ?? null, row[9] ?? null)
  }
})

/**
 * An owner cached before its account was deleted no longer exists: the rows
 * that name it go to the archive of the account by that name now, if it was
 * created again, or are left out.
 */
function renumberStaleOwners(): void {
  owners.clear()
  for (const stale of statements.staleOwners.all()) {
    const account = ownerAccounts.get(stale)
    ownerAccounts.delete(stale)
    const current = account ? ownerOf(...account) : null
    statements.renumber1.run(current, stale)
    statements.renumber2.run(current, stale)
  }
}

const move = db.transaction((renumber: boolean) => {
  if (renumber) renumberStaleOwners()
  statements.stanzas.run()
  statements.entries.run()
  statements.clear.run()
})

/** Rows held here, staged or waiting to be, not yet written. */
let staged = 0
let stagedBatches: number[] = []
/**
 * Batches that could not be staged because the store was busy (a new
 * account's archive number is a write to the store file): staged, in order,
 * at the next commit.
 */
let unstaged: ArchiveRow[][] = []
let commitTimer: NodeJS.Timeout | undefined

/**
 * Writes what is held. A store that another connection held locked past the
 * busy timeout (a purge or import of a large archive in another process)
 * does not lose the rows: they stay staged and the commit is tried again
 * RETRY_MS later, while new rows keep coming, unless the store is closing
 * (`final`) or MAX_HELD_ROWS are held.
 */
function commit(final = false): void {
  clearTimeout(commitTimer)
  commitTimer = undefined
  const response: WriterResponse = {batches: stagedBatches}
  stagedBatches = []
  // Nothing to write (a query's or close()'s commit after the last one): no transaction, which could wait for the lock.
  if (staged === 0) {
    parentPort!.postMessage(response)
    return
  }

  try {
    while (unstaged.length > 0) {
      stage(unstaged[0], ownersOf(unstaged[0]))
      unstaged.shift()
    }

    try {
      move.immediate(false)
    } catch (error) {
      // An account deleted since its number was cached fails the move on its foreign key (the transaction rolled back).
      if (!isForeignKeyError(error)) throw error
      move.immediate(true)
    }

    staged = 0
  } catch (error) {
    response.error = error instanceof Error ? error.message : String(error)
    if (isBusyError(error) && !final && staged <= MAX_HELD_ROWS) {
      response.deferred = staged
      commitTimer = setTimeout(commit, RETRY_MS)
    } else {
      statements.clear.run()
      unstaged = []
      response.lost = staged
      staged = 0
    }
  }

  parentPort!.postMessage(response)
}

parentPort!.on('message', ({batch, rows, commit: now, final, commitIntervalMs, commitRows}: WriterRequest) => {
  try {
    if (unstaged.length > 0) unstaged.push(rows)
    else stage(rows, ownersOf(rows))
  } catch (error) {
    if (isBusyError(error)) unstaged.push(rows)
    else {
      // Answered after the commit asked for: whoever waits for this batch (close(), which then ends this
      // thread) must not go on while that commit still waits for the lock (terminated inside SQLite's
      // busy wait, better-sqlite3 takes the whole process down).
      if (now) commit(final)
      parentPort!.postMessage({batches: [batch], error: error instanceof Error ? error.message : String(error), lost: rows.length} satisfies WriterResponse)
      return
    }
  }

  staged += rows.length
  stagedBatches.push(batch)
  if (now || staged >= commitRows) commit(final)
  else commitTimer ??= setTimeout(commit, commitIntervalMs)
})
