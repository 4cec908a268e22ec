import type {Configuration} from '../config/index.js'
import type {AccountStore} from './account-store.js'

export type {AccountSecrets, AccountState, AccountStore, AccountSummary, StoredAccount} from './account-store.js'

export interface OpenOptions {
  /** Create the store where no file exists (default); false: a missing store is an error (store-missing). */
  create?: boolean
  /** Check every page, the schema and write access first (server start; slower on a large store). */
  verify?: boolean
}

/**
 * Opens the store the configuration names; today the embedded SQLite one
 * under `data_dir`. With `create: false` a missing store is an error
 * (store-missing) instead of a new, empty one.
 */
export async function openAccountStore(config: Configuration, options: OpenOptions = {}): Promise<AccountStore> {
  const {SqliteAccountStore} = await import('./sqlite/index.js')
  return SqliteAccountStore.open(config.dataDir, options)
}
