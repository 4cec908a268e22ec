import {existsSync} from 'node:fs'
import path from 'node:path'

import type {Configuration} from '../config/index.js'
import {StoreError} from '../errors.js'
import type {AccountStore} from './account-store.js'
import type {AccountDataStore} from './account-data-store.js'
import type {ArchiveStore} from './archive-store.js'
import type {PepStore} from './pep-store.js'
import type {RoomStore} from './room-store.js'

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
  /** Why pending migrations are not run, for the error that refuses the store: the caller's reason when it sets `migrate` itself (default: update_sql_schema is false). */
  notMigrating?: string
}

/** The store's engine, by `sql_type`: the embedded SQLite file, or a PostgreSQL server. */
export type StoreEngine = 'sqlite' | 'postgresql'

export function storeEngine(config: Configuration): StoreEngine {
  return config.settings.sql_type === 'pgsql' ? 'postgresql' : 'sqlite'
}

async function postgres() {
  const {postgresOptions} = await import('./postgres/database.js')
  return postgresOptions
}

/**
 * Opens the store the configuration names: the embedded SQLite one under
 * `data_dir`, or PostgreSQL with `sql_type: pgsql`. With `create: false` a
 * missing store is an error (store-missing) instead of a new, empty one.
 */
export async function openAccountStore(config: Configuration, options: OpenOptions = {}): Promise<AccountStore> {
  const migrate = options.migrate ?? config.settings.update_sql_schema
  if (storeEngine(config) === 'postgresql') {
    const postgresOptions = (await postgres())(config)
    if (options.orAbsent) {
      const status = await schemaStatus(config)
      if (status.state === 'absent') {
        const {AbsentAccountStore} = await import('./absent.js')
        return new AbsentAccountStore(status.location)
      }
    }

    const {PostgresAccountStore} = await import('./postgres/index.js')
    return PostgresAccountStore.open(postgresOptions, {...options, migrate})
  }

  const {STORE_FILE, SqliteAccountStore} = await import('./sqlite/index.js')
  const file = path.join(config.dataDir, STORE_FILE)
  if (options.orAbsent && !existsSync(file)) {
    const {AbsentAccountStore} = await import('./absent.js')
    return new AbsentAccountStore(file)
  }

  return SqliteAccountStore.open(config.dataDir, {...options, migrate})
}

/**
 * Opens the store of the server's per-account data (rosters, offline
 * messages, …) the configuration names. Open the account store first: its
 * opening creates the store and brings the schema up to date.
 */
export async function openAccountDataStore(config: Configuration): Promise<AccountDataStore> {
  if (storeEngine(config) === 'postgresql') {
    const {PostgresAccountDataStore} = await import('./postgres/account-data.js')
    return PostgresAccountDataStore.open((await postgres())(config))
  }

  const {SqliteAccountDataStore} = await import('./sqlite/account-data.js')
  return SqliteAccountDataStore.open(config.dataDir)
}

/** The PEP nodes and items (XEP-0163) of the configuration's store; open the account store first. */
export async function openPepStore(config: Configuration): Promise<PepStore> {
  if (storeEngine(config) === 'postgresql') {
    const {PostgresPepStore} = await import('./postgres/pep.js')
    return PostgresPepStore.open((await postgres())(config))
  }

  const {SqlitePepStore} = await import('./sqlite/pep.js')
  return SqlitePepStore.open(config.dataDir)
}

/** The persistent rooms (XEP-0045) of the configuration's store; open the account store first. */
export async function openRoomStore(config: Configuration): Promise<RoomStore> {
  if (storeEngine(config) === 'postgresql') {
    const {PostgresRoomStore} = await import('./postgres/rooms.js')
    return PostgresRoomStore.open((await postgres())(config))
  }

  const {SqliteRoomStore} = await import('./sqlite/rooms.js')
  return SqliteRoomStore.open(config.dataDir)
}

export interface ArchiveOpenOptions {
  /** Archived messages could not be written (they are lost; the messages themselves were delivered). */
  onWriteError?: (error: unknown, lost: number) => void
  /** The store was busy: `held` archived messages wait to be written at the next try (SQLite only). */
  onWriteDeferred?: (error: unknown, held: number) => void
}

/** The message archive of the configuration's store, which must exist; open the account store first, so that its schema is current. */
export async function openArchiveStore(config: Configuration, options: ArchiveOpenOptions = {}): Promise<ArchiveStore> {
  if (storeEngine(config) === 'postgresql') {
    const {PostgresArchiveStore} = await import('./postgres/archive.js')
    return PostgresArchiveStore.open((await postgres())(config), options)
  }

  const {SqliteArchiveStore} = await import('./sqlite/archive.js')
  return SqliteArchiveStore.open(config.dataDir, options)
}

/** The store's schema as `xmppctl db status` reports it: our own numbered, forward-only migrations. */
export interface SchemaStatus {
  engine: StoreEngine
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
  const engine = storeEngine(config)
  let status: {location: string; version: number | null; expected: number; pending: SchemaStatus['pending']}
  if (engine === 'postgresql') {
    const {postgresSchemaStatus} = await import('./postgres/index.js')
    status = await postgresSchemaStatus((await postgres())(config))
  } else {
    const {sqliteSchemaStatus} = await import('./sqlite/index.js')
    const sqlite = sqliteSchemaStatus(config.dataDir)
    status = {...sqlite, location: sqlite.file}
  }

  const state = status.version === null ? 'absent' : status.version > status.expected ? 'newer' : status.version < status.expected ? 'outdated' : 'current'
  return {engine, location: status.location, state, version: status.version, expected: status.expected, pending: status.pending, migratesOnOpen: config.settings.update_sql_schema}
}

/**
 * Runs the pending migrations, all in one transaction (`xmppctl db
 * migrate`). A store from a newer xmppctl is refused (store-too-new). A
 * missing SQLite store is an error: this creates no file where data_dir
 * may be wrong. An empty PostgreSQL database, which the operator created
 * for xmppctl, gets its tables.
 */
export async function migrateSchema(config: Configuration): Promise<{before: SchemaStatus; after: SchemaStatus}> {
  const before = await schemaStatus(config)
  if (before.state === 'absent' && before.engine === 'sqlite') {
    throw new StoreError('store-missing', `there is no account store at ${before.location}`, 'check data_dir and --config; "xmppctl user add" creates the store')
  }

  const store = await openAccountStore(config, {create: before.engine === 'postgresql', migrate: true})
  await store.close()
  return {before, after: await schemaStatus(config)}
}
