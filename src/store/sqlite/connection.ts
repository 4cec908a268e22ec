import Database from './driver.js'
import path from 'node:path'

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
