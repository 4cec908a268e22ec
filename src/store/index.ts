import {existsSync} from 'node:fs'
import path from 'node:path'

import type {Configuration} from '../config/index.js'
import {StoreError} from '../errors.js'
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
  /** Run pending schema migrations; default: the configuration's update_sql_schema. */
  migrate?: boolean
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

  return SqliteAccountStore.open(config.dataDir, {...options, migrate: options.migrate ?? config.settings.update_sql_schema})
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

/** The store's schema as `xmppctl db status` reports it: our own numbered, forward-only migrations. */
export interface SchemaStatus {
  engine: 'sqlite'
  /** Where the store is. */
  location: string
  /** absent: no store yet; current; outdated: migrations pending; newer: written by a newer xmppctl. */
  state: 'absent' | 'current' | 'outdated' | 'newer'
  version: number | null
  expected: number
  pending: Array<{version: number; creates: string[]}>
  /** Whether opening the store migrates it (update_sql_schema). */
  migratesOnOpen: boolean
}

export async function schemaStatus(config: Configuration): Promise<SchemaStatus> {
  const {sqliteSchemaStatus} = await import('./sqlite/index.js')
  const status = sqliteSchemaStatus(config.dataDir)
  const state = status.version === null ? 'absent' : status.version > status.expected ? 'newer' : status.version < status.expected ? 'outdated' : 'current'
  return {engine: 'sqlite', location: status.file, state, version: status.version, expected: status.expected, pending: status.pending, migratesOnOpen: config.settings.update_sql_schema}
}

/**
 * Runs the pending migrations, all in one transaction (`xmppctl db
 * migrate`). A store from a newer xmppctl is refused (store-too-new), a
 * missing one is an error: this creates nothing.
 */
export async function migrateSchema(config: Configuration): Promise<{before: SchemaStatus; after: SchemaStatus}> {
  const before = await schemaStatus(config)
  if (before.state === 'absent') throw new StoreError('store-missing', `there is no account store at ${before.location}`, 'check data_dir and --config; "xmppctl user add" creates the store')
  const store = await openAccountStore(config, {create: false, migrate: true})
  await store.close()
  return {before, after: await schemaStatus(config)}
}
