/** The SQLite side of `xmppctl db copy` (../copy.ts). */
import {existsSync} from 'node:fs'
import path from 'node:path'

import {StoreError, osErrorText} from '../../errors.js'
import {COPY_PROGRESS_TABLE} from '../copy-marker.js'
import type {CopyReader, CopyWriter, TableProgress, TableShape} from '../copy-endpoint.js'
import Database from './driver.js'
import {SqliteAccountStore, STORE_FILE, storeErrorFrom} from './index.js'
import {APPLICATION_ID, SCHEMA_VERSION} from './schema.js'

function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

function tableShape(db: Database.Database, table: string): TableShape {
  const columns = db.prepare<[], {name: string; pk: number}>(`SELECT name, pk FROM pragma_table_info('${table}')`).all()
  const key = columns
    .filter((column) => column.pk > 0)
    .sort((a, b) => a.pk - b.pk)
    .map((column) => column.name)
  return {columns: columns.map((column) => column.name), key}
}

export class SqliteCopyReader implements CopyReader {
  readonly location: string
  private readonly db: Database.Database
  private readonly pages = new Map<string, {first: Database.Statement; next: Database.Statement}>()

  private constructor(file: string, db: Database.Database) {
    this.location = file
    this.db = db
  }

  static open(file: string): SqliteCopyReader {
    if (!existsSync(file)) throw new StoreError('store-missing', `there is no account store at ${file}`, 'check --from: sqlite:DATA_DIR names the directory that holds accounts.sqlite')
    try {
      // Not read-only: a store in WAL mode whose -shm file is gone needs a writer to rebuild it. Nothing is written.
      const db = new Database(file, {fileMustExist: true, timeout: 5000})
      db.pragma('query_only = ON')
      return new SqliteCopyReader(file, db)
    } catch (error) {
      throw new StoreError('store-unreadable', `cannot open account store ${file}: ${osErrorText(error)}`, 'check the permissions of the data directory', error)
    }
  }

  async checkSchema(): Promise<void> {
    if ((this.db.pragma('application_id', {simple: true}) as number) !== APPLICATION_ID) {
      throw new StoreError('store-foreign', `${this.location} is not an xmppctl account store`, 'check --from')
    }

    if (this.db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(COPY_PROGRESS_TABLE)) {
      throw new StoreError('store-incomplete', `${this.location} is the target of an unfinished "xmppctl db copy", not a store to copy from`, 'finish that copy first')
    }

    const version = this.db.pragma('user_version', {simple: true}) as number
    if (version > SCHEMA_VERSION) throw new StoreError('store-too-new', `${this.location} has schema version ${version}, newer than this xmppctl understands (${SCHEMA_VERSION})`, 'upgrade xmppctl')
    if (version < SCHEMA_VERSION) {
      throw new StoreError('store-outdated', `${this.location} has schema version ${version}, and this xmppctl copies from ${SCHEMA_VERSION}`, 'run "xmppctl db migrate" on it first (with a configuration whose data_dir names it)')
    }
  }

  async snapshot<T>(work: () => Promise<T>): Promise<T> {
    // WAL: a read transaction sees the file as it was at its first read, while a server may go on writing.
    this.db.exec('BEGIN')
    try {
      return await work()
    } finally {
      this.db.exec('COMMIT')
    }
  }

  async shape(table: string): Promise<TableShape> {
    return tableShape(this.db, table)
  }

  async count(table: string): Promise<number> {
    return (this.db.prepare(`SELECT count(*) AS n FROM ${quoted(table)}`).get() as {n: number}).n
  }

  async page(table: string, shape: TableShape, after: unknown[] | undefined, limit: number): Promise<unknown[][]> {
    let statements = this.pages.get(table)
    if (!statements) {
      const select = `SELECT ${shape.columns.map(quoted).join(', ')} FROM ${quoted(table)}`
      const order = `ORDER BY ${shape.key.map(quoted).join(', ')} LIMIT ?`
      statements = {
        first: this.db.prepare(`${select} ${order}`).raw(),
        next: this.db.prepare(`${select} WHERE (${shape.key.map(quoted).join(', ')}) > (${shape.key.map(() => '?').join(', ')}) ${order}`).raw(),
      }
      this.pages.set(table, statements)
    }

    return (after === undefined ? statements.first.all(limit) : statements.next.all(...after, limit)) as unknown[][]
  }

  async close(): Promise<void> {
    this.db.close()
  }
}

export class SqliteCopyWriter implements CopyWriter {
  readonly location: string
  private readonly dataDir: string
  private db: Database.Database | undefined
  private readonly inserts = new Map<string, Database.Statement>()

  private constructor(dataDir: string) {
    this.dataDir = dataDir
    this.location = path.join(dataDir, STORE_FILE)
  }

  static async open(dataDir: string): Promise<SqliteCopyWriter> {
    return new SqliteCopyWriter(dataDir)
  }

  private get connection(): Database.Database {
    if (!this.db) throw new Error('prepare() first')
    return this.db
  }

  async prepare(): Promise<{unfinished?: {source: string; tables: Map<string, TableProgress>}}> {
    const file = this.location
    if (existsSync(file)) {
      const probe = new Database(file, {fileMustExist: true, timeout: 5000})
      const marked = probe.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(COPY_PROGRESS_TABLE) !== undefined
      probe.close()
      if (marked) {
        this.db = this.openConnection()
        const rows = this.db.prepare<[], {table_name: string; last_key: string | null; rows: number; source: string}>(`SELECT table_name, last_key, rows, source FROM ${COPY_PROGRESS_TABLE}`).all()
        const tables = new Map(rows.filter((row) => row.table_name !== '').map((row) => [row.table_name, {after: row.last_key === null ? undefined : (JSON.parse(row.last_key) as unknown[]), rows: row.rows}]))
        return {unfinished: {source: rows.find((row) => row.table_name === '')?.source ?? '', tables}}
      }
    }

    // A new store (0600 in a 0700 directory), or an existing one brought up to date; both go through the store's own code.
    const store = SqliteAccountStore.open(this.dataDir, {create: true, migrate: true})
    await store.close()
    this.db = this.openConnection()
    return {}
  }

  private openConnection(): Database.Database {
    try {
      const db = new Database(this.location, {fileMustExist: true, timeout: 5000})
      db.pragma('foreign_keys = ON')
      db.pragma('synchronous = FULL')
      return db
    } catch (error) {
      throw storeErrorFrom(error, this.location)
    }
  }

  async shape(table: string): Promise<TableShape> {
    return tableShape(this.connection, table)
  }

  async count(table: string): Promise<number> {
    return (this.connection.prepare(`SELECT count(*) AS n FROM ${quoted(table)}`).get() as {n: number}).n
  }

  async begin(source: string): Promise<void> {
    const db = this.connection
    db.transaction(() => {
      db.exec(`CREATE TABLE ${COPY_PROGRESS_TABLE} (table_name TEXT PRIMARY KEY, last_key TEXT, rows INTEGER NOT NULL, source TEXT NOT NULL)`)
      db.prepare(`INSERT INTO ${COPY_PROGRESS_TABLE} VALUES ('', NULL, 0, ?)`).run(source)
    }).immediate()
  }

  async write(table: string, shape: TableShape, rows: unknown[][], progress: TableProgress): Promise<void> {
    const db = this.connection
    let insert = this.inserts.get(table)
    if (!insert) {
      insert = db.prepare(`INSERT INTO ${quoted(table)} (${shape.columns.map(quoted).join(', ')}) VALUES (${shape.columns.map(() => '?').join(', ')})`)
      this.inserts.set(table, insert)
    }

    const statement = insert
    try {
      db.transaction(() => {
        for (const row of rows) statement.run(...row)
        db.prepare(`INSERT INTO ${COPY_PROGRESS_TABLE} VALUES (?, ?, ?, '') ON CONFLICT (table_name) DO UPDATE SET last_key = excluded.last_key, rows = excluded.rows`).run(
          table,
          JSON.stringify(progress.after),
          progress.rows,
        )
      }).immediate()
    } catch (error) {
      throw storeErrorFrom(error, this.location)
    }
  }

  async finish(): Promise<void> {
    // AUTOINCREMENT's counters already passed the copied ids: SQLite raises them on every insert of a larger id.
    this.connection.exec(`DROP TABLE ${COPY_PROGRESS_TABLE}`)
  }

  async close(): Promise<void> {
    this.db?.close()
  }
}
