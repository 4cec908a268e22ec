import type {ScramCredentials, ScramHash} from '../sasl/scram.js'

export type AccountState = 'enabled' | 'disabled'

/** What a store knows of an account, secrets included; never rendered as is. */
export interface StoredAccount {
  host: string
  username: string
  state: AccountState
  disabledReason: string | undefined
  createdAt: Date
  /** Present only when the host's `auth_password_format` is `plain`, or before `scram convert`. */
  plaintext: string | undefined
  credentials: ScramCredentials[]
}

/** What `user list` shows: no secrets, only which hashes are stored. */
export interface AccountSummary {
  host: string
  username: string
  state: AccountState
  disabledReason: string | undefined
  createdAt: Date
  hashes: ScramHash[]
  iterations: number | undefined
  hasPlaintext: boolean
}

/** The secrets of an account, replaced as a whole in one transaction. */
export interface AccountSecrets {
  credentials: ScramCredentials[]
  plaintext: string | undefined
}

/**
 * The persistence behind accounts. Asynchronous so that a networked store
 * (PostgreSQL) can implement it; every method that writes is one transaction.
 */
export interface AccountStore {
  /** Where the store lives, for messages (a path, or a URL without its password). */
  readonly location: string
  getAccount(host: string, username: string): Promise<StoredAccount | undefined>
  accountExists(host: string, username: string): Promise<boolean>
  /** Creates the account with its secrets; throws AccountExistsError when it exists. */
  createAccount(host: string, username: string, secrets: AccountSecrets): Promise<void>
  /** Replaces all secrets of an existing account; false when it does not exist. */
  replaceSecrets(host: string, username: string, secrets: AccountSecrets): Promise<boolean>
  /** False when the account did not exist. */
  deleteAccount(host: string, username: string): Promise<boolean>
  /** False when the account did not exist. */
  setState(host: string, username: string, state: AccountState, reason?: string): Promise<boolean>
  /** Accounts in (host, username) order, read in pages so that memory stays flat. */
  listAccounts(host?: string): AsyncIterable<AccountSummary>
  countAccounts(host?: string): Promise<number>
  /**
   * Accounts of `host` for which SCRAM with `hash` cannot be served: no stored
   * credentials for that hash and no plaintext to derive them from. The
   * mechanism offer (src/auth) offers SCRAM-`hash` only when this is 0.
   */
  countAccountsLackingHash(host: string, hash: ScramHash): Promise<number>
  close(): Promise<void>
}
