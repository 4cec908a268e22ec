/**
 * ejabberd's SQL `users` table (and each account's data, ejabberd-sql-data.ts), from a SQLite file or a PostgreSQL URL, in
 * both schemas: single-host (no `server_host`, the host comes from the
 * caller) and multi-host (`server_host`). A row holds plaintext in `password`,
 * or SCRAM with `password` = StoredKey, `serverkey`, `salt`, `iterationcount`
 * (base64), the stored key prefixed `sha256:` or `sha512:` for those hashes;
 * newer schemas add `type` for the hash and keep one row per hash.
 */
import {UnavailableError, UsageError} from '../errors.js'
import type {ScramCredentials, ScramHash} from '../sasl/scram.js'
import {type DataTables, readEjabberdUserData} from './ejabberd-sql-data.js'
import type {SourceAccount, SourceRecord} from './types.js'
import {credentialsProblem} from './xep0227.js'

const PAGE = 1000

interface Row {
  username: string
  server_host?: string
  password: string | null
  serverkey?: string | null
  salt?: string | null
  iterationcount?: number | string | null
  type?: number | string | null
}

interface Table {
  where: string
  columns: Set<string>
  /** Every table of the database, for the per-user data (ejabberd-sql-data.ts). */
  tables: Set<string>
  query(sql: string, params: unknown[]): Promise<Row[]>
  close(): Promise<void>
}

/** ejabberd's `type` column: 0 plaintext, then one SCRAM hash per value. */
const TYPE_HASH: Record<number, ScramHash | 'plain'> = {0: 'plain', 1: 'sha1', 2: 'sha256', 3: 'sha512'}

export function isPostgresUrl(source: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(source)
}

/** The URL without its password, for messages. */
export function redactUrl(source: string): string {
  try {
    const url = new URL(source)
    if (url.password) url.password = '***'
    return url.toString()
  } catch {
    return 'the PostgreSQL URL'
  }
}

async function openSqlite(file: string): Promise<Table> {
  const {default: Database} = await import('../store/sqlite/driver.js')
  let db: InstanceType<typeof Database>
  try {
    db = new Database(file, {readonly: true, fileMustExist: true})
    db.pragma('query_only = ON')
  } catch (error) {
    throw new UsageError(`cannot open ${file} as a SQLite database: ${(error as Error).message}`, 'give the path of ejabberd\'s SQLite file (sql_database)')
  }

  let columns: Set<string>
  let tables: Set<string>
  try {
    columns = new Set((db.prepare("SELECT name FROM pragma_table_info('users')").all() as Array<{name: string}>).map((row) => row.name))
    tables = new Set((db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all() as Array<{name: string}>).map((row) => row.name))
  } catch (error) {
    db.close()
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`, 'give the path of ejabberd\'s SQLite file (sql_database)')
  }

  return {
    where: file,
    columns,
    tables,
    async query(sql, params) {
      // Every $N is used once and in order, so plain ? placeholders bind the same.
      return db.prepare(sql.replace(/\$\d+/g, '?')).all(...params) as Row[]
    },
    async close() {
      db.close()
    },
  }
}

async function openPostgres(url: string): Promise<Table> {
  const {default: pg} = await import('pg')
  const client = new pg.Client({connectionString: url})
  try {
    await client.connect()
  } catch (error) {
    await client.end().catch(() => {})
    throw new UnavailableError(`cannot connect to ${redactUrl(url)}: ${(error as Error).message}`, 'check the URL, that PostgreSQL is running, and the credentials', error)
  }

  const result = await client.query<{column_name: string}>(
    "SELECT column_name FROM information_schema.columns WHERE table_name = 'users' AND table_schema = ANY (current_schemas(false))",
  )
  const tables = await client.query<{table_name: string}>("SELECT table_name FROM information_schema.tables WHERE table_schema = ANY (current_schemas(false))")
  return {
    where: redactUrl(url),
    columns: new Set(result.rows.map((row) => row.column_name)),
    tables: new Set(tables.rows.map((row) => row.table_name)),
    async query(sql, params) {
      return (await client.query(sql, params)).rows as Row[]
    },
    async close() {
      await client.end()
    },
  }
}

function fromRows(table: Table, host: string, rows: Row[]): SourceRecord {
  const username = rows[0].username
  const where = `${table.where} users ${username}@${host}`
  const jid = `${username}@${host}`
  const credentials: ScramCredentials[] = []
  let password: string | undefined
  for (const row of rows) {
    const kind = row.type === undefined || row.type === null ? undefined : TYPE_HASH[Number(row.type)]
    if (row.type !== undefined && row.type !== null && kind === undefined) return {kind: 'invalid', where, jid, reason: `unknown password type ${row.type}`}
    const scram = kind !== 'plain' && row.serverkey !== undefined && row.serverkey !== null && row.serverkey !== ''
    if (!scram) {
      if (row.password !== null && row.password !== '') password = row.password
      continue
    }

    const decode = (value: string | null | undefined) => (value && /^[A-Za-z0-9+/]*={0,2}$/.test(value) && value.length % 4 === 0 ? Buffer.from(value, 'base64') : undefined)
    // Without a type column, ejabberd (23.01 ejabberd_auth_sql:scram_hash_encode/2) names
    // a SHA-256 or SHA-512 hash by prefixing the stored key: `sha256:<base64>`; bare is SHA-1.
    const prefixed = kind === undefined ? /^(sha256|sha512):(.*)$/s.exec(row.password ?? '') : null
    const storedKey = decode(prefixed ? prefixed[2] : row.password)
    const serverKey = decode(row.serverkey)
    const salt = decode(row.salt)
    if (!storedKey || !serverKey || !salt) return {kind: 'invalid', where, jid, reason: 'password ([sha256:|sha512:]StoredKey), serverkey and salt must be base64'}
    const credential = {hash: (kind ?? (prefixed?.[1] as ScramHash | undefined) ?? 'sha1') as ScramHash, storedKey, serverKey, salt, iterations: Number(row.iterationcount)}
    const problem = credentialsProblem(credential)
    if (problem) return {kind: 'invalid', where, jid, reason: problem}
    credentials.push(credential)
  }

  const account: SourceAccount = {kind: 'account', where, host, username, password, credentials, extra: undefined}
  return account
}

/**
 * Every account of the `users` table. `host` is required for the single-host
 * schema, and restricts the multi-host one to that host.
 */
export async function* readEjabberdSql(source: string, host: string | undefined): AsyncGenerator<SourceRecord> {
  const table = isPostgresUrl(source) ? await openPostgres(source) : await openSqlite(source)
  try {
    const {columns} = table
    if (!columns.has('username') || !columns.has('password')) {
      throw new UsageError(`${table.where} has no ejabberd users table (username, password)`, 'point at the database ejabberd\'s sql_database names')
    }

    const multiHost = columns.has('server_host')
    if (!multiHost && host === undefined) {
      throw new UsageError(`${table.where} uses ejabberd's single-host schema, so it does not say which host its accounts belong to`, 'add --host with the XMPP domain the accounts belong to')
    }

    const wanted = ['username', 'password', ...['server_host', 'serverkey', 'salt', 'iterationcount', 'type'].filter((name) => columns.has(name))]
    const order = [...(multiHost ? ['server_host'] : []), 'username', ...(columns.has('type') ? ['type'] : [])]
    const filter = multiHost && host !== undefined ? 'server_host = $1' : 'TRUE'
    const base = multiHost && host !== undefined ? [host] : []
    let after: unknown[] | undefined
    let pending: Row[] = []
    const dataTables: DataTables = {tables: table.tables, multiHost, query: async (sql, params) => (await table.query(sql, params)) as unknown as Array<Record<string, unknown>>}
    /** The account of `rows` with its data; a row of its data that is not XML makes it invalid, to be fixed and imported again. */
    const withData = async (rows: Row[]): Promise<SourceRecord> => {
      const record = fromRows(table, rows[0].server_host ?? host!, rows)
      if (record.kind !== 'account') return record
      try {
        const data = await readEjabberdUserData(dataTables, record.host, record.username)
        if (data) record.data = data
        return record
      } catch (error) {
        return {kind: 'invalid', where: record.where, jid: `${record.username}@${record.host}`, reason: (error as Error).message}
      }
    }

    const key = (row: Row) => `${row.server_host ?? host}\u0000${row.username}`
    for (;;) {
      // Keyset pagination, so neither SQLite nor PostgreSQL holds a cursor open.
      const position = after ? `AND (${order.join(', ')}) > (${order.map((_, index) => `$${base.length + index + 1}`).join(', ')})` : ''
      const sql = `SELECT ${wanted.join(', ')} FROM users WHERE ${filter} ${position} ORDER BY ${order.join(', ')} LIMIT ${PAGE}`
      const rows = await table.query(sql, [...base, ...(after ?? [])])
      for (const row of rows) {
        if (pending.length > 0 && key(pending[0]) !== key(row)) {
          yield await withData(pending)
          pending = []
        }

        pending.push(row)
      }

      if (rows.length < PAGE) break
      const last = rows.at(-1)!
      after = order.map((column) => (last as unknown as Record<string, unknown>)[column])
    }

    if (pending.length > 0) yield await withData(pending)
  } finally {
    await table.close()
  }
}
