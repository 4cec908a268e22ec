/**
 * The account store where none exists yet, for diagnostics (`test-auth`):
 * it holds no account, and opening it creates nothing, so that running a
 * diagnosis leaves no data directory, store or secret behind. Writing to it
 * is an error, as it would be to a missing store.
 */
import {StoreError} from '../errors.js'
import type {AccountStore, AccountSummary, ImportOutcome, PlaintextAccount} from './account-store.js'

export class AbsentAccountStore implements AccountStore {
  readonly location: string

  constructor(location: string) {
    this.location = location
  }

  async getAccount(): Promise<undefined> {
    return undefined
  }

  async getLoginSecrets(): Promise<undefined> {
    return undefined
  }

  async accountExists(): Promise<boolean> {
    return false
  }

  async *listAccounts(): AsyncIterable<AccountSummary> {}

  async countAccounts(): Promise<number> {
    return 0
  }

  async countAccountsLackingHash(): Promise<number> {
    return 0
  }

  async listPlaintextAccounts(): Promise<PlaintextAccount[]> {
    return []
  }

  async countPlaintextAccounts(): Promise<Map<string, number>> {
    return new Map()
  }

  async existingUsernames(): Promise<Set<string>> {
    return new Set()
  }

  async createAccount(): Promise<void> {
    throw this.missing()
  }

  async replaceSecrets(): Promise<boolean> {
    throw this.missing()
  }

  async deleteAccount(): Promise<boolean> {
    throw this.missing()
  }

  async setState(): Promise<boolean> {
    throw this.missing()
  }

  async convertToScram(): Promise<number> {
    throw this.missing()
  }

  async importAccounts(): Promise<ImportOutcome[]> {
    throw this.missing()
  }

  async exportAccountData(): Promise<undefined> {
    return undefined
  }

  async close(): Promise<void> {}

  private missing(): StoreError {
    return new StoreError('store-missing', `there is no account store at ${this.location}`, '"xmppctl user add" creates the store')
  }
}

export function isAbsentStore(store: AccountStore): store is AbsentAccountStore {
  return store instanceof AbsentAccountStore
}
