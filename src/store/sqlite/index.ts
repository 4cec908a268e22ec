import Database from './driver.js'
import {randomBytes} from 'node:crypto'
import {closeSync, constants, copyFileSync, existsSync, linkSync, mkdirSync, openSync, rmSync, statSync} from 'node:fs'
import path from 'node:path'

import {AccountExistsError, ExitCode, StoreError, osErrorText} from '../../errors.js'
import {processUserName} from '../../process-user.js'
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
import {ARCHIVE_ID_CLASSES, importedArchiveId} from '../archive-ids.js'
import type {AccessModel, SendLastPublishedItem} from '../pep-store.js'
import type {Subscription} from '../roster-store.js'
import {APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION} from './schema.js'
import {COPY_PROGRESS_TABLE, unfinishedCopy} from '../copy-marker.js'
import {outdatedStore} from '../outdated.js'

export const STORE_FILE = 'accounts.sqlite'

/** Credential rows per INSERT statement during imports (7 parameters each, well under SQLite's limit). */
const CREDENTIAL_ROWS_PER_INSERT = 128
/** Archive id hints an import keeps (a number each), cleared when full. */
const ARCHIVE_ID_HINTS = 100_000
/** Roster rows per INSERT statement during imports (7 parameters each); the rest of an account's roster goes one row at a time. */
const ROSTER_ROWS_PER_INSERT = 16

/** Rows read per query while listing, so a million accounts never sit in memory. */
const LIST_PAGE_SIZE = 1000

interface AccountRow {
  host: string
  username: string
  state: AccountState
  disabled_reason: string | null
  created_at: number
  plaintext: string | null
}

interface CredentialRow {
  hash: ScramHash
  salt: Buffer
  iterations: number
  stored_key: Buffer
  server_key: Buffer
}

/** An account row with its credentials for one hash, all NULL when it has none (LEFT JOIN). */
interface LoginSecretsRow extends Pick<AccountRow, 'state' | 'disabled_reason' | 'plaintext'> {
  salt: Buffer | null
  iterations: number | null
  stored_key: Buffer | null
  server_key: Buffer | null
}

interface SummaryRow extends Omit<AccountRow, 'plaintext'> {
  hashes: string | null
  iterations: number | null
  has_plaintext: number
}

function isSqliteError(error: unknown, ...codes: string[]): boolean {
  return error instanceof Error && 'code' in error && codes.includes(String((error as {code: unknown}).code))
}

/**
 * Creates the data directory (0700) and a new store (0600) with their final
 * modes from the start, so there is never a moment where they are readable by
 * others; SQLite gives its -wal and -shm files the database's mode.
 *
 * The store is built whole under a temporary name and linked into place, so
 * that its file never exists without its schema: an existing file that holds
 * no store (0 bytes, say, after a failed restore) is then damage to report,
 * never a store to initialise (which would lose every account without a word).
 * link() fails if the name exists: of several processes creating the store at
 * once, one wins and the others open its store.
 */
function createStore(dataDir: string, file: string): void {
  const cannotCreate = (what: string, error: unknown) =>
    new StoreError('store-unwritable', `cannot create ${what}: ${osErrorText(error)}`, 'set data_dir to a directory this user can write, or fix its permissions', error)
  try {
    mkdirSync(dataDir, {recursive: true, mode: 0o700})
  } catch (error) {
    throw cannotCreate(`data directory ${dataDir}`, error)
  }

  const temporary = path.join(dataDir, `.${STORE_FILE}.${process.pid}.${randomBytes(6).toString('hex')}`)
  try {
    closeSync(openSync(temporary, 'wx', 0o600))
    const db = new Database(temporary, {fileMustExist: true})
    try {
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = FULL')
      db.transaction(() => runMigrations(db, 0))()
    } finally {
      // Closing checkpoints the write-ahead log into the file and removes it.
      db.close()
    }

    linkOrCopy(temporary, file)
  } catch (error) {
    if (error instanceof StoreError) throw error
    throw cannotCreate(`account store ${file}`, error)
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${temporary}${suffix}`, {force: true})
  }
}

/** Puts `temporary` at `file` unless `file` exists (then another process made the store: it is used). */
function linkOrCopy(temporary: string, file: string): void {
  try {
    linkSync(temporary, file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return
    // File systems without hard links: a copy that still refuses to replace a file.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error
    try {
      copyFileSync(temporary, file, constants.COPYFILE_EXCL)
    } catch (copyError) {
      if ((copyError as NodeJS.ErrnoException).code !== 'EEXIST') throw copyError
    }
  }
}

export class SqliteAccountStore implements AccountStore {
  readonly location: string
  private readonly db: Database.Database
  private readonly statements
  private readonly insertCredentialRows: Database.Statement
  /** Prepared on the first import that brings per-account data: the tables of the server's modules (migrations 2 and 4). */
  private importData: ReturnType<typeof prepareImportData> | undefined
  /** Per first archive id of an import, the last id given from it (insertImportedData). */
  private readonly archiveIdHints = new Map<number, number>()
  private exportData: ReturnType<typeof prepareExportData> | undefined

  private constructor(file: string, db: Database.Database) {
    this.location = file
    this.db = db
    this.insertCredentialRows = db.prepare(
      `INSERT INTO scram_credentials (host, username, hash, salt, iterations, stored_key, server_key) VALUES ${Array.from({length: CREDENTIAL_ROWS_PER_INSERT}, () => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
    )
    this.statements = {
      account: db.prepare<[string, string], AccountRow>(
        'SELECT host, username, state, disabled_reason, created_at, plaintext FROM accounts WHERE host = ? AND username = ?',
      ),
      credentials: db.prepare<[string, string], CredentialRow>(
        'SELECT hash, salt, iterations, stored_key, server_key FROM scram_credentials WHERE host = ? AND username = ? ORDER BY hash',
      ),
      loginSecrets: db.prepare<[string, string, string], LoginSecretsRow>(
        `SELECT a.state, a.disabled_reason, a.plaintext, c.salt, c.iterations, c.stored_key, c.server_key
         FROM accounts a LEFT JOIN scram_credentials c ON c.host = a.host AND c.username = a.username AND c.hash = ?
         WHERE a.host = ? AND a.username = ?`,
      ),
      exists: db.prepare<[string, string], {found: number}>('SELECT 1 AS found FROM accounts WHERE host = ? AND username = ?'),
      insertAccount: db.prepare(
        'INSERT INTO accounts (host, username, state, created_at, plaintext) VALUES (?, ?, \'enabled\', ?, ?)',
      ),
      setPlaintext: db.prepare('UPDATE accounts SET plaintext = ? WHERE host = ? AND username = ?'),
      deleteCredentials: db.prepare('DELETE FROM scram_credentials WHERE host = ? AND username = ?'),
      insertCredential: db.prepare(
        'INSERT INTO scram_credentials (host, username, hash, salt, iterations, stored_key, server_key) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      deleteAccount: db.prepare('DELETE FROM accounts WHERE host = ? AND username = ?'),
      setState: db.prepare('UPDATE accounts SET state = ?, disabled_reason = ? WHERE host = ? AND username = ?'),
      insertAccountIfAbsent: db.prepare(
        'INSERT INTO accounts (host, username, state, created_at, plaintext) VALUES (?, ?, \'enabled\', ?, ?) ON CONFLICT DO NOTHING',
      ),
      clearPlaintext: db.prepare('UPDATE accounts SET plaintext = NULL WHERE host = ? AND username = ? AND plaintext = ?'),
      plaintextPage: db.prepare<[string, string, number], PlaintextAccount>(
        `SELECT host, username, plaintext FROM accounts WHERE plaintext IS NOT NULL AND (host, username) > (?, ?)
         ORDER BY host, username LIMIT ?`,
      ),
      plaintextPageHost: db.prepare<[string, string, string, number], PlaintextAccount>(
        `SELECT host, username, plaintext FROM accounts WHERE host = ? AND plaintext IS NOT NULL AND (host, username) > (?, ?)
         ORDER BY host, username LIMIT ?`,
      ),
      countPlaintext: db.prepare<[], {host: string; n: number}>('SELECT host, count(*) AS n FROM accounts WHERE plaintext IS NOT NULL GROUP BY host ORDER BY host'),
      count: db.prepare<[], {n: number}>('SELECT count(*) AS n FROM accounts'),
      countHost: db.prepare<[string], {n: number}>('SELECT count(*) AS n FROM accounts WHERE host = ?'),
      countLackingHash: db.prepare<[string, ScramHash], {n: number}>(
        `SELECT count(*) AS n FROM accounts a WHERE a.host = ? AND a.plaintext IS NULL
           AND NOT EXISTS (SELECT 1 FROM scram_credentials c WHERE c.host = a.host AND c.username = a.username AND c.hash = ?)`,
      ),
    }
  }

  /**
   * Opens the store in `dataDir`, creating it only where no file exists,
   * unless `create` is false: a command that only reads must not leave a new
   * store behind in whatever directory it was run from, nor answer "no such
   * account" from an empty one. `verify` (server start) also checks every
   * page and the schema, and that this process may write: a server must not
   * start on a store that fails only at the first login or the first write.
   */
  /** `migrate: false` (update_sql_schema: false): a store with pending migrations is an error naming `xmppctl db migrate`. */
  static open(dataDir: string, {create = true, verify = false, migrate = true, notMigrating}: {create?: boolean; verify?: boolean; migrate?: boolean; notMigrating?: string} = {}): SqliteAccountStore {
    const file = path.join(dataDir, STORE_FILE)
    if (!existsSync(file)) {
      if (!create) {
        throw new StoreError('store-missing', `there is no account store in ${dataDir}`, 'check data_dir and --config (relative data_dir is relative to the configuration file); "xmppctl user add" creates the store')
      }

      createStore(dataDir, file)
    }

    let db: Database.Database
    try {
      db = new Database(file, {timeout: 5000, fileMustExist: true})
    } catch (error) {
      throw new StoreError('store-unwritable', `cannot open account store ${file}: ${osErrorText(error)}`, 'check the permissions of the data directory', error)
    }

    try {
      prepareDatabase(db, file, migrate, notMigrating)
      if (verify) verifyDatabase(db, file)
      return translatingErrors(new SqliteAccountStore(file, db), file)
    } catch (error) {
      db.close()
      if (error instanceof StoreError) throw error
      if (isSqliteError(error, 'SQLITE_NOTADB', 'SQLITE_CORRUPT')) {
        throw new StoreError(
          'store-corrupt',
          `${file} is not a usable SQLite database (${(error as Error).message})`,
          'restore it from a backup, or move it away to start a new store',
          error,
        )
      }

      if (isReadOnlyError(error)) throw readOnlyStore(file, error)
      throw storeErrorFrom(error, file)
    }
  }

  async getAccount(host: string, username: string): Promise<StoredAccount | undefined> {
    const row = this.statements.account.get(host, username)
    if (!row) return undefined
    const credentials = this.statements.credentials.all(host, username).map((credential) => ({
      hash: credential.hash,
      salt: credential.salt,
      iterations: credential.iterations,
      storedKey: credential.stored_key,
      serverKey: credential.server_key,
    }))
    return {
      host: row.host,
      username: row.username,
      state: row.state,
      disabledReason: row.disabled_reason ?? undefined,
      createdAt: new Date(row.created_at),
      plaintext: row.plaintext ?? undefined,
      credentials,
    }
  }

  async getLoginSecrets(host: string, username: string, hash: ScramHash): Promise<LoginSecrets | undefined> {
    const row = this.statements.loginSecrets.get(hash, host, username)
    if (!row) return undefined
    return {
      state: row.state,
      disabledReason: row.disabled_reason ?? undefined,
      plaintext: row.plaintext ?? undefined,
      credentials:
        row.salt === null ? undefined : {hash, salt: row.salt, iterations: row.iterations!, storedKey: row.stored_key!, serverKey: row.server_key!},
    }
  }

  async accountExists(host: string, username: string): Promise<boolean> {
    return this.statements.exists.get(host, username) !== undefined
  }

  async createAccount(host: string, username: string, secrets: AccountSecrets): Promise<void> {
    this.db.transaction(() => {
      try {
        this.statements.insertAccount.run(host, username, Date.now(), secrets.plaintext ?? null)
      } catch (error) {
        if (isSqliteError(error, 'SQLITE_CONSTRAINT_PRIMARYKEY')) throw new AccountExistsError(`${username}@${host}`)
        throw error
      }

      this.insertCredentials(host, username, secrets)
    }).immediate()
  }

  async replaceSecrets(host: string, username: string, secrets: AccountSecrets): Promise<boolean> {
    return this.db.transaction(() => {
      const changed = this.statements.setPlaintext.run(secrets.plaintext ?? null, host, username).changes
      if (changed === 0) return false
      this.statements.deleteCredentials.run(host, username)
      this.insertCredentials(host, username, secrets)
      return true
    }).immediate()
  }

  async deleteAccount(host: string, username: string): Promise<boolean> {
    return this.statements.deleteAccount.run(host, username).changes > 0
  }

  async setState(host: string, username: string, state: AccountState, reason?: string): Promise<boolean> {
    const stored = state === 'disabled' ? (reason ?? null) : null
    return this.statements.setState.run(state, stored, host, username).changes > 0
  }

  async *listAccounts(host?: string): AsyncIterable<AccountSummary> {
    // Keyset pagination: each page is its own short read, so no statement stays
    // open across the consumer's awaits and writers are never blocked for long.
    const page = this.db.prepare<unknown[], SummaryRow>(`
      SELECT a.host, a.username, a.state, a.disabled_reason, a.created_at, a.plaintext IS NOT NULL AS has_plaintext,
             (SELECT group_concat(hash) FROM scram_credentials c WHERE c.host = a.host AND c.username = a.username) AS hashes,
             (SELECT max(iterations) FROM scram_credentials c WHERE c.host = a.host AND c.username = a.username) AS iterations
      FROM accounts a
      WHERE ${host === undefined ? '' : 'a.host = @host AND '}(a.host, a.username) > (@afterHost, @afterUser)
      ORDER BY a.host, a.username
      LIMIT ${LIST_PAGE_SIZE}`)
    let afterHost = ''
    let afterUser = ''
    for (;;) {
      const rows = page.all({host, afterHost, afterUser})
      for (const row of rows) {
        yield {
          host: row.host,
          username: row.username,
          state: row.state,
          disabledReason: row.disabled_reason ?? undefined,
          createdAt: new Date(row.created_at),
          hashes: row.hashes ? (row.hashes.split(',').sort() as ScramHash[]) : [],
          iterations: row.iterations ?? undefined,
          hasPlaintext: row.has_plaintext === 1,
        }
      }

      if (rows.length < LIST_PAGE_SIZE) return
      const last = rows.at(-1)!
      afterHost = last.host
      afterUser = last.username
    }
  }

  async countAccounts(host?: string): Promise<number> {
    return (host === undefined ? this.statements.count.get()! : this.statements.countHost.get(host)!).n
  }

  async countAccountsLackingHash(host: string, hash: ScramHash): Promise<number> {
    return this.statements.countLackingHash.get(host, hash)!.n
  }

  async listPlaintextAccounts(options: {host?: string; afterHost: string; afterUser: string; limit: number}): Promise<PlaintextAccount[]> {
    const {host, afterHost, afterUser, limit} = options
    return host === undefined
      ? this.statements.plaintextPage.all(afterHost, afterUser, limit)
      : this.statements.plaintextPageHost.all(host, afterHost, afterUser, limit)
  }

  async countPlaintextAccounts(host?: string): Promise<Map<string, number>> {
    const counts = new Map<string, number>()
    for (const row of this.statements.countPlaintext.all()) if (host === undefined || row.host === host) counts.set(row.host, row.n)
    return counts
  }

  async convertToScram(conversions: readonly ScramConversion[]): Promise<number> {
    return this.db.transaction(() => {
      let converted = 0
      for (const conversion of conversions) {
        // Only if the plaintext is still the one hashed: a concurrent passwd wins.
        if (this.statements.clearPlaintext.run(conversion.host, conversion.username, conversion.plaintext).changes === 0) continue
        this.statements.deleteCredentials.run(conversion.host, conversion.username)
        this.insertCredentials(conversion.host, conversion.username, {credentials: conversion.credentials, plaintext: undefined})
        converted++
      }

      return converted
    }).immediate()
  }

  async existingUsernames(host: string, usernames: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>()
    // Bounded by SQLite's parameter limit (32766), in chunks.
    for (let start = 0; start < usernames.length; start += 500) {
      const chunk = usernames.slice(start, start + 500)
      const rows = this.db
        .prepare<unknown[], {username: string}>(`SELECT username FROM accounts WHERE host = ? AND username IN (${chunk.map(() => '?').join(',')})`)
        .all(host, ...chunk)
      for (const row of rows) found.add(row.username)
    }

    return found
  }

  async importAccounts(accounts: readonly ImportedAccount[]): Promise<ImportOutcome[]> {
    const now = Date.now()
    return this.db.transaction(() => {
      // Credentials of new accounts are inserted many rows per statement: far
      // fewer calls into SQLite for an import of a million accounts.
      const pending: unknown[] = []
      const outcomes = accounts.map((account): ImportOutcome => {
        if (this.statements.insertAccountIfAbsent.run(account.host, account.username, now, account.secrets.plaintext ?? null).changes > 0) {
          for (const credential of account.secrets.credentials) {
            pending.push(account.host, account.username, credential.hash, credential.salt, credential.iterations, credential.storedKey, credential.serverKey)
          }

          if (account.data) this.insertImportedData(account.host, account.username, account.data, now)
          return 'created'
        }

        if (!account.overwrite) return 'existing'
        this.statements.setPlaintext.run(account.secrets.plaintext ?? null, account.host, account.username)
        this.statements.deleteCredentials.run(account.host, account.username)
        this.insertCredentials(account.host, account.username, account.secrets)
        return 'overwritten'
      })
      const width = 7 * CREDENTIAL_ROWS_PER_INSERT
      let start = 0
      for (; start + width <= pending.length; start += width) this.insertCredentialRows.run(...pending.slice(start, start + width))
      for (; start < pending.length; start += 7) this.statements.insertCredential.run(...pending.slice(start, start + 7))
      return outcomes
    }).immediate()
  }

  async exportAccountData(host: string, username: string): Promise<ExportedAccountData | undefined> {
    const statements = (this.exportData ??= prepareExportData(this.db))
    return this.db.transaction((): ExportedAccountData | undefined => {
      if (!this.statements.exists.get(host, username)) return undefined
      const nodes = statements.pepNodes.all(host, username) as Array<{node: string; access_model: AccessModel; persist_items: number; max_items: number | null; send_last_published_item: SendLastPublishedItem}>
      return {
        roster: (statements.roster.all(host, username) as Array<{contact: string; name: string | null; subscription: Subscription; ask: number; approved: number; groups: string}>).map((row) => ({
          contact: row.contact,
          name: row.name ?? undefined,
          subscription: row.subscription,
          ask: row.ask === 1,
          approved: row.approved === 1,
          groups: JSON.parse(row.groups) as string[],
        })),
        subscriptionRequests: statements.requests.all(host, username) as Array<{contact: string; stanza: string}>,
        vcard: (statements.vcard.get(host, username) as {vcard: string} | undefined)?.vcard,
        offline: (statements.offline.all(host, username) as Array<{stanza: string; created_at: number}>).map((row) => ({stanza: row.stanza, createdAt: new Date(row.created_at)})),
        private: statements.private.all(host, username) as Array<{xml: string}>,
        pep: nodes.map((row) => ({
          node: row.node,
          config: {accessModel: row.access_model, persistItems: row.persist_items === 1, maxItems: row.max_items ?? 'max', sendLastPublishedItem: row.send_last_published_item},
          items: (statements.pepItems.all(host, username, row.node) as Array<{item_id: string; payload: string; publisher: string; published_at: number}>).map((item) => ({
            id: item.item_id,
            payload: item.payload,
            publisher: item.publisher,
            publishedAt: new Date(item.published_at),
          })),
          subscribers: (statements.pepSubscribers.all(host, username, row.node) as Array<{subscriber: string}>).map((subscription) => subscription.subscriber),
        })),
        archive: (statements.archive.all(host, username) as Array<{id: number; stanza: string}>).map((row) => ({id: String(row.id), at: new Date(Math.floor(row.id / 1000)), stanza: row.stanza})),
      }
    })()
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close()
  }

  private insertImportedData(host: string, username: string, data: ImportedAccountData, now: number): void {
    const statements = (this.importData ??= prepareImportData(this.db))
    // Many rows per statement, as for credentials: one call into SQLite per ROSTER_ROWS_PER_INSERT items, not per item.
    const roster = data.roster
    let start = 0
    if (roster.length >= ROSTER_ROWS_PER_INSERT) {
      const values: unknown[] = Array.from({length: 7 * ROSTER_ROWS_PER_INSERT})
      for (; start + ROSTER_ROWS_PER_INSERT <= roster.length; start += ROSTER_ROWS_PER_INSERT) {
        for (let index = 0; index < ROSTER_ROWS_PER_INSERT; index++) {
          const item = roster[start + index]
          const at = 7 * index
          values[at] = host
          values[at + 1] = username
          values[at + 2] = item.contact
          values[at + 3] = item.name ?? null
          values[at + 4] = item.subscription
          values[at + 5] = item.ask ? 1 : 0
          values[at + 6] = JSON.stringify(item.groups)
        }

        statements.rosterItems.run(values)
      }
    }

    for (const item of roster.slice(start)) {
      statements.rosterItem.run(host, username, item.contact, item.name ?? null, item.subscription, item.ask ? 1 : 0, JSON.stringify(item.groups))
    }

    // A roster with items has a version other than the empty roster's (RFC 6121 §2.6), as sqlite/roster.ts gives each write.
    if (data.roster.length > 0) statements.rosterVersion.run(host, username)

    for (const request of data.subscriptionRequests) statements.subscriptionRequest.run(host, username, request.contact, request.stanza, now)
    if (data.vcard !== undefined) statements.vcard.run(host, username, data.vcard)
    for (const message of data.offline) statements.offline.run(host, username, message.stanza, message.createdAt.getTime())
    for (const item of data.private) statements.private.run(host, username, item.ns, item.name, item.xml)
    for (const {node, config, items, subscribers} of data.pep) {
      statements.pepNode.run(host, username, node, config.accessModel, config.persistItems ? 1 : 0, config.maxItems === 'max' ? null : config.maxItems, config.sendLastPublishedItem)
      for (const item of items) statements.pepItem.run(host, username, node, item.id, item.payload, item.publisher, item.publishedAt.getTime())
      for (const subscriber of subscribers ?? []) statements.pepSubscription.run(host, username, node, subscriber, now)
    }

    if (data.archive.length > 0) {
      const owner = statements.archiveOwner.get(host, username)!.owner
      for (const message of data.archive) {
        // The archive id is the time of archiving in microseconds (migration 7), so that the message keeps its
        // place and its date in XEP-0313 queries; the first free one from there, as ids are unique across archives.
        // Messages archived in the same millisecond (in several accounts: both sides of a chat, a busy server) share their
        // first id: the last one this import gave from there is where to look on, or the search would go quadratic
        // (measured: 100,000 messages of 2,000 accounts at the same 50 instants took 120 s). The hint is checked like any other.
        // An imported id, which the server never hands out (../archive-ids.ts): those it has handed out and not yet
        // written (its writer commits once a second), or will hand out when the clock reaches a stamp from the future,
        // are not here to be seen.
        const base = message.at.getTime() * 1000
        let id = importedArchiveId(Math.max(base, (this.archiveIdHints.get(base) ?? base - 1) + 1))
        while (statements.archiveIdTaken.get(id)) id += ARCHIVE_ID_CLASSES
        if (this.archiveIdHints.size >= ARCHIVE_ID_HINTS) this.archiveIdHints.clear()
        this.archiveIdHints.set(base, id)
        statements.archiveStanza.run(id, message.stanza)
        statements.archiveEntry.run(owner, id, message.with, message.withResource)
      }
    }
  }

  private insertCredentials(host: string, username: string, secrets: AccountSecrets): void {
    for (const credential of secrets.credentials) {
      this.statements.insertCredential.run(
        host,
        username,
        credential.hash,
        credential.salt,
        credential.iterations,
        credential.storedKey,
        credential.serverKey,
      )
    }
  }
}

/** The reads of an export: each table of an account's data, in the order its module keeps it. */
function prepareExportData(db: Database.Database) {
  return {
    roster: db.prepare('SELECT contact, name, subscription, ask, approved, groups FROM roster_items WHERE host = ? AND username = ? ORDER BY contact'),
    requests: db.prepare('SELECT contact, stanza FROM subscription_requests WHERE host = ? AND username = ? ORDER BY created_at'),
    vcard: db.prepare('SELECT vcard FROM vcards WHERE host = ? AND username = ?'),
    offline: db.prepare('SELECT stanza, created_at FROM offline_messages WHERE host = ? AND username = ? ORDER BY id'),
    private: db.prepare('SELECT xml FROM private_storage WHERE host = ? AND username = ? ORDER BY namespace, name'),
    pepNodes: db.prepare('SELECT node, access_model, persist_items, max_items, send_last_published_item FROM pep_nodes WHERE host = ? AND username = ? ORDER BY node'),
    pepItems: db.prepare('SELECT item_id, payload, publisher, published_at FROM pep_items WHERE host = ? AND username = ? AND node = ? ORDER BY seq'),
    pepSubscribers: db.prepare('SELECT subscriber FROM pep_subscriptions WHERE host = ? AND username = ? AND node = ? ORDER BY subscribed_at, subscriber'),
    archive: db.prepare(
      'SELECT e.id, s.stanza FROM archive_entries e JOIN archive_owners o ON o.owner = e.owner JOIN archive_stanzas s ON s.id = e.id WHERE o.host = ? AND o.username = ? ORDER BY e.id',
    ),
  }
}

/** The writes of an import's per-account data, into the tables sqlite/roster.ts reads. */
function prepareImportData(db: Database.Database) {
  return {
    rosterItem: db.prepare('INSERT INTO roster_items (host, username, contact, name, subscription, ask, groups) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    rosterItems: db.prepare(`INSERT INTO roster_items (host, username, contact, name, subscription, ask, groups) VALUES ${Array.from({length: ROSTER_ROWS_PER_INSERT}, () => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`),
    rosterVersion: db.prepare('INSERT INTO roster_versions (host, username, version, epoch) VALUES (?, ?, 1, lower(hex(randomblob(6))))'),
    subscriptionRequest: db.prepare('INSERT INTO subscription_requests (host, username, contact, stanza, created_at) VALUES (?, ?, ?, ?, ?)'),
    vcard: db.prepare('INSERT INTO vcards (host, username, vcard) VALUES (?, ?, ?)'),
    offline: db.prepare('INSERT INTO offline_messages (host, username, stanza, created_at) VALUES (?, ?, ?, ?)'),
    private: db.prepare('INSERT INTO private_storage (host, username, namespace, name, xml) VALUES (?, ?, ?, ?, ?)'),
    pepNode: db.prepare('INSERT INTO pep_nodes (host, username, node, access_model, persist_items, max_items, send_last_published_item) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    pepItem: db.prepare('INSERT INTO pep_items (host, username, node, item_id, payload, publisher, published_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    pepSubscription: db.prepare('INSERT OR IGNORE INTO pep_subscriptions (host, username, node, subscriber, subscribed_at) VALUES (?, ?, ?, ?, ?)'),
    // A new account has no owner number yet; one that came back for another gets a new one (migration 9).
    archiveOwner: db.prepare<[string, string], {owner: number}>(
      'INSERT INTO archive_owners (host, username) VALUES (?, ?) ON CONFLICT (host, username) DO UPDATE SET host = excluded.host RETURNING owner',
    ),
    archiveIdTaken: db.prepare<[number], {found: number}>('SELECT 1 AS found FROM archive_stanzas WHERE id = ?'),
    archiveStanza: db.prepare('INSERT INTO archive_stanzas (id, stanza, refs) VALUES (?, ?, 1)'),
    archiveEntry: db.prepare('INSERT INTO archive_entries (owner, id, with_jid, with_resource) VALUES (?, ?, ?, ?)'),
  }
}

const RESTORE_HINT = 'restore it from a backup'

/** Runs the migrations after `from` and marks the file as ours; inside a write transaction. */
function runMigrations(db: Database.Database, from: number): void {
  for (const migration of MIGRATIONS.slice(from)) db.exec(migration)
  db.pragma(`application_id = ${APPLICATION_ID}`)
  db.pragma(`user_version = ${SCHEMA_VERSION}`)
}

/** Checks the file is ours, brings its schema up to date (unless `migrate` is false: then a pending migration is an error), sets WAL. */
function prepareDatabase(db: Database.Database, file: string, migrate = true, notMigrating?: string): void {
  // One read transaction, so that the three come from the same version of the file.
  const {applicationId, version, tables} = db.transaction(() => ({
    applicationId: db.pragma('application_id', {simple: true}) as number,
    version: db.pragma('user_version', {simple: true}) as number,
    tables: (db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as {n: number}).n,
  }))()
  if (applicationId === 0 && version === 0 && tables === 0) {
    // createStore never leaves a file without its schema: this one lost its content (an interrupted
    // copy or restore, a full disk). Made into a new store, it would lose every account without a word.
    const size = statSync(file).size
    throw new StoreError(
      'store-empty',
      `the account store ${file} is empty (${size === 0 ? '0 bytes' : 'no tables'}), not a store`,
      `${RESTORE_HINT}; if it never held accounts, remove it and xmppctl creates a new store`,
    )
  }

  if (applicationId !== APPLICATION_ID) {
    throw new StoreError(
      'store-foreign',
      `${file} is a SQLite database of another program, not an xmppctl account store`,
      'point data_dir at a directory of its own, or move the file away',
    )
  }

  if (db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(COPY_PROGRESS_TABLE)) throw unfinishedCopy(file)

  if (version > SCHEMA_VERSION) {
    throw new StoreError(
      'store-too-new',
      `${file} has schema version ${version}, newer than this xmppctl understands (${SCHEMA_VERSION})`,
      'upgrade xmppctl',
    )
  }

  if (version < SCHEMA_VERSION && !migrate) {
    throw outdatedStore(file, version, SCHEMA_VERSION, notMigrating)
  }

  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('foreign_keys = ON')
  if (version === SCHEMA_VERSION) return
  db.transaction(() => {
    // Read again under the write lock: another process may have migrated it since.
    const current = db.pragma('user_version', {simple: true}) as number
    if (current < SCHEMA_VERSION) runMigrations(db, current)
  }).immediate()
}

/** The tables the migrations create and do not drop again: a store at SCHEMA_VERSION has every one. */
const SCHEMA_TABLES = [
  ...MIGRATIONS.reduce((tables, migration) => {
    for (const [, action, name] of migration.matchAll(/(CREATE|DROP) TABLE (?:IF (?:NOT )?EXISTS )?(\w+)/gi)) {
      if (action.toUpperCase() === 'CREATE') tables.add(name)
      else tables.delete(name)
    }

    return tables
  }, new Set<string>()),
]

/**
 * What the server checks before it serves a store: every page readable
 * (quick_check: b-trees, records, free list; not the indexes' contents),
 * every table of the schema present, and writing possible. A
 * store failing one of these would pass for an empty one, reject every login
 * as a wrong password, or end a session at its first write.
 */
function verifyDatabase(db: Database.Database, file: string): void {
  let problems: string[]
  try {
    // One row per problem, or one row of lines; the "*** in database main ***" heading says nothing here.
    problems = (db.pragma('quick_check(5)') as Array<{quick_check: string}>)
      .flatMap((row) => row.quick_check.split('\n'))
      .filter((line) => line !== 'ok' && !/^\*\*\* in database \w+ \*\*\*$/.test(line))
  } catch (error) {
    if (!isSqliteError(error, 'SQLITE_CORRUPT', 'SQLITE_NOTADB')) throw error
    problems = [(error as Error).message]
  }

  if (problems.length > 0) {
    throw new StoreError('store-corrupt', `the account store ${file} is damaged (${problems[0]}${problems.length > 1 ? '; and more' : ''})`, RESTORE_HINT)
  }

  const present = new Set((db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all() as Array<{name: string}>).map((row) => row.name))
  const missing = SCHEMA_TABLES.filter((table) => !present.has(table))
  if (missing.length > 0) {
    throw new StoreError('store-corrupt', `the account store ${file} is damaged (no table ${missing.join(', ')}, which schema version ${SCHEMA_VERSION} has)`, RESTORE_HINT)
  }

  try {
    // A write rolled back: BEGIN IMMEDIATE alone succeeds on a read-only file in WAL mode.
    db.exec('BEGIN IMMEDIATE')
    db.pragma(`user_version = ${SCHEMA_VERSION}`)
  } catch (error) {
    if (isReadOnlyError(error)) throw readOnlyStore(file, error)
    throw error
  } finally {
    if (db.inTransaction) db.exec('ROLLBACK')
  }
}

/** The file, or its directory (where the -wal and -shm files go), is read-only to this process. */
function isReadOnlyError(error: unknown): boolean {
  const code = error instanceof Error && 'code' in error ? String((error as {code: unknown}).code) : ''
  return code.startsWith('SQLITE_READONLY') || ['SQLITE_CANTOPEN', 'SQLITE_PERM', 'SQLITE_IOERR_SHMOPEN'].includes(code)
}

function readOnlyStore(file: string, error: unknown): StoreError {
  const user = processUserName()
  return new StoreError(
    'store-unwritable',
    `cannot write account store ${file} as user ${user}: ${(error as Error).message}`,
    `run xmppctl as the user that owns the data directory, or give ${user} write access to ${path.dirname(file)} and the store file in it`,
    error,
  )
}

/**
 * SQLite errors raised after the store opened (a lock held past the busy
 * timeout, corruption found by a query, a full disk) become StoreErrors with
 * an exit code that says what happened; otherwise they would read as a bug.
 */
export function storeErrorFrom(error: unknown, file: string): unknown {
  if (isSqliteError(error, 'SQLITE_BUSY', 'SQLITE_LOCKED')) {
    return new StoreError('store-busy', `the account store ${file} stayed locked by another process for 5 s`, 'retry; if it persists, look for a process holding it (fuser on the file)', error, ExitCode.unavailable)
  }

  if (isSqliteError(error, 'SQLITE_CORRUPT', 'SQLITE_NOTADB')) {
    return new StoreError('store-corrupt', `the account store ${file} is damaged (${(error as Error).message})`, 'restore it from a backup ("xmppctl user export" of a good copy), or move it away', error)
  }

  if (isSqliteError(error, 'SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_READONLY')) {
    return new StoreError('store-io', `cannot write the account store ${file}: ${(error as Error).message}`, 'check free disk space and the permissions of the data directory', error, ExitCode.unavailable)
  }

  return error
}

/** The store with every method's SQLite errors translated by storeErrorFrom. */
export function translatingErrors<Store extends object>(store: Store, file: string): Store {
  const translate = (error: unknown) => {
    throw storeErrorFrom(error, file)
  }

  // One wrapper per method, made on its first use: the server calls some (the archive's add) for every message.
  const wrappers = new Map<PropertyKey, {method: unknown; wrapper: (...args: unknown[]) => unknown}>()
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      const known = wrappers.get(property)
      if (known?.method === value) return known.wrapper
      const wrapper = (...args: unknown[]) => {
        try {
          const result = value.apply(target, args)
          if (result instanceof Promise) return result.catch(translate)
          if (result && typeof result === 'object' && Symbol.asyncIterator in result) return translateIteration(result as AsyncIterable<unknown>, translate)
          return result
        } catch (error) {
          return translate(error)
        }
      }
      wrappers.set(property, {method: value, wrapper})
      return wrapper
    },
  })
}

async function* translateIteration<T>(items: AsyncIterable<T>, translate: (error: unknown) => never): AsyncIterable<T> {
  try {
    yield* items
  } catch (error) {
    translate(error)
  }
}

/** What `xmppctl db status` shows of a SQLite store: its schema version against this xmppctl's, read without changing the file. */
export interface SqliteSchemaStatus {
  file: string
  /** Null when there is no store yet. */
  version: number | null
  expected: number
  /** The migrations `db migrate` would run, each with the tables it creates. */
  pending: Array<{version: number; creates: string[]}>
}

export function sqliteSchemaStatus(dataDir: string): SqliteSchemaStatus {
  const file = path.join(dataDir, STORE_FILE)
  if (!existsSync(file)) return {file, version: null, expected: SCHEMA_VERSION, pending: []}
  let db: Database.Database
  try {
    db = new Database(file, {readonly: true, fileMustExist: true, timeout: 5000})
  } catch (error) {
    throw new StoreError('store-unreadable', `cannot open account store ${file}: ${osErrorText(error)}`, 'check the permissions of the data directory', error)
  }

  try {
    const applicationId = db.pragma('application_id', {simple: true}) as number
    const version = db.pragma('user_version', {simple: true}) as number
    if (applicationId !== APPLICATION_ID) {
      throw new StoreError('store-foreign', `${file} is not an xmppctl account store`, 'point data_dir at a directory of its own, or move the file away')
    }

    const pending = MIGRATIONS.map((migration, index) => ({version: index + 1, creates: [...migration.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?(\w+)/gi)].map((match) => match[1])})).filter(
      (migration) => migration.version > version,
    )
    return {file, version, expected: SCHEMA_VERSION, pending}
  } catch (error) {
    if (error instanceof StoreError) throw error
    throw storeErrorFrom(error, file)
  } finally {
    db.close()
  }
}
