/**
 * Connections to PostgreSQL (`sql_type: pgsql`) for every store of a
 * process: one pool, shared by the account, per-account data, PEP, room and
 * archive stores, released when the last of them closes. The `pg` client is
 * already a dependency (ejabberd SQL imports); its pool queues queries
 * beyond `sql_pool_size` connections.
 */
import path from 'node:path'
import {readFileSync} from 'node:fs'
import type {Client, Pool, PoolClient, QueryResultRow} from 'pg'

import type {Configuration} from '../../config/index.js'
import {readSecretFile} from '../../config/secret-file.js'
import {ExitCode, StoreError} from '../../errors.js'

export interface PostgresOptions {
  host: string
  port: number
  database: string
  user: string
  /** Read from sql_password_file when the pool opens, never kept in the options' text. */
  password: {value: string} | {file: string} | undefined
  poolSize: number
  ssl: false | {verify: boolean; caFile?: string}
  connectTimeoutMs: number
  queryTimeoutMs: number
}

export function postgresOptions(config: Configuration): PostgresOptions {
  const settings = config.settings
  const base = config.file ? path.dirname(config.file) : process.cwd()
  return {
    host: settings.sql_server,
    port: settings.sql_port,
    database: settings.sql_database,
    user: settings.sql_username,
    password: settings.sql_password_file ? {file: path.resolve(base, settings.sql_password_file)} : settings.sql_password === undefined ? undefined : {value: settings.sql_password},
    poolSize: settings.sql_pool_size,
    ssl: settings.sql_ssl ? {verify: settings.sql_ssl_verify, ...(settings.sql_ssl_cafile ? {caFile: path.resolve(base, settings.sql_ssl_cafile)} : {})} : false,
    connectTimeoutMs: settings.sql_connect_timeout * 1000,
    queryTimeoutMs: settings.sql_query_timeout * 1000,
  }
}

/** Where the store is, for messages: a URL without the password. */
export function postgresLocation(options: Pick<PostgresOptions, 'host' | 'port' | 'database' | 'user'>): string {
  const host = options.host.startsWith('/') ? `[${options.host}]` : options.host.includes(':') ? `[${options.host}]` : options.host
  return `postgresql://${encodeURIComponent(options.user)}@${host}:${options.port}/${encodeURIComponent(options.database)}`
}

/** sql_ssl_cafile's certificates; a file that cannot be read fails as TLS to the store does (store-tls), not as an unexplained ENOENT. */
function readCaFile(file: string, location: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    throw new StoreError('store-tls', `TLS to the PostgreSQL store ${location} cannot be set up: sql_ssl_cafile ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, 'set sql_ssl_cafile to the PEM file of the CA that signed the PostgreSQL server\'s certificate', error)
  }
}

/** What a query runs on: the pool, or one transaction's connection. */
export interface Queryable {
  query<Row extends QueryResultRow = QueryResultRow>(sql: string, parameters?: readonly unknown[]): Promise<{rows: Row[]; rowCount: number | null}>
}

/**
 * What names one store whatever the way to it is spelled (localhost or
 * 127.0.0.1, a Unix socket or TCP, the port written or left out): the
 * server's own answer. The system identifier is the cluster's (initdb's,
 * shared by its physical standbys, which hold the same data); a role that
 * may not call pg_control_system() (an administrator may revoke it) gets
 * the postmaster's start time and port instead, which tell servers apart
 * as long as both run. The schema too: two roles may keep a store each in
 * one database, through their search_path.
 */
export interface PostgresIdentity {
  system: string | undefined
  started: string
  port: string
  database: string
  schema: string
}

export async function postgresIdentity(db: Queryable): Promise<PostgresIdentity> {
  const common = "pg_postmaster_start_time()::text AS started, current_setting('port') AS port, current_database()::text AS database, current_schema()::text AS schema"
  try {
    return (await db.query<PostgresIdentity>(`SELECT (SELECT system_identifier::text FROM pg_control_system()) AS system, ${common}`)).rows[0]
  } catch (error) {
    // insufficient_privilege (42501), as PostgresDatabase.query reports it or as the driver does.
    if (!hasSqlState(error instanceof StoreError ? error.cause : error, '42501')) throw error
    return {...(await db.query<Omit<PostgresIdentity, 'system'>>(`SELECT ${common}`)).rows[0], system: undefined}
  }
}

/** Whether two identities are one store: the same database and schema of the same cluster. */
export function sameIdentity(a: PostgresIdentity, b: PostgresIdentity): boolean {
  if (a.database !== b.database || a.schema !== b.schema) return false
  return a.system !== undefined && b.system !== undefined ? a.system === b.system : a.started === b.started && a.port === b.port
}

/** SQLSTATE codes (PostgreSQL's appendix A) the stores act on. */
export const SQLSTATE = {
  foreignKeyViolation: '23503',
  uniqueViolation: '23505',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
} as const

export function hasSqlState(error: unknown, ...codes: string[]): boolean {
  return error instanceof Error && 'code' in error && codes.includes(String((error as {code: unknown}).code))
}

/** Transactions retried at most this often when PostgreSQL aborts them for a deadlock or a serialization conflict. */
const TRANSACTION_ATTEMPTS = 5

/** bigint (int8) columns and count(*) as numbers: every one the stores read fits (ids are microseconds, under 2^53). */
const INT8_OID = 20

export class PostgresDatabase implements Queryable {
  private static readonly shared = new Map<string, {database: PostgresDatabase; users: number}>()

  readonly location: string
  private readonly pool: Pool
  /** The last write queued per key (an account), for serially(). */
  private readonly queues = new Map<string, Promise<void>>()
  private slot: Promise<number | undefined> | undefined
  private slotClient: Client | undefined

  private constructor(pool: Pool, location: string) {
    this.pool = pool
    this.location = location
  }

  /** The process's pool for `options`, opened by the first store that asks; release() when done. */
  static async acquire(options: PostgresOptions): Promise<PostgresDatabase> {
    const key = JSON.stringify({...options, password: undefined})
    const entry = PostgresDatabase.shared.get(key)
    if (entry) {
      entry.users++
      return entry.database
    }

    const {default: pg} = await import('pg')
    const location = postgresLocation(options)
    const password = options.password === undefined ? undefined : 'value' in options.password ? options.password.value : readSecretFile(options.password.file, 'sql_password_file', 'the PostgreSQL password')
    const pool = new pg.Pool({
      host: options.host,
      port: options.port,
      database: options.database,
      user: options.user,
      ...(password === undefined ? {} : {password}),
      max: options.poolSize,
      connectionTimeoutMillis: options.connectTimeoutMs,
      statement_timeout: options.queryTimeoutMs,
      idleTimeoutMillis: 30_000,
      // Idle connections must not keep a command's process alive once it is done.
      allowExitOnIdle: true,
      ssl: options.ssl && {rejectUnauthorized: options.ssl.verify, ...(options.ssl.caFile ? {ca: readCaFile(options.ssl.caFile, location)} : {})},
      types: {getTypeParser: ((oid: number, format?: string) => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser},
    })
    // An idle connection the server ends (a restart, a terminated backend) must not crash the process; the next query reconnects.
    pool.on('error', () => {})
    const database = new PostgresDatabase(pool, location)
    PostgresDatabase.shared.set(key, {database, users: 1})
    try {
      await database.query('SELECT 1')
    } catch (error) {
      await database.release()
      throw error
    }

    return database
  }

  async query<Row extends QueryResultRow = QueryResultRow>(sql: string, parameters: readonly unknown[] = []): Promise<{rows: Row[]; rowCount: number | null}> {
    try {
      return await this.pool.query<Row>(sql, parameters as unknown[])
    } catch (error) {
      throw postgresErrorFrom(error, this.location)
    }
  }

  /**
   * Runs `work` in one transaction on one connection, committed when it
   * returns and rolled back when it throws. A transaction PostgreSQL aborts
   * for a deadlock or a serialization conflict runs again: `work` must
   * have no effect outside the database.
   */
  async transaction<T>(work: (tx: Queryable) => Promise<T>, {isolation = 'read committed'}: {isolation?: 'read committed' | 'repeatable read' | 'serializable'} = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: PoolClient
      try {
        client = await this.pool.connect()
      } catch (error) {
        throw postgresErrorFrom(error, this.location)
      }

      let broken: unknown
      // A checked-out client has no listener of the pool's: a connection PostgreSQL ends mid-transaction
      // (a restart, pg_terminate_backend) would raise an unhandled 'error' and end the process. Its
      // query fails as well, which is what the caller sees; the client is then discarded.
      const onError = (error: Error) => {
        broken = error
      }
      client.on('error', onError)
      try {
        await client.query(`BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}`)
        const result = await work(client)
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken = rollbackError
        })
        if (attempt < TRANSACTION_ATTEMPTS && hasSqlState(error, SQLSTATE.serializationFailure, SQLSTATE.deadlockDetected)) continue
        throw postgresErrorFrom(error, this.location)
      } finally {
        // A connection whose rollback failed is in an unknown state: it is closed rather than reused.
        client.off('error', onError)
        client.release(broken instanceof Error ? broken : undefined)
      }
    }
  }

  /**
   * Runs `work` once every earlier work queued under `key` has finished.
   * SQLite runs writes in the order they are made; on a pool, two writes of
   * one account could take connections, and commit, in either order: the
   * second message to an offline user stored before the first (RFC 6120
   * §10.1 asks that stanzas keep their order).
   */
  serially<T>(key: string, work: () => Promise<T>): Promise<T> {
    const result = (this.queues.get(key) ?? Promise.resolve()).then(work)
    const tail = result.then(
      () => {},
      () => {},
    )
    this.queues.set(key, tail)
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key)
    })
    return result
  }

  /**
   * The first free one of the session advisory locks numbered `first` to
   * `end` - 1 under `key`, taken on a connection of its own and held until the pool closes
   * (PostgreSQL frees it if this process dies); undefined when every one is
   * held. The same number for every store of this process.
   */
  claimSlot(key: number, first: number, end: number): Promise<number | undefined> {
    this.slot ??= (async () => {
      const {default: pg} = await import('pg')
      const client = new pg.Client(this.pool.options)
      // A lost connection loses the lock; queries on the pool report the outage, this one must not crash the process.
      client.on('error', () => {})
      try {
        await client.connect()
        for (let slot = first; slot < end; slot++) {
          if ((await client.query<{taken: boolean}>('SELECT pg_try_advisory_lock($1, $2) AS taken', [key, slot])).rows[0].taken) {
            this.slotClient = client
            return slot
          }
        }
      } catch (error) {
        await client.end().catch(() => {})
        throw postgresErrorFrom(error, this.location)
      }

      await client.end()
      return undefined
    })()
    return this.slot
  }

  /** Lets go of this store's share of the pool; the last one closes it. */
  async release(): Promise<void> {
    for (const [key, entry] of PostgresDatabase.shared) {
      if (entry.database !== this) continue
      if (--entry.users > 0) return
      PostgresDatabase.shared.delete(key)
      await this.slotClient?.end().catch(() => {})
      await this.pool.end()
      return
    }
  }
}

/**
 * PostgreSQL and connection errors as StoreErrors that say what to fix;
 * StoreErrors and errors that are not the database's pass unchanged.
 */
export function postgresErrorFrom(error: unknown, location: string): unknown {
  if (error instanceof StoreError || !(error instanceof Error)) return error
  const code = 'code' in error ? String((error as {code: unknown}).code) : ''
  const message = error.message
  if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'ENOENT'].includes(code) || /timeout exceeded when trying to connect|Connection terminated/i.test(message)) {
    return new StoreError('store-unavailable', `cannot reach the PostgreSQL store ${location}: ${code || message}`, 'check that PostgreSQL runs and sql_server, sql_port and the firewall let this host in', error, ExitCode.unavailable)
  }

  if (code === '28P01' || code === '28000') {
    return new StoreError('store-auth', `PostgreSQL refused the login to ${location}: ${message}`, 'check sql_username and sql_password_file, and pg_hba.conf', error)
  }

  if (code === '3D000') return new StoreError('store-missing', `the PostgreSQL database of ${location} does not exist`, `create it: createdb -O ${location.replace(/^postgresql:\/\/([^@]+)@.*$/, '$1')} DATABASE`, error)
  if (code === '42501') return new StoreError('store-unwritable', `PostgreSQL denied ${location}: ${message}`, 'grant the role the privileges it lacks, or make it the owner of the database', error)
  if (code === '25006') return new StoreError('store-unwritable', `the PostgreSQL store ${location} is read-only: ${message}`, 'point sql_server at the primary, not a standby', error)
  if (code === '53100' || code === '53200') return new StoreError('store-io', `PostgreSQL cannot write ${location}: ${message}`, 'check the PostgreSQL server\'s free disk space and memory', error, ExitCode.unavailable)
  if (code === '57014') {
    return new StoreError('store-busy', `a query on the PostgreSQL store ${location} was cancelled: ${message}`, 'raise sql_query_timeout if the work is large (a first purge of a big archive), or look for locks in PostgreSQL\'s log', error, ExitCode.unavailable)
  }

  if (code === '53300' || code === '57P01' || code === '57P03') {
    return new StoreError('store-busy', `the PostgreSQL store ${location} is unavailable now: ${message}`, 'retry; check PostgreSQL\'s max_connections and its log', error, ExitCode.unavailable)
  }

  if (/self[- ]signed|certificate|SSL|ssl/.test(message) && !code.match(/^\d/)) {
    return new StoreError('store-tls', `TLS to the PostgreSQL store ${location} failed: ${message}`, 'check sql_ssl, sql_ssl_verify and sql_ssl_cafile against the server\'s certificate', error)
  }

  return error
}
