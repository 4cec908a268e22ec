/**
 * The archive's writer thread (sqlite/archive.ts). Writing archived messages
 * costs as much CPU as routing them: each row goes to two index pages of its
 * account. On the server's thread that halved message throughput; here it
 * runs on another core, on a connection of its own to the store file, one
 * transaction per batch it is sent.
 */
import {parentPort, workerData} from 'node:worker_threads'

import {isForeignKeyError, openSharedConnection} from './connection.js'

/** One archived message: id, owner's host and username, the other party's bare JID and resource, the stanza. */
export type ArchiveRow = [id: number, host: string, username: string, withJid: string, withResource: string, stanza: string]

export interface WriterRequest {
  batch: number
  rows: ArchiveRow[]
}

export interface WriterResponse {
  batch: number
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
const insert = db.prepare('INSERT INTO archive_messages (id, host, username, with_jid, with_resource, stanza) VALUES (?, ?, ?, ?, ?, ?)')
const writeBatch = db.transaction((rows: readonly ArchiveRow[]) => {
  for (const row of rows) insert.run(...row)
})
// The same rows one at a time, each in a savepoint of the batch's transaction, skipping those whose account no longer exists.
const writeEach = db.transaction((rows: readonly ArchiveRow[]) => {
  for (const row of rows) {
    try {
      db.transaction(() => insert.run(...row))()
    } catch (error) {
      if (!isForeignKeyError(error)) throw error
    }
  }
})

/** By account, then id: consecutive rows land on the same index pages while they are hot. */
const byAccount = (a: ArchiveRow, b: ArchiveRow) => (a[1] === b[1] ? (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : a[0] - b[0]) : a[1] < b[1] ? -1 : 1)

parentPort!.on('message', ({batch, rows}: WriterRequest) => {
  const response: WriterResponse = {batch}
  try {
    rows.sort(byAccount)
    try {
      writeBatch.immediate(rows)
    } catch (error) {
      // An account deleted since its messages were queued fails the batch on its foreign key; the rest is written row by row.
      if (!isForeignKeyError(error)) throw error
      writeEach.immediate(rows)
    }
  } catch (error) {
    response.error = error instanceof Error ? error.message : String(error)
    response.lost = rows.length
  }

  parentPort!.postMessage(response)
})
