import type {Configuration} from '../config/index.js'
import type {AccountStore} from './account-store.js'

export type {AccountSecrets, AccountState, AccountStore, AccountSummary, StoredAccount} from './account-store.js'

/** Opens the store the configuration names; today the embedded SQLite one under `data_dir`. */
export async function openAccountStore(config: Configuration): Promise<AccountStore> {
  const {SqliteAccountStore} = await import('./sqlite/index.js')
  return SqliteAccountStore.open(config.dataDir)
}
