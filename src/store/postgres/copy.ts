/** The PostgreSQL side of `xmppctl db copy` (../copy.ts). */
import {StoreError} from '../../errors.js'
import {COPY_PROGRESS_TABLE} from '../copy-marker.js'
import type {CopyReader, CopyWriter, TableProgress, TableShape} from '../copy-endpoint.js'
import {PostgresDatabase, type PostgresOptions, type Queryable} from './database.js'
import {preparePostgres, schemaVersion} from './index.js'
import {SCHEMA_VERSION} from './schema.js'

/** Bind parameters per statement stay under PostgreSQL's 65535. */
const MAX_PARAMETERS = 60_000

function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

async function tableShape(db: Queryable, table: string): Promise<TableShape> {
  const columns = await db.query<{name: string}>('SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position', [table])
  const key = await db.query<{name: string}>(
    `SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [table],
  )
  return {columns: columns.rows.map((row) => row.name), key: key.rows.map((row) => row.name)}
}

async function hasMarker(db: Queryable): Promise<boolean> {
  return Boolean((await db.query<{marker: string | null}>('SELECT to_regclass($1) AS marker', [COPY_PROGRESS_TABLE])).rows[0]?.marker)
}

/** Carries an error out of the snapshot's transaction, which would otherwise run a deadlock's victim again. */
class NotRetried extends Error {
  constructor(readonly error: unknown) {
    super('not retried')
  }
}

export class PostgresCopyReader implements CopyReader {
  readonly location: string
  private readonly db: PostgresDatabase
  /** The snapshot's connection while one is open. */
  private tx: Queryable | undefined

  private constructor(db: PostgresDatabase) {
    this.db = db
    this.location = db.location
  }

  static async open(options: PostgresOptions): Promise<PostgresCopyReader> {
    return new PostgresCopyReader(await PostgresDatabase.acquire(options))
  }

  private get queryable(): Queryable {
    return this.tx ?? this.db
  }

  async checkSchema(): Promise<void> {
    const version = await schemaVersion(this.db)
    if (version === 'absent') throw new StoreError('store-missing', `there is no xmppctl store in ${this.location}`, 'check --from')
    if (version === 'foreign') throw new StoreError('store-foreign', `${this.location} holds tables of another program, not an xmppctl store`, 'check --from')
    if (await hasMarker(this.db)) throw new StoreError('store-incomplete', `${this.location} is the target of an unfinished "xmppctl db copy", not a store to copy from`, 'finish that copy first')
    if (version > SCHEMA_VERSION) throw new StoreError('store-too-new', `${this.location} has schema version ${version}, newer than this xmppctl understands (${SCHEMA_VERSION})`, 'upgrade xmppctl')
    if (version < SCHEMA_VERSION) {
      throw new StoreError('store-outdated', `${this.location} has schema version ${version}, and this xmppctl copies from ${SCHEMA_VERSION}`, 'run "xmppctl db migrate" on it first (with a configuration whose sql_* keys name it)')
    }
  }

  async snapshot<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction(
        async (tx) => {
          await tx.query('SET TRANSACTION READ ONLY')
          this.tx = tx
          try {
            return await work()
          } catch (error) {
            throw new NotRetried(error)
          } finally {
            this.tx = undefined
          }
        },
        {isolation: 'repeatable read'},
      )
    } catch (error) {
      throw error instanceof NotRetried ? error.error : error
    }
  }

  async shape(table: string): Promise<TableShape> {
    return tableShape(this.queryable, table)
  }

  async count(table: string): Promise<number> {
    return (await this.queryable.query<{n: number}>(`SELECT count(*) AS n FROM ${quoted(table)}`)).rows[0].n
  }

  async page(table: string, shape: TableShape, after: unknown[] | undefined, limit: number): Promise<unknown[][]> {
    const keys = shape.key.map(quoted).join(', ')
    const where = after === undefined ? '' : `WHERE (${keys}) > (${shape.key.map((_, index) => `$${index + 1}`).join(', ')})`
    const result = await this.queryable.query(`SELECT ${shape.columns.map(quoted).join(', ')} FROM ${quoted(table)} ${where} ORDER BY ${keys} LIMIT ${Math.trunc(limit)}`, after ?? [])
    return result.rows.map((row) => shape.columns.map((column) => (row as Record<string, unknown>)[column]))
  }

  async close(): Promise<void> {
    await this.db.release()
  }
}

export class PostgresCopyWriter implements CopyWriter {
  readonly location: string
  private readonly db: PostgresDatabase

  private constructor(db: PostgresDatabase) {
    this.db = db
    this.location = db.location
  }

  static async open(options: PostgresOptions): Promise<PostgresCopyWriter> {
    return new PostgresCopyWriter(await PostgresDatabase.acquire(options))
  }

  async prepare(): Promise<{unfinished?: {source: string; tables: Map<string, TableProgress>}}> {
    if ((await schemaVersion(this.db)) !== 'absent' && (await hasMarker(this.db))) {
      const rows = (await this.db.query<{table_name: string; last_key: string | null; rows: number; source: string}>(`SELECT table_name, last_key, rows, source FROM ${COPY_PROGRESS_TABLE}`)).rows
      const tables = new Map(rows.filter((row) => row.table_name !== '').map((row) => [row.table_name, {after: row.last_key === null ? undefined : (JSON.parse(row.last_key) as unknown[]), rows: row.rows}]))
      return {unfinished: {source: rows.find((row) => row.table_name === '')?.source ?? '', tables}}
    }

    // An empty database gets its tables, an outdated one its migrations, through the store's own code.
    await preparePostgres(this.db, {create: true, migrate: true})
    return {}
  }

  async shape(table: string): Promise<TableShape> {
    return tableShape(this.db, table)
  }

  async count(table: string): Promise<number> {
    return (await this.db.query<{n: number}>(`SELECT count(*) AS n FROM ${quoted(table)}`)).rows[0].n
  }

  async begin(source: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(`CREATE TABLE ${COPY_PROGRESS_TABLE} (table_name text PRIMARY KEY, last_key text, rows bigint NOT NULL, source text NOT NULL)`)
      await tx.query(`INSERT INTO ${COPY_PROGRESS_TABLE} VALUES ('', NULL, 0, $1)`, [source])
    })
  }

  async write(table: string, shape: TableShape, rows: unknown[][], progress: TableProgress): Promise<void> {
    const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / shape.columns.length))
    await this.db.transaction(async (tx) => {
      for (let start = 0; start < rows.length; start += perStatement) {
        const chunk = rows.slice(start, start + perStatement)
        const values = chunk.map((_, row) => `(${shape.columns.map((_, column) => `$${row * shape.columns.length + column + 1}`).join(', ')})`)
        await tx.query(`INSERT INTO ${quoted(table)} (${shape.columns.map(quoted).join(', ')}) VALUES ${values.join(', ')}`, chunk.flat())
      }

      await tx.query(
        `INSERT INTO ${COPY_PROGRESS_TABLE} VALUES ($1, $2, $3, '') ON CONFLICT (table_name) DO UPDATE SET last_key = excluded.last_key, rows = excluded.rows`,
        [table, JSON.stringify(progress.after), progress.rows],
      )
    })
  }

  async finish(): Promise<void> {
    await this.db.transaction(async (tx) => {
      // Rows came with their ids: each serial column's sequence moves past the largest, or the next insert would collide.
      const serials = await tx.query<{table_name: string; column_name: string}>(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'",
      )
      for (const {table_name: table, column_name: column} of serials.rows) {
        await tx.query(`SELECT setval(pg_get_serial_sequence($1, $2), m) FROM (SELECT max(${quoted(column)}) AS m FROM ${quoted(table)}) AS largest WHERE m IS NOT NULL`, [quoted(table), column])
      }

      await tx.query(`DROP TABLE ${COPY_PROGRESS_TABLE}`)
    })
    // The planner's statistics still describe empty tables until autovacuum's next pass; a server started at once would
    // plan its first queries on them (PostgresAccountStore.bulkLoaded). Only a matter of speed: a failure does not fail the copy.
    await this.db.query('ANALYZE').catch(() => undefined)
  }

  async close(): Promise<void> {
    await this.db.release()
  }
}
