/**
 * The PostgreSQL account store (`sql_type: pgsql`): the same tables and
 * guarantees as the SQLite store (sqlite/index.ts), each write one
 * transaction, on the process's shared pool (database.ts).
 */
import {randomBytes} from 'node:crypto'

import {AccountExistsError, StoreError} from '../../errors.js'
import type {ScramHash} from '../../sasl/scram.js'
import type {
  AccountSecrets,
  AccountState,
  AccountStore,
  AccountSummary,
  ExportedAccountData,
  ImportOutcome,
  ImportedAccount,
  ImportedAccountData,
  LoginSecrets,
  PlaintextAccount,
  ScramConversion,
  StoredAccount,
} from '../account-store.js'
import type {AccessModel, SendLastPublishedItem} from '../pep-store.js'
import type {Subscription} from '../roster-store.js'
import {ARCHIVE_ID_CLASSES, importedArchiveId} from '../archive-ids.js'
import {deleteArchiveEntries} from './archive.js'
import {PostgresDatabase, type PostgresOptions, type Queryable} from './database.js'
import {MIGRATIONS, SCHEMA_TABLE, SCHEMA_TABLES, SCHEMA_VERSION} from './schema.js'
import {COPY_PROGRESS_TABLE, unfinishedCopy} from '../copy-marker.js'
import {outdatedStore} from '../outdated.js'

/** Rows read per query while listing, so a million accounts never sit in memory. */
const LIST_PAGE_SIZE = 1000
/** Rows per multi-row INSERT (unnest of arrays) during imports. */
const INSERT_CHUNK = 5000
/** Any number, the same in every xmppctl: the advisory lock that serialises schema migrations across processes. */
const MIGRATION_LOCK = 0x58_4d_50_43

/**
 * Locks the account's row against the other writers of its data until the
 * transaction ends (FOR NO KEY UPDATE: inserts that only check the foreign
 * key still pass), so that a limit checked in the transaction holds at its
 * commit, as SQLite's one writer gives; false when the account does not exist.
 */
export async function lockAccount(tx: Queryable, host: string, username: string): Promise<boolean> {
  return (await tx.query('SELECT 1 FROM accounts WHERE host = $1 AND username = $2 FOR NO KEY UPDATE', [host, username])).rows.length > 0
}

/** A fresh roster epoch (RFC 6121 §2.6): the SQLite store's lower(hex(randomblob(6))). */
export function rosterEpoch(): string {
  return randomBytes(6).toString('hex')
}

/**
 * Inserts `rows` into `table` in chunks, each one statement over arrays
 * (unnest), far fewer round trips than a statement per row. `types` are
 * the columns' PostgreSQL array element types.
 */
export async function insertRows(tx: Queryable, table: string, columns: readonly string[], types: readonly string[], rows: ReadonlyArray<readonly unknown[]>, suffix = ''): Promise<number> {
  let inserted = 0
  for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
    const chunk = rows.slice(start, start + INSERT_CHUNK)
    const arrays = columns.map((_, column) => chunk.map((row) => row[column]))
    const result = await tx.query(
      `INSERT INTO ${table} (${columns.join(', ')}) SELECT * FROM unnest(${types.map((type, index) => `$${index + 1}::${type}[]`).join(', ')}) ${suffix}`,
      arrays,
    )
    inserted += result.rowCount ?? 0
  }

  return inserted
}

interface AccountRow {
  host: string
  username: string
  state: AccountState
  disabled_reason: string | null
  created_at: number
  plaintext: string | null
}

/** The schema's state in the database: absent (no xmppctl tables), or its version. */
export async function schemaVersion(db: Queryable): Promise<number | 'absent' | 'foreign'> {
  const tables = await db.query<{name: string}>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")
  const names = new Set(tables.rows.map((row) => row.name))
  if (!names.has(SCHEMA_TABLE)) return names.size === 0 ? 'absent' : 'foreign'
  const row = (await db.query<{version: number}>(`SELECT version FROM ${SCHEMA_TABLE}`)).rows[0]
  return row?.version ?? 0
}

/** Runs the migrations after the current version under an advisory lock, in one transaction; another process may have run them since. */
async function migrate(db: PostgresDatabase): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    const version = await schemaVersion(tx)
    if (version === 'foreign') throw foreignDatabase(db.location)
    const from = version === 'absent' ? 0 : version
    if (from >= SCHEMA_VERSION) return
    if (version === 'absent') await tx.query(`CREATE TABLE ${SCHEMA_TABLE} (application text NOT NULL DEFAULT 'xmppctl', version integer NOT NULL)`)
    for (const migration of MIGRATIONS.slice(from)) await tx.query(migration)
    await tx.query(`DELETE FROM ${SCHEMA_TABLE}`)
    await tx.query(`INSERT INTO ${SCHEMA_TABLE} (version) VALUES ($1)`, [SCHEMA_VERSION])
  })
}

function foreignDatabase(location: string): StoreError {
  return new StoreError('store-foreign', `${location} holds tables of another program, not an xmppctl store`, 'give xmppctl a database of its own (sql_database)')
}

export interface PostgresOpenOptions {
  create?: boolean
  verify?: boolean
  migrate?: boolean
  /** Why `migrate` is false, for the error (default: update_sql_schema is false). */
  notMigrating?: string
}

/**
 * The database's schema, brought up to date unless `migrate` is false
 * (then an outdated one is refused); a database without xmppctl's tables
 * gets them unless `create` is false, and one that holds another
 * program's tables is refused rather than written to.
 */
export async function preparePostgres(db: PostgresDatabase, {create = true, verify = false, migrate: migrating = true, notMigrating}: PostgresOpenOptions): Promise<void> {
  const version = await schemaVersion(db)
  if (version === 'foreign') throw foreignDatabase(db.location)
  if (version !== 'absent' && (await db.query('SELECT to_regclass($1) AS marker', [COPY_PROGRESS_TABLE])).rows[0]?.marker) throw unfinishedCopy(db.location)
  if (version === 'absent' && !create) {
    throw new StoreError('store-missing', `there is no account store in ${db.location}`, '"xmppctl user add" or "xmppctl db migrate" creates its tables')
  }

  if (version !== 'absent' && version > SCHEMA_VERSION) {
    throw new StoreError('store-too-new', `${db.location} has schema version ${version}, newer than this xmppctl understands (${SCHEMA_VERSION})`, 'upgrade xmppctl')
  }

  if (version !== 'absent' && version < SCHEMA_VERSION && !migrating) {
    throw outdatedStore(db.location, version, SCHEMA_VERSION, notMigrating)
  }

  if (version === 'absent' || version < SCHEMA_VERSION) await migrate(db)
  if (verify) await verifyPostgres(db)
}

/** What the server checks before it serves: every table of the schema there, and writing possible (a standby, or a role without rights, fails here, not at the first login). */
async function verifyPostgres(db: PostgresDatabase): Promise<void> {
  const present = new Set((await db.query<{name: string}>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()")).rows.map((row) => row.name))
  const missing = SCHEMA_TABLES.filter((table) => !present.has(table))
  if (missing.length > 0) {
    throw new StoreError('store-corrupt', `the store ${db.location} is damaged (no table ${missing.join(', ')}, which schema version ${SCHEMA_VERSION} has)`, 'restore it from a backup')
  }

  // A write, rolled back: the transaction's error says why writing fails.
  class RolledBack extends Error {}
  try {
    await db.transaction(async (tx) => {
      await tx.query(`UPDATE ${SCHEMA_TABLE} SET version = version`)
      await tx.query('UPDATE accounts SET state = state WHERE false')
      throw new RolledBack()
    })
  } catch (error) {
    if (!(error instanceof RolledBack)) throw error
  }
}

/** What `xmppctl db status` shows of a PostgreSQL store, read without change. */
export async function postgresSchemaStatus(options: PostgresOptions): Promise<{location: string; version: number | null; expected: number; pending: Array<{version: number; creates: string[]}>}> {
  const db = await PostgresDatabase.acquire(options)
  try {
    const version = await schemaVersion(db)
    if (version === 'foreign') throw foreignDatabase(db.location)
    const current = version === 'absent' ? null : version
    const pending = MIGRATIONS.map((migration, index) => ({version: index + 1, creates: [...migration.matchAll(/CREATE TABLE (\w+)/g)].map((match) => match[1])})).filter(
      (migration) => migration.version > (current ?? 0),
    )
    // An empty database: `db migrate` runs every migration.
    return {location: db.location, version: current, expected: SCHEMA_VERSION, pending}
  } finally {
    await db.release()
  }
}

export class PostgresAccountStore implements AccountStore {
  readonly location: string
  private readonly db: PostgresDatabase
  /** Per first archive id of an import, the last id given from it (insertImportedData). */
  private readonly archiveIdHints = new Map<number, number>()

  private constructor(db: PostgresDatabase) {
    this.db = db
    this.location = db.location
  }

  static async open(options: PostgresOptions, open: PostgresOpenOptions = {}): Promise<PostgresAccountStore> {
    const db = await PostgresDatabase.acquire(options)
    try {
      await preparePostgres(db, open)
    } catch (error) {
      await db.release()
      throw error
    }

    return new PostgresAccountStore(db)
  }

  async getAccount(host: string, username: string): Promise<StoredAccount | undefined> {
    return this.db.transaction(async (tx) => {
      const row = (await tx.query<AccountRow>('SELECT host, username, state, disabled_reason, created_at, plaintext FROM accounts WHERE host = $1 AND username = $2', [host, username])).rows[0]
      if (!row) return undefined
      const credentials = await tx.query<{hash: ScramHash; salt: Buffer; iterations: number; stored_key: Buffer; server_key: Buffer}>(
        'SELECT hash, salt, iterations, stored_key, server_key FROM scram_credentials WHERE host = $1 AND username = $2 ORDER BY hash',
        [host, username],
      )
      return {
        host: row.host,
        username: row.username,
        state: row.state,
        disabledReason: row.disabled_reason ?? undefined,
        createdAt: new Date(row.created_at),
        plaintext: row.plaintext ?? undefined,
        credentials: credentials.rows.map((credential) => ({
          hash: credential.hash,
          salt: credential.salt,
          iterations: credential.iterations,
          storedKey: credential.stored_key,
          serverKey: credential.server_key,
        })),
      }
    }, {isolation: 'repeatable read'})
  }

  async getLoginSecrets(host: string, username: string, hash: ScramHash): Promise<LoginSecrets | undefined> {
    const row = (
      await this.db.query<{state: AccountState; disabled_reason: string | null; plaintext: string | null; salt: Buffer | null; iterations: number | null; stored_key: Buffer | null; server_key: Buffer | null}>(
        `SELECT a.state, a.disabled_reason, a.plaintext, c.salt, c.iterations, c.stored_key, c.server_key
         FROM accounts a LEFT JOIN scram_credentials c ON c.host = a.host AND c.username = a.username AND c.hash = $3
         WHERE a.host = $1 AND a.username = $2`,
        [host, username, hash],
      )
    ).rows[0]
    if (!row) return undefined
    return {
      state: row.state,
      disabledReason: row.disabled_reason ?? undefined,
      plaintext: row.plaintext ?? undefined,
      credentials: row.salt && row.stored_key && row.server_key && row.iterations ? {hash, salt: row.salt, iterations: row.iterations, storedKey: row.stored_key, serverKey: row.server_key} : undefined,
    }
  }

  async accountExists(host: string, username: string): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM accounts WHERE host = $1 AND username = $2', [host, username])).rows.length > 0
  }

  async createAccount(host: string, username: string, secrets: AccountSecrets): Promise<void> {
    await this.db.transaction(async (tx) => {
      const inserted = await tx.query("INSERT INTO accounts (host, username, state, created_at, plaintext) VALUES ($1, $2, 'enabled', $3, $4) ON CONFLICT DO NOTHING", [
        host,
        username,
        Date.now(),
        secrets.plaintext ?? null,
      ])
      if (inserted.rowCount === 0) throw new AccountExistsError(`${username}@${host}`)
      await insertCredentials(tx, [[host, username, secrets]])
    })
  }

  async replaceSecrets(host: string, username: string, secrets: AccountSecrets): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const changed = await tx.query('UPDATE accounts SET plaintext = $1 WHERE host = $2 AND username = $3', [secrets.plaintext ?? null, host, username])
      if (changed.rowCount === 0) return false
      await tx.query('DELETE FROM scram_credentials WHERE host = $1 AND username = $2', [host, username])
      await insertCredentials(tx, [[host, username, secrets]])
      return true
    })
  }

  async deleteAccount(host: string, username: string): Promise<boolean> {
    // Deleting the account's row deletes its archive with it, in that one statement, which sql_query_timeout cancels
    // when the archive holds millions of entries (a trigger call each): the account then stays. The entries go
    // first, a batch per statement, in the transaction that then deletes the account: all of it or nothing, and no
    // statement longer than a batch. (Entries archived meanwhile go with the account's row.)
    return this.db.transaction(async (tx) => {
      await deleteArchiveEntries(tx, 'owner = (SELECT owner FROM archive_owners WHERE host = $1 AND username = $2)', [host, username])
      return ((await tx.query('DELETE FROM accounts WHERE host = $1 AND username = $2', [host, username])).rowCount ?? 0) > 0
    })
  }

  async setState(host: string, username: string, state: AccountState, reason?: string): Promise<boolean> {
    const stored = state === 'disabled' ? (reason ?? null) : null
    return ((await this.db.query('UPDATE accounts SET state = $1, disabled_reason = $2 WHERE host = $3 AND username = $4', [state, stored, host, username])).rowCount ?? 0) > 0
  }

  async *listAccounts(host?: string): AsyncIterable<AccountSummary> {
    // Keyset pagination, as the SQLite store: each page is its own short read. COLLATE "C" orders as SQLite does (by bytes).
    let afterHost = ''
    let afterUser = ''
    for (;;) {
      const {rows} = await this.db.query<Omit<AccountRow, 'plaintext'> & {has_plaintext: boolean; hashes: string | null; iterations: number | null}>(
        `SELECT a.host, a.username, a.state, a.disabled_reason, a.created_at, a.plaintext IS NOT NULL AS has_plaintext,
                (SELECT string_agg(hash, ',') FROM scram_credentials c WHERE c.host = a.host AND c.username = a.username) AS hashes,
                (SELECT max(iterations) FROM scram_credentials c WHERE c.host = a.host AND c.username = a.username) AS iterations
         FROM accounts a
         WHERE ($1::text IS NULL OR a.host = $1) AND (a.host COLLATE "C", a.username COLLATE "C") > ($2 COLLATE "C", $3 COLLATE "C")
         ORDER BY a.host COLLATE "C", a.username COLLATE "C"
         LIMIT ${LIST_PAGE_SIZE}`,
        [host ?? null, afterHost, afterUser],
      )
      for (const row of rows) {
        yield {
          host: row.host,
          username: row.username,
          state: row.state,
          disabledReason: row.disabled_reason ?? undefined,
          createdAt: new Date(row.created_at),
          hashes: row.hashes ? (row.hashes.split(',').sort() as ScramHash[]) : [],
          iterations: row.iterations ?? undefined,
          hasPlaintext: row.has_plaintext,
        }
      }

      if (rows.length < LIST_PAGE_SIZE) return
      const last = rows.at(-1)!
      afterHost = last.host
      afterUser = last.username
    }
  }

  async countAccounts(host?: string): Promise<number> {
    return (await this.db.query<{n: number}>('SELECT count(*) AS n FROM accounts WHERE $1::text IS NULL OR host = $1', [host ?? null])).rows[0].n
  }

  async countAccountsLackingHash(host: string, hash: ScramHash): Promise<number> {
    return (
      await this.db.query<{n: number}>(
        `SELECT count(*) AS n FROM accounts a WHERE a.host = $1 AND a.plaintext IS NULL
           AND NOT EXISTS (SELECT 1 FROM scram_credentials c WHERE c.host = a.host AND c.username = a.username AND c.hash = $2)`,
        [host, hash],
      )
    ).rows[0].n
  }

  async listPlaintextAccounts({host, afterHost, afterUser, limit}: {host?: string; afterHost: string; afterUser: string; limit: number}): Promise<PlaintextAccount[]> {
    return (
      await this.db.query<PlaintextAccount>(
        `SELECT host, username, plaintext FROM accounts
         WHERE plaintext IS NOT NULL AND ($1::text IS NULL OR host = $1) AND (host COLLATE "C", username COLLATE "C") > ($2 COLLATE "C", $3 COLLATE "C")
         ORDER BY host COLLATE "C", username COLLATE "C" LIMIT $4`,
        [host ?? null, afterHost, afterUser, limit],
      )
    ).rows
  }

  async countPlaintextAccounts(host?: string): Promise<Map<string, number>> {
    const {rows} = await this.db.query<{host: string; n: number}>(
      'SELECT host, count(*) AS n FROM accounts WHERE plaintext IS NOT NULL AND ($1::text IS NULL OR host = $1) GROUP BY host ORDER BY host COLLATE "C"',
      [host ?? null],
    )
    return new Map(rows.map((row) => [row.host, row.n]))
  }

  async convertToScram(conversions: readonly ScramConversion[]): Promise<number> {
    return this.db.transaction(async (tx) => {
      let converted = 0
      for (const conversion of conversions) {
        // Only if the plaintext is still the one hashed: a concurrent passwd wins.
        const cleared = await tx.query('UPDATE accounts SET plaintext = NULL WHERE host = $1 AND username = $2 AND plaintext = $3', [conversion.host, conversion.username, conversion.plaintext])
        if (cleared.rowCount === 0) continue
        await tx.query('DELETE FROM scram_credentials WHERE host = $1 AND username = $2', [conversion.host, conversion.username])
        await insertCredentials(tx, [[conversion.host, conversion.username, {credentials: conversion.credentials, plaintext: undefined}]])
        converted++
      }

      return converted
    })
  }

  async existingUsernames(host: string, usernames: readonly string[]): Promise<Set<string>> {
    const {rows} = await this.db.query<{username: string}>('SELECT username FROM accounts WHERE host = $1 AND username = ANY($2::text[])', [host, usernames])
    return new Set(rows.map((row) => row.username))
  }

  async bulkLoaded(): Promise<void> {
    // Measured: right after importing 10,000 accounts, the server's count of accounts without a hash's
    // credentials took about 30 s on the statistics of an empty table (a nested loop over both), and
    // every login waited for it; with fresh statistics it takes milliseconds.
    // Only a matter of speed, which autovacuum's next pass also restores: an import that wrote its rows does not fail on it.
    await this.db.query('ANALYZE').catch(() => undefined)
  }

  async importAccounts(accounts: readonly ImportedAccount[]): Promise<ImportOutcome[]> {
    const now = Date.now()
    return this.db.transaction(async (tx) => {
      // One statement creates every absent account of the batch; what it returns is what is new.
      const created = new Set<string>()
      const {rows} = await tx.query<{host: string; username: string}>(
        `INSERT INTO accounts (host, username, state, created_at, plaintext)
         SELECT a.host, a.username, 'enabled', $3, a.plaintext FROM unnest($1::text[], $2::text[], $4::text[]) AS a (host, username, plaintext)
         ON CONFLICT DO NOTHING RETURNING host, username`,
        [accounts.map((account) => account.host), accounts.map((account) => account.username), now, accounts.map((account) => account.secrets.plaintext ?? null)],
      )
      for (const row of rows) created.add(`${row.username}@${row.host}`)
      const credentials: Array<[string, string, AccountSecrets]> = []
      const outcomes: ImportOutcome[] = []
      for (const account of accounts) {
        const key = `${account.username}@${account.host}`
        if (created.has(key)) {
          // A batch that names an account twice creates it once; the second is an existing one.
          created.delete(key)
          credentials.push([account.host, account.username, account.secrets])
          if (account.data) await this.insertImportedData(tx, account.host, account.username, account.data, now)
          outcomes.push('created')
          continue
        }

        if (!account.overwrite) {
          outcomes.push('existing')
          continue
        }

        await tx.query('UPDATE accounts SET plaintext = $1 WHERE host = $2 AND username = $3', [account.secrets.plaintext ?? null, account.host, account.username])
        await tx.query('DELETE FROM scram_credentials WHERE host = $1 AND username = $2', [account.host, account.username])
        credentials.push([account.host, account.username, account.secrets])
        outcomes.push('overwritten')
      }

      await insertCredentials(tx, credentials)
      return outcomes
    })
  }

  async exportAccountData(host: string, username: string): Promise<ExportedAccountData | undefined> {
    return this.db.transaction(async (tx): Promise<ExportedAccountData | undefined> => {
      if ((await tx.query('SELECT 1 FROM accounts WHERE host = $1 AND username = $2', [host, username])).rows.length === 0) return undefined
      const owner = [host, username]
      const roster = await tx.query<{contact: string; name: string | null; subscription: Subscription; ask: number; approved: number; groups: string}>(
        'SELECT contact, name, subscription, ask, approved, groups FROM roster_items WHERE host = $1 AND username = $2 ORDER BY contact COLLATE "C"',
        owner,
      )
      const requests = await tx.query<{contact: string; stanza: string}>('SELECT contact, stanza FROM subscription_requests WHERE host = $1 AND username = $2 ORDER BY created_at', owner)
      const vcard = await tx.query<{vcard: string}>('SELECT vcard FROM vcards WHERE host = $1 AND username = $2', owner)
      const offline = await tx.query<{stanza: string; created_at: number}>('SELECT stanza, created_at FROM offline_messages WHERE host = $1 AND username = $2 ORDER BY id', owner)
      const privateItems = await tx.query<{xml: string}>('SELECT xml FROM private_storage WHERE host = $1 AND username = $2 ORDER BY namespace COLLATE "C", name COLLATE "C"', owner)
      const nodes = await tx.query<{node: string; access_model: AccessModel; persist_items: number; max_items: number | null; send_last_published_item: SendLastPublishedItem}>(
        'SELECT node, access_model, persist_items, max_items, send_last_published_item FROM pep_nodes WHERE host = $1 AND username = $2 ORDER BY node COLLATE "C"',
        owner,
      )
      const pep = []
      for (const row of nodes.rows) {
        const items = await tx.query<{item_id: string; payload: string; publisher: string; published_at: number}>(
          'SELECT item_id, payload, publisher, published_at FROM pep_items WHERE host = $1 AND username = $2 AND node = $3 ORDER BY seq',
          [host, username, row.node],
        )
        const subscribers = await tx.query<{subscriber: string}>(
          'SELECT subscriber FROM pep_subscriptions WHERE host = $1 AND username = $2 AND node = $3 ORDER BY subscribed_at, subscriber COLLATE "C"',
          [host, username, row.node],
        )
        pep.push({
          node: row.node,
          config: {accessModel: row.access_model, persistItems: row.persist_items === 1, maxItems: row.max_items ?? ('max' as const), sendLastPublishedItem: row.send_last_published_item},
          items: items.rows.map((item) => ({id: item.item_id, payload: item.payload, publisher: item.publisher, publishedAt: new Date(item.published_at)})),
          subscribers: subscribers.rows.map((subscription) => subscription.subscriber),
        })
      }

      const archive = await tx.query<{id: number; stanza: string}>(
        'SELECT e.id, s.stanza FROM archive_entries e JOIN archive_owners o ON o.owner = e.owner JOIN archive_stanzas s ON s.id = e.id WHERE o.host = $1 AND o.username = $2 ORDER BY e.id',
        owner,
      )
      return {
        roster: roster.rows.map((row) => ({contact: row.contact, name: row.name ?? undefined, subscription: row.subscription, ask: row.ask === 1, approved: row.approved === 1, groups: JSON.parse(row.groups) as string[]})),
        subscriptionRequests: requests.rows,
        vcard: vcard.rows[0]?.vcard,
        offline: offline.rows.map((row) => ({stanza: row.stanza, createdAt: new Date(row.created_at)})),
        private: privateItems.rows,
        pep,
        archive: archive.rows.map((row) => ({id: String(row.id), at: new Date(Math.floor(row.id / 1000)), stanza: row.stanza})),
      }
    }, {isolation: 'repeatable read'})
  }

  async close(): Promise<void> {
    await this.db.release()
  }

  private async insertImportedData(tx: Queryable, host: string, username: string, data: ImportedAccountData, now: number): Promise<void> {
    await insertRows(
      tx,
      'roster_items',
      ['host', 'username', 'contact', 'name', 'subscription', 'ask', 'groups'],
      ['text', 'text', 'text', 'text', 'text', 'smallint', 'text'],
      data.roster.map((item) => [host, username, item.contact, item.name ?? null, item.subscription, item.ask ? 1 : 0, JSON.stringify(item.groups)]),
    )
    // A roster with items has a version other than the empty roster's (RFC 6121 §2.6).
    if (data.roster.length > 0) await tx.query('INSERT INTO roster_versions (host, username, version, epoch) VALUES ($1, $2, 1, $3)', [host, username, rosterEpoch()])
    await insertRows(
      tx,
      'subscription_requests',
      ['host', 'username', 'contact', 'stanza', 'created_at'],
      ['text', 'text', 'text', 'text', 'bigint'],
      data.subscriptionRequests.map((request) => [host, username, request.contact, request.stanza, now]),
    )
    if (data.vcard !== undefined) await tx.query('INSERT INTO vcards (host, username, vcard) VALUES ($1, $2, $3)', [host, username, data.vcard])
    await insertRows(tx, 'offline_messages', ['host', 'username', 'stanza', 'created_at'], ['text', 'text', 'text', 'bigint'], data.offline.map((message) => [host, username, message.stanza, message.createdAt.getTime()]))
    await insertRows(tx, 'private_storage', ['host', 'username', 'namespace', 'name', 'xml'], ['text', 'text', 'text', 'text', 'text'], data.private.map((item) => [host, username, item.ns, item.name, item.xml]))
    for (const {node, config, items, subscribers} of data.pep) {
      await tx.query('INSERT INTO pep_nodes (host, username, node, access_model, persist_items, max_items, send_last_published_item) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
        host,
        username,
        node,
        config.accessModel,
        config.persistItems ? 1 : 0,
        config.maxItems === 'max' ? null : config.maxItems,
        config.sendLastPublishedItem,
      ])
      await insertRows(
        tx,
        'pep_items',
        ['host', 'username', 'node', 'item_id', 'payload', 'publisher', 'published_at'],
        ['text', 'text', 'text', 'text', 'text', 'text', 'bigint'],
        items.map((item) => [host, username, node, item.id, item.payload, item.publisher, item.publishedAt.getTime()]),
      )
      await insertRows(
        tx,
        'pep_subscriptions',
        ['host', 'username', 'node', 'subscriber', 'subscribed_at'],
        ['text', 'text', 'text', 'text', 'bigint'],
        [...new Set(subscribers ?? [])].map((subscriber) => [host, username, node, subscriber, now]),
      )
    }

    if (data.archive.length === 0) return
    const owner = (
      await tx.query<{owner: number}>('INSERT INTO archive_owners (host, username) VALUES ($1, $2) ON CONFLICT (host, username) DO UPDATE SET host = excluded.host RETURNING owner', [host, username])
    ).rows[0].owner
    for (const message of data.archive) {
      // The archive id is the time of archiving in microseconds, the first free one from there (as the SQLite store does),
      // starting from the last one this import gave from the same instant; an imported one, which no server process
      // hands out (../archive-ids.ts): those it has handed out and not yet written are not here to be seen.
      const base = message.at.getTime() * 1000
      let id = importedArchiveId(Math.max(base, (this.archiveIdHints.get(base) ?? base - 1) + 1))
      while ((await tx.query('INSERT INTO archive_stanzas (id, stanza, refs) VALUES ($1, $2, 1) ON CONFLICT (id) DO NOTHING', [id, message.stanza])).rowCount === 0) id += ARCHIVE_ID_CLASSES
      if (this.archiveIdHints.size >= 100_000) this.archiveIdHints.clear()
      this.archiveIdHints.set(base, id)
      await tx.query('INSERT INTO archive_entries (owner, id, with_jid, with_resource) VALUES ($1, $2, $3, $4)', [owner, id, message.with, message.withResource])
    }
  }
}

/** The credentials of several accounts, in one statement. */
async function insertCredentials(tx: Queryable, accounts: ReadonlyArray<readonly [host: string, username: string, secrets: AccountSecrets]>): Promise<void> {
  await insertRows(
    tx,
    'scram_credentials',
    ['host', 'username', 'hash', 'salt', 'iterations', 'stored_key', 'server_key'],
    ['text', 'text', 'text', 'bytea', 'integer', 'bytea', 'bytea'],
    accounts.flatMap(([host, username, secrets]) => secrets.credentials.map((credential) => [host, username, credential.hash, credential.salt, credential.iterations, credential.storedKey, credential.serverKey])),
  )
}

