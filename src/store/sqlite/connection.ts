import Database from 'better-sqlite3'
import path from 'node:path'

import {StoreError, osErrorText} from '../../errors.js'
import {STORE_FILE} from './index.js'

/**
 * A connection of its own to the account store's existing file, for a store
 * that keeps its tables there (`what` names it in errors); open the account
 * store first, so that the schema is current.
 */
export function openConnection(dataDir: string, what: string): {db: Database.Database; file: string} {
  const file = path.join(dataDir, STORE_FILE)
  try {
    const db = new Database(file, {timeout: 5000, fileMustExist: true})
    db.pragma('foreign_keys = ON')
    db.pragma('synchronous = NORMAL')
    return {db, file}
  } catch (error) {
    throw new StoreError('store-unwritable', `cannot open the ${what} ${file}: ${osErrorText(error)}`, 'check the permissions of the data directory', error)
  }
}
