/**
 * `xmppctl db copy`: every row of one store into another, SQLite or
 * PostgreSQL either way (issue 18). Both engines have the same tables and
 * columns at the same schema version (postgres/schema.ts), so rows move
 * unchanged, table by table in foreign-key order, each table in the order of
 * its primary key as the source sorts it.
 *
 * Lossless: the source is read in one snapshot (a SQLite read transaction,
 * PostgreSQL's REPEATABLE READ), and the copy ends by comparing every
 * table's row count with the source's. Resumable: each batch is committed
 * with the last key it copied (copy-marker.ts), so a rerun after a kill goes
 * on from there; until the copy finishes, the target refuses to open.
 */
import {createHash} from 'node:crypto'
import {realpathSync} from 'node:fs'
import path from 'node:path'

import type {Configuration} from '../config/index.js'
import {StoreError, UsageError} from '../errors.js'
import {displayPath} from '../paths.js'
import type {CopyReader, CopyWriter, TableProgress, TableShape} from './copy-endpoint.js'
import type {PostgresIdentity, PostgresOptions} from './postgres/database.js'
import {SCHEMA_TABLES} from './postgres/schema.js'

/** A store given on the command line, or the configuration's. */
export type StoreAddress = {engine: 'sqlite'; dataDir: string; file: string} | {engine: 'postgresql'; options: PostgresOptions}

export interface CopyOptions {
  /** Rows per transaction; fewer when they are large. */
  batchRows?: number
  onProgress?: (done: number, total: number) => void
}

export interface CopyResult {
  from: string
  to: string
  /** A rerun that went on from an unfinished copy. */
  resumed: boolean
  tables: Array<{table: string; rows: number}>
  rows: number
}

/** Tables in foreign-key order: the order their migrations create them in. */
export const COPY_TABLES: readonly string[] = SCHEMA_TABLES

const DEFAULT_BATCH_ROWS = 1000
/** A batch ends once its text and bytes pass this size (archived stanzas can be large). */
const BATCH_BYTES = 8 * 1024 * 1024

/**
 * Parses `sqlite:PATH` (a data directory, or its accounts.sqlite) or
 * `postgresql://USER@HOST:PORT/DATABASE` (`?sslmode=require` or
 * `verify-full`; the password from PGPASSWORD or ~/.pgpass, never from the
 * command line). Relative paths are relative to `cwd`.
 */
export function parseStoreAddress(text: string, cwd = process.cwd()): StoreAddress {
  if (/^sqlite:/i.test(text)) {
    const target = path.resolve(cwd, text.slice('sqlite:'.length) || '.')
    if (path.extname(target) === '') return sqliteAddress(target)
    if (path.basename(target) !== 'accounts.sqlite') {
      throw new UsageError(`${text}: a SQLite store is a data directory or its accounts.sqlite file`, 'give sqlite:DATA_DIR, for example sqlite:./data')
    }

    return sqliteAddress(path.dirname(target))
  }

  if (/^postgres(?:ql)?:\/\//i.test(text)) {
    let url: URL
    try {
      url = new URL(text)
    } catch {
      // Whatever stands between // and the last @ may hold a password, however malformed the rest is.
      throw new UsageError(`${text.replace(/^(\w+:\/\/).*@/, '$1***@')} is not a valid PostgreSQL URL`, 'write postgresql://USER@HOST:PORT/DATABASE')
    }

    if (url.password) {
      throw new UsageError('a password in the PostgreSQL URL would be visible to every user of this machine (ps)', 'remove it from the URL and set PGPASSWORD, or keep it in ~/.pgpass')
    }

    const database = decodeURIComponent(url.pathname.replace(/^\//, ''))
    if (!url.username || !database) throw new UsageError(`${text}: the URL names no user or no database`, 'write postgresql://USER@HOST:PORT/DATABASE')
    const sslmode = url.searchParams.get('sslmode') ?? 'disable'
    if (!['disable', 'require', 'verify-full'].includes(sslmode)) throw new UsageError(`${text}: sslmode=${sslmode} is not one of disable, require, verify-full`, 'use sslmode=verify-full to check the server')
    const unknown = [...url.searchParams.keys()].filter((key) => key !== 'sslmode')
    if (unknown.length > 0) throw new UsageError(`${text}: unknown parameter ${unknown.join(', ')}`, 'only sslmode is read')
    // A Unix socket directory is written percent-encoded in the host: postgresql://xmppctl@%2Fvar%2Frun%2Fpostgresql/xmppctl
    const host = decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, '$1') || 'localhost'
    return {
      engine: 'postgresql',
      options: {
        host,
        port: url.port ? Number(url.port) : 5432,
        database,
        user: decodeURIComponent(url.username),
        password: process.env.PGPASSWORD === undefined ? undefined : {value: process.env.PGPASSWORD},
        poolSize: 2,
        ssl: sslmode === 'disable' ? false : {verify: sslmode === 'verify-full'},
        connectTimeoutMs: 10_000,
        queryTimeoutMs: 600_000,
      },
    }
  }

  throw new UsageError(`${text} names no store`, 'give sqlite:DATA_DIR or postgresql://USER@HOST:PORT/DATABASE')
}

/** The store the configuration names (data_dir, or sql_type: pgsql and the sql_* keys). */
export async function configuredStoreAddress(config: Configuration): Promise<StoreAddress> {
  if (config.settings.sql_type === 'pgsql') {
    const {postgresOptions} = await import('./postgres/database.js')
    return {engine: 'postgresql', options: postgresOptions(config)}
  }

  return sqliteAddress(config.dataDir)
}

/** A data directory by its real path where it exists: one store reached through a symbolic link is still one store. */
function sqliteAddress(dataDir: string): StoreAddress {
  let real = dataDir
  try {
    real = realpathSync(dataDir)
  } catch {
    // Not there yet: the copy's target, created as given.
  }

  return {engine: 'sqlite', dataDir: real, file: path.join(real, 'accounts.sqlite')}
}

export async function storeLocation(address: StoreAddress): Promise<string> {
  if (address.engine === 'sqlite') return address.file
  const {postgresLocation} = await import('./postgres/database.js')
  return postgresLocation(address.options)
}

/** Who the PostgreSQL server at `options` says it is (postgres/database.ts), on a connection of its own. */
async function postgresIdentityOf(options: PostgresOptions): Promise<PostgresIdentity> {
  const {PostgresDatabase, postgresIdentity} = await import('./postgres/database.js')
  const db = await PostgresDatabase.acquire(options)
  try {
    return await postgresIdentity(db)
  } finally {
    await db.release()
  }
}

/**
 * Whether two addresses are one store. SQLite's are compared by real path;
 * PostgreSQL's by asking each server who it is, because one database has
 * many spellings (localhost or 127.0.0.1, its Unix socket or TCP): as
 * written, a copy could run from under the server, or into its own source.
 */
export async function sameStore(a: StoreAddress, b: StoreAddress): Promise<boolean> {
  if (a.engine === 'sqlite' || b.engine === 'sqlite') return a.engine === 'sqlite' && b.engine === 'sqlite' && a.file === b.file
  const [locationA, locationB] = await Promise.all([storeLocation(a), storeLocation(b)])
  if (locationA === locationB) return true
  const {sameIdentity} = await import('./postgres/database.js')
  const [identityA, identityB] = await Promise.all([postgresIdentityOf(a.options), postgresIdentityOf(b.options)])
  return sameIdentity(identityA, identityB)
}

/**
 * Refuses a copy into the store the configuration's server runs on, and,
 * unless `live`, from it: what the server writes after the copy's snapshot
 * would not be copied. `serverRunning` asks the server's control socket
 * (which lives above the stores).
 */
export async function refuseServedStore(config: Configuration, from: StoreAddress, to: StoreAddress, {live, serverRunning}: {live: boolean; serverRunning: () => Promise<boolean>}): Promise<void> {
  const served = await configuredStoreAddress(config)
  if (served.engine !== from.engine && served.engine !== to.engine) return
  if (!(await serverRunning())) return
  if (await sameStore(served, to)) throw new UsageError(`the server is running on ${displayPath(await storeLocation(to))}, the copy's target`, 'stop it first: xmppctl stop')
  if (!live && (await sameStore(served, from))) {
    throw new UsageError(`the server is running on ${displayPath(await storeLocation(from))}: what it writes after the copy starts would not be copied`, 'stop it first with "xmppctl stop", or pass --live to copy the store as it is now')
  }
}

async function openReader(address: StoreAddress): Promise<CopyReader> {
  if (address.engine === 'sqlite') {
    const {SqliteCopyReader} = await import('./sqlite/copy.js')
    return SqliteCopyReader.open(address.file)
  }

  const {PostgresCopyReader} = await import('./postgres/copy.js')
  return PostgresCopyReader.open(address.options)
}

async function openWriter(address: StoreAddress): Promise<CopyWriter> {
  if (address.engine === 'sqlite') {
    const {SqliteCopyWriter} = await import('./sqlite/copy.js')
    return SqliteCopyWriter.open(address.dataDir)
  }

  const {PostgresCopyWriter} = await import('./postgres/copy.js')
  return PostgresCopyWriter.open(address.options)
}

function sameColumns(a: TableShape, b: TableShape): boolean {
  return a.columns.length === b.columns.length && a.columns.every((column) => b.columns.includes(column))
}

function rowBytes(row: unknown[]): number {
  let bytes = 0
  for (const value of row) bytes += typeof value === 'string' ? value.length : Buffer.isBuffer(value) ? value.length : 8
  return bytes
}

/** A digest of a table's rows that does not depend on their order: the sum of each row's hash, modulo 2^64. */
async function tableDigest(reader: CopyReader, table: string, shape: TableShape, batchRows: number): Promise<bigint> {
  let sum = 0n
  let after: unknown[] | undefined
  for (;;) {
    const page = await reader.page(table, shape, after, batchRows)
    if (page.length === 0) return sum
    for (const row of page) {
      const text = JSON.stringify(row.map((value) => (Buffer.isBuffer(value) ? `bytes:${value.toString('hex')}` : value)))
      sum = (sum + createHash('sha256').update(text).digest().readBigUInt64BE(0)) & 0xffff_ffff_ffff_ffffn
    }

    const last = page.at(-1)!
    after = shape.key.map((column) => last[shape.columns.indexOf(column)])
  }
}

/** Copies every row of `from` into `to`, which must be empty or hold an unfinished copy from `from`. */
export async function copyStore(from: StoreAddress, to: StoreAddress, options: CopyOptions = {}): Promise<CopyResult> {
  const [fromLocation, toLocation] = await Promise.all([storeLocation(from), storeLocation(to)])
  if (await sameStore(from, to)) {
    throw new UsageError(`--from and --to are the same store, ${fromLocation}${toLocation === fromLocation ? '' : ` (also reached as ${toLocation})`}`, 'copy into another data directory or database')
  }

  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS
  const reader = await openReader(from)
  try {
    await reader.checkSchema()
    const writer = await openWriter(to)
    try {
      const target = await writer.prepare()
      if (target.unfinished && target.unfinished.source !== fromLocation) {
        throw new StoreError('copy-other-source', `${toLocation} holds an unfinished copy from ${target.unfinished.source}, not from ${fromLocation}`, `finish it with --from ${target.unfinished.source}, or empty the target`)
      }

      return await reader.snapshot(async () => {
        const shapes = new Map<string, TableShape>()
        const totals = new Map<string, number>()
        for (const table of COPY_TABLES) {
          const [shape, targetShape] = await Promise.all([reader.shape(table), writer.shape(table)])
          if (!sameColumns(shape, targetShape)) {
            throw new StoreError('store-version-mismatch', `table ${table} has columns ${shape.columns.join(', ')} in ${fromLocation} and ${targetShape.columns.join(', ')} in ${toLocation}`, 'both stores must come from the same xmppctl')
          }

          shapes.set(table, shape)
          totals.set(table, await reader.count(table))
        }

        if (!target.unfinished) {
          for (const table of COPY_TABLES) {
            const rows = await writer.count(table)
            if (rows > 0) throw new StoreError('store-not-empty', `${toLocation} already holds data (${rows} row${rows === 1 ? '' : 's'} in ${table})`, 'copy into an empty store: a new data directory, or a new database')
          }

          await writer.begin(fromLocation)
        }

        const total = [...totals.values()].reduce((sum, count) => sum + count, 0)
        let done = 0
        for (const table of COPY_TABLES) {
          const shape = shapes.get(table)!
          const progress: TableProgress = target.unfinished?.tables.get(table) ?? {after: undefined, rows: 0}
          done += progress.rows
          options.onProgress?.(done, total)
          for (;;) {
            const page = await reader.page(table, shape, progress.after, batchRows)
            if (page.length === 0) break
            // Large rows: the batch ends once it passes BATCH_BYTES, and the rest comes with the next page.
            let bytes = 0
            let end = 0
            while (end < page.length && (end === 0 || bytes < BATCH_BYTES)) bytes += rowBytes(page[end++])
            const batch = page.slice(0, end)
            const last = batch.at(-1)!
            progress.after = shape.key.map((column) => last[shape.columns.indexOf(column)])
            progress.rows += batch.length
            await writer.write(table, shape, batch, progress)
            done += batch.length
            options.onProgress?.(done, total)
          }
        }

        const tables = []
        for (const table of COPY_TABLES) {
          const [source, copied] = [totals.get(table)!, await writer.count(table)]
          if (source !== copied) {
            throw new StoreError(
              'copy-incomplete',
              `${table} has ${source} rows in ${fromLocation} and ${copied} in ${toLocation}: the source changed between runs`,
              'stop the server, empty the target and copy again',
            )
          }

          tables.push({table, rows: copied})
        }

        // A resumed copy read the source in more than one snapshot: a row changed in between (a password,
        // a roster item) keeps the counts equal. Every row of both is compared, whatever order each keeps.
        if (target.unfinished) {
          const copied = await openReader(to)
          try {
            for (const table of COPY_TABLES) {
              const shape = shapes.get(table)!
              if ((await tableDigest(reader, table, shape, batchRows)) !== (await tableDigest(copied, table, shape, batchRows))) {
                throw new StoreError(
                  'copy-incomplete',
                  `rows of ${table} differ between ${fromLocation} and ${toLocation}: the source changed between the runs of this copy`,
                  'stop the server, empty the target and copy again',
                )
              }
            }
          } finally {
            await copied.close()
          }
        }

        await writer.finish()
        return {from: fromLocation, to: toLocation, resumed: target.unfinished !== undefined, tables, rows: total}
      })
    } finally {
      await writer.close()
    }
  } finally {
    await reader.close()
  }
}
