import {existsSync} from 'node:fs'
import path from 'node:path'

import type {Configuration} from '../config/index.js'
import type {AccountStore} from './account-store.js'
import type {AccountDataStore} from './account-data-store.js'
import type {ArchiveStore} from './archive-store.js'

export type {AccountSecrets, AccountState, AccountStore, AccountSummary, StoredAccount} from './account-store.js'

export interface OpenOptions {
  /** Create the store where no file exists (default); false: a missing store is an error (store-missing). */
  create?: boolean
  /** Check every page, the schema and write access first (server start; slower on a large store). */
  verify?: boolean
  /** A missing store reads as an empty one, and nothing is created (diagnostics). */
  orAbsent?: boolean
}

/**
 * Opens the store the configuration names; today the embedded SQLite one
 * under `data_dir`. With `create: false` a missing store is an error
 * (store-missing) instead of a new, empty one.
 */
export async function openAccountStore(config: Configuration, options: OpenOptions = {}): Promise<AccountStore> {
  const {STORE_FILE, SqliteAccountStore} = await import('./sqlite/index.js')
  const file = path.join(config.dataDir, STORE_FILE)
  if (options.orAbsent && !existsSync(file)) {
    const {AbsentAccountStore} = await import('./absent.js')
    return new AbsentAccountStore(file)
  }

  return SqliteAccountStore.open(config.dataDir, options)
}

/**
 * Opens the store of the server's per-account data (rosters, offline
 * messages, …) the configuration names. Open the account store first: its
 * opening creates the file and brings the schema up to date.
 */
export async function openAccountDataStore(config: Configuration): Promise<AccountDataStore> {
  const {SqliteAccountDataStore} = await import('./sqlite/account-data.js')
  return SqliteAccountDataStore.open(config.dataDir)
}

/** The message archive of the configuration's store, which must exist; open the account store first, so that its schema is current. */
export async function openArchiveStore(config: Configuration): Promise<ArchiveStore> {
  const {SqliteArchiveStore} = await import('./sqlite/archive.js')
  return SqliteArchiveStore.open(config.dataDir)
}
