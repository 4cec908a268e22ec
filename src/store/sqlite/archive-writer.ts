/**
 * The archive's writer thread (sqlite/archive.ts). Writing archived messages
 * costs as much CPU as routing them: each row goes to two index pages of its
 * account. On the server's thread that halved message throughput; here it
 * runs on another core, on a connection of its own to the store file. It
 * holds the rows it is sent and commits them together, at most
 * `commitIntervalMs` after the first (or at `commitRows` rows, or when a
 * request asks to commit), because a commit costs about a page write per
 * account it touches, however few of its rows it holds.
 */
import {parentPort, workerData} from 'node:worker_threads'

import {isForeignKeyError, openSharedConnection} from './connection.js'

/**
 * One archived message: its id and stanza, then four fields (owner's host and
 * username, the other party's bare JID and resource) per archive that holds it.
 * Flat, so that a batch crosses to this thread as one array of strings.
 */
export type ArchiveRow = Array<string | number>

export interface WriterRequest {
  batch: number
  rows: ArchiveRow[]
  /** Commit what is held now: a reader waits for it. */
  commit: boolean
  commitIntervalMs: number
  commitRows: number
}

export interface WriterResponse {
  /** The requests whose rows this commit wrote (or lost). */
  batches: number[]
  /** Set when the batch could not be written: what went wrong, and how many rows were lost with it. */
  error?: string
  lost?: number
}

const {dataDir} = workerData as {dataDir: string}
const {db} = openSharedConnection(dataDir, 'archive')
// Each batch rewrites the index pages of the accounts it touches; a checkpoint copies each page
// to the database once however often the WAL holds it, so checkpointing every 64 MiB rather than
// every 4 MiB (SQLite's default) writes far less (measured: 2 to 2.5 times the rows per second).
db.pragma('wal_autocheckpoint = 16384')
const statements = {
  owner: db.prepare<[string, string], {owner: number}>('SELECT owner FROM archive_owners WHERE host = ? AND username = ?'),
  addOwner: db.prepare<[string, string], {owner: number}>('INSERT INTO archive_owners (host, username) VALUES (?, ?) RETURNING owner'),
  stanza: db.prepare('INSERT INTO archive_stanzas (id, stanza, refs) VALUES (?, ?, ?)'),
  entry: db.prepare('INSERT INTO archive_entries (owner, id, with_jid, with_resource) VALUES (?, ?, ?, ?)'),
}

/** Owners' numbers by host, then username; dropped when a write fails, as an owner may have gone with its account. */
const owners = new Map<string, Map<string, number>>()

function ownerOf(host: string, username: string): number {
  let byUsername = owners.get(host)
  if (!byUsername) owners.set(host, (byUsername = new Map()))
  let owner = byUsername.get(username)
  if (owner === undefined) {
    // An account that does not exist (deleted since) fails here on the foreign key.
    owner = (statements.owner.get(host, username) ?? statements.addOwner.get(host, username)!).owner
    byUsername.set(username, owner)
  }

  return owner
}

/**
 * Writes one message and its entries. `skipMissing`: an entry whose account
 * no longer exists is left out (and the message with it if it was the only
 * one), rather than failing the transaction.
 */
function insert(row: ArchiveRow, skipMissing: boolean): void {
  const id = row[0] as number
  const entries: Array<[owner: number, withJid: string | number, withResource: string | number]> = []
  for (let field = 2; field < row.length; field += 4) {
    try {
      entries.push([ownerOf(row[field] as string, row[field + 1] as string), row[field + 2], row[field + 3]])
    } catch (error) {
      if (!skipMissing || !isForeignKeyError(error)) throw error
    }
  }

  if (entries.length === 0) return
  statements.stanza.run(id, row[1], entries.length)
  for (const [owner, withJid, withResource] of entries) statements.entry.run(owner, id, withJid, withResource)
}

const write = db.transaction((rows: readonly ArchiveRow[], skipMissing: boolean) => {
  for (const row of rows) insert(row, skipMissing)
})

let held: ArchiveRow[] = []
let heldBatches: number[] = []
let commitTimer: NodeJS.Timeout | undefined

function commit(): void {
  clearTimeout(commitTimer)
  commitTimer = undefined
  const rows = held
  const response: WriterResponse = {batches: heldBatches}
  held = []
  heldBatches = []
  try {
    try {
      write.immediate(rows, false)
    } catch (error) {
      // An account deleted since its messages were queued fails the batch on its foreign key (its owner
      // number may be cached from before): written again without it, the rest of the batch is kept.
      if (!isForeignKeyError(error)) throw error
      owners.clear()
      write.immediate(rows, true)
    }
  } catch (error) {
    response.error = error instanceof Error ? error.message : String(error)
    response.lost = rows.length
  }

  parentPort!.postMessage(response)
}

parentPort!.on('message', ({batch, rows, commit: now, commitIntervalMs, commitRows}: WriterRequest) => {
  // Appended one by one: a spread of tens of thousands of rows would overflow the call stack.
  for (const row of rows) held.push(row)
  heldBatches.push(batch)
  if (now || held.length >= commitRows) commit()
  else commitTimer ??= setTimeout(commit, commitIntervalMs)
})
