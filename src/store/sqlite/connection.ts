import Database from './driver.js'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {StoreError, osErrorText} from '../../errors.js'
import {STORE_FILE} from './index.js'

/**
 * A connection of its own to the account store's file, for a store that
 * shares it (rosters, PEP); open the account store first, so that the
 * schema is current. `what` names the store in the error.
 */
export function openSharedConnection(dataDir: string, what: string): {db: Database.Database; file: string} {
  const file = path.join(dataDir, STORE_FILE)
  try {
    const db = new Database(file, {timeout: 5000, fileMustExist: true})
    db.pragma('foreign_keys = ON')
    db.pragma('synchronous = NORMAL')
    return {db, file}
  } catch (error) {
    throw new StoreError('store-unwritable', `cannot open the ${what} store ${file}: ${osErrorText(error)}`, 'check the permissions of the data directory', error)
  }
}

/** Another connection held the file's write lock past the busy timeout (a long purge or import in another process, say). */
export function isBusyError(error: unknown): boolean {
  const code = error instanceof Error && 'code' in error ? String((error as {code: unknown}).code) : ''
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')
}

/** A write that names an account (or a node) that does not exist. */
export function isForeignKeyError(error: unknown): boolean {
  return error instanceof Error && 'code' in error && (error as {code: unknown}).code === 'SQLITE_CONSTRAINT_FOREIGNKEY'
}

/** SQLite's condition that an archive id is one of a list (archive-page.ts): the ids as one JSON array parameter. */
export function jsonIdIn(ids: number[]): [condition: string, value: unknown] {
  return ['IN (SELECT value FROM json_each(?))', JSON.stringify(ids)]
}

/**
 * How long a batched delete pauses between its transactions. SQLite's busy
 * handler retries a waiting write after 1, 2, 5, 10, 15, 20 and 25 ms
 * sleeps: a pause longer than those lets a write from another connection
 * (the running server's, while a purge runs from the command line) in
 * between two batches, where batches back to back would keep it waiting,
 * and failing after its busy timeout.
 */
export const BATCH_PAUSE_MS = 30

/**
 * Deletes in batches, each `batch()` in a transaction of its own, which
 * says how many rows it removed and whether there are more, until there
 * are none or `maxBatches` ran; `onProgress` hears the running total. A
 * purge stopped part way has removed only rows it was asked to.
 */
export async function deleteInBatches(db: Database.Database, batch: () => {removed: number; more: boolean}, maxBatches: number, onProgress?: (removed: number) => void): Promise<number> {
  const run = db.transaction(batch)
  let removed = 0
  for (let left = maxBatches; left > 0; left--) {
    const done = run.immediate()
    removed += done.removed
    onProgress?.(removed)
    if (!done.more || left === 1) break
    await sleep(BATCH_PAUSE_MS)
  }

  return removed
}
