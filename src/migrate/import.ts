/**
 * `user import`: records from any source, checked and normalised, written in
 * batches of one transaction each. Nothing existing is touched unless asked
 * (`overwrite`); `fail` reads the whole source first and writes nothing if
 * any account exists. A rerun after a kill skips what was already written.
 */
import {type FileHandle, mkdir, open} from 'node:fs/promises'
import path from 'node:path'

import type {AccountContext} from '../accounts/index.js'
import {Configuration, type HostSettings} from '../config/index.js'
import {optionDefaults} from '../config/modules.js'
import {ExitCode, JidError, PasswordError, XmppctlError} from '../errors.js'
import {formatJid, normalizeDomain, normalizeLocalpart} from '../jid/index.js'
import {preparePassword} from '../sasl/saslprep.js'
import {type ScramCredentials, verifyScramPassword} from '../sasl/scram.js'
import type {AccountSecrets, ImportedAccount, ImportedAccountData, StoredAccount} from '../store/account-store.js'
import {addHostsToConfigFile} from './config-hosts.js'
import type {DerivePool} from './derive-pool.js'
import {readSource} from './sources.js'
import type {SourceAccount, SourceFormat, SourceRecord} from './types.js'
import {DATA_KINDS, type DataKind, type DataProblem, countUserData, prepareUserData} from './user-data.js'
import {HOST_CLOSE, XEP0227_HEAD, XEP0227_TAIL, hostOpen} from './xep0227.js'
import {escapeXml} from './xml.js'

export type ImportBucket =
  | 'created'
  | 'unchanged'
  | 'existing'
  | 'overwritten'
  | 'invalid-jid'
  | 'unknown-host'
  | 'empty-password'
  | 'invalid-password'
  | 'invalid-record'

export const IMPORT_BUCKETS: readonly ImportBucket[] = [
  'created',
  'unchanged',
  'existing',
  'overwritten',
  'invalid-jid',
  'unknown-host',
  'empty-password',
  'invalid-password',
  'invalid-record',
]

export type OnConflict = 'skip' | 'overwrite' | 'fail'

export interface ImportProblem {
  bucket: ImportBucket
  where: string
  jid?: string
  reason: string
}

export interface ImportResult {
  format: SourceFormat
  source: string
  dryRun: boolean
  onConflict: OnConflict
  counts: Record<ImportBucket, number>
  /** Records the source holds (accounts and records that cannot be one). */
  sourceAccounts: number
  /**
   * Source accounts that are not in the store with the source's password after
   * this import: every bucket but created, overwritten and unchanged.
   */
  notImported: number
  /** Accounts that were not imported and why; the first MAX_LISTED. */
  problems: ImportProblem[]
  /** Existing accounts left alone (skip); the first MAX_LISTED. */
  existing: string[]
  unknownHosts: string[]
  addedHosts: string[]
  /**
   * Per-user data written with the accounts created (or that would be, in a
   * dry run): roster items, pending subscription requests, vCards, offline
   * messages, private XML items, PEP nodes and items, archived messages.
   */
  data: Record<DataKind, number>
  /** Entries of that data that could not be stored, per kind, and why (the first MAX_LISTED). */
  dataSkipped: Record<DataKind, number>
  dataProblems: Array<{jid: string; kind: DataKind; reason: string}>
  /** Where per-user data xmppctl cannot store (privacy lists…) was kept. */
  sideFile?: string
  sideFileUsers: number
}

export interface ImportOptions {
  format: SourceFormat
  source: string
  /** The host of ejabberd's single-host SQL schema. */
  host?: string
  onConflict: OnConflict
  dryRun: boolean
  addHosts: boolean
  pool: DerivePool
  batchSize?: number
  onProgress?: (records: number) => void
}

/**
 * Localparts PRECIS (RFC 8265 UsernameCaseMapped) and RFC 7622 leave as they
 * are; checked first so that a million ordinary names skip the full profile.
 */
const SIMPLE_LOCALPART = /^[a-z0-9._-]{1,1023}$/

/** Entries listed per bucket in the result; the counts are always complete. */
export const MAX_LISTED = 1000
/**
 * Accounts per transaction: what a kill can lose at most. Larger when nothing
 * is hashed (the commit is then the cost), smaller when PBKDF2 is.
 */
const BATCH = 5000
const DERIVE_BATCH = 1000
/**
 * Rows of per-account data (roster items, messages…) per transaction: a
 * batch of 5,000 accounts with 50 contacts each held 250,000 parsed items
 * at once, which the garbage collector then had to promote and scan
 * (measured: 732 MB peak RSS and a quarter of the time in GC).
 */
const DATA_ROWS_PER_BATCH = 20_000

export class ImportConflictError extends XmppctlError {
  constructor(count: number, examples: string[]) {
    super('import-conflict', `${count} account${count === 1 ? '' : 's'} of the source already exist${count === 1 ? 's' : ''} (${examples.join(', ')}${count > examples.length ? ', …' : ''}); nothing was written`, {
      hint: 'rerun with --on-conflict skip to keep them, or --on-conflict overwrite to replace their passwords',
      exitCode: ExitCode.false,
    })
  }
}

export class SourceError extends XmppctlError {
  constructor(source: string, message: string, imported: number) {
    super('source-invalid', `${source}: ${message}${imported > 0 ? `; ${imported} accounts before it were imported` : ''}`, {
      hint: imported > 0 ? 'fix the source and rerun: accounts already imported are skipped' : 'check the source and --from',
      exitCode: ExitCode.usage,
    })
  }
}

interface Prepared {
  record: SourceAccount
  host: string
  username: string
  jid: string
  /** SASLprep'd plaintext to hash, when the host stores SCRAM. */
  toDerive: string | undefined
  secrets: AccountSecrets
  data?: {data: ImportedAccountData; problems: DataProblem[]}
}

/** Appends the per-user data of imported accounts to a XEP-0227 side file (0600). */
class SideFile {
  private handle: FileHandle | undefined
  private host: string | undefined
  users = 0

  constructor(readonly file: string) {}

  async add(host: string, username: string, extra: string): Promise<void> {
    if (!this.handle) {
      await mkdir(path.dirname(this.file), {recursive: true, mode: 0o700})
      this.handle = await open(this.file, 'wx', 0o600)
      await this.handle.write(XEP0227_HEAD)
    }

    let text = ''
    if (this.host !== host) {
      if (this.host !== undefined) text += HOST_CLOSE
      text += hostOpen(host)
      this.host = host
    }

    text += `<user name="${escapeXml(username)}">${extra}</user>\n`
    await this.handle.write(text)
    this.users++
  }

  /** Durable before the accounts it belongs to are committed. */
  async sync(): Promise<void> {
    await this.handle?.sync()
  }

  async close(): Promise<void> {
    if (!this.handle) return
    await this.handle.write(`${this.host === undefined ? '' : HOST_CLOSE}${XEP0227_TAIL}`)
    await this.handle.sync()
    await this.handle.close()
  }
}

export async function importAccounts(context: AccountContext, options: ImportOptions): Promise<ImportResult> {
  let {config} = context
  const {store} = context
  const result: ImportResult = {
    format: options.format,
    source: options.source,
    dryRun: Boolean(options.dryRun),
    onConflict: options.onConflict,
    counts: Object.fromEntries(IMPORT_BUCKETS.map((bucket) => [bucket, 0])) as Record<ImportBucket, number>,
    sourceAccounts: 0,
    notImported: 0,
    problems: [],
    existing: [],
    unknownHosts: [],
    addedHosts: [],
    sideFileUsers: 0,
    data: Object.fromEntries(DATA_KINDS.map((kind) => [kind, 0])) as Record<DataKind, number>,
    dataSkipped: Object.fromEntries(DATA_KINDS.map((kind) => [kind, 0])) as Record<DataKind, number>,
    dataProblems: [],
  }
  const problem = (bucket: ImportBucket, where: string, reason: string, jid?: string) => {
    result.counts[bucket]++
    if (result.problems.length < MAX_LISTED) result.problems.push({bucket, where, ...(jid === undefined ? {} : {jid}), reason})
  }

  // Hosts found in the source and not configured: added (--add-hosts) or reported.
  const pendingHosts = new Set<string>()
  let checking = false
  const knownHost = async (host: string): Promise<boolean> => {
    if (config.hosts.includes(host)) return true
    if (!options.addHosts) {
      if (!result.unknownHosts.includes(host)) result.unknownHosts.push(host)
      return false
    }

    if (checking) return false // the pre-read of --on-conflict fail changes nothing
    if (!pendingHosts.has(host)) {
      pendingHosts.add(host)
      result.addedHosts.push(host)
      if (!options.dryRun) addHostsToConfigFile(config, [host])
      config = new Configuration(config.file, {...config.settings, hosts: [...config.hosts, host]}, {...config.hostOverrides})
    }

    return true
  }

  const domainCache = new Map<string, string>()
  const settingsCache = new Map<string, HostSettings>()
  const settingsOf = (host: string): HostSettings => {
    let settings = settingsCache.get(host)
    if (!settings) settingsCache.set(host, (settings = config.forHost(host)))
    return settings
  }

  const now = new Date()
  // The server's limits (top-level keys, as `xmppctl start` applies them): an import may not store more than a client could.
  const {settings: global} = config
  const pepOptions = {...optionDefaults('mod_pep'), ...global.modules.mod_pep} as {max_nodes: number; max_items_node: number; max_total_size: number}
  const limits = {
    roster: {items: global.max_roster_items, bytes: global.max_roster_bytes},
    offlineMessages: global.max_user_offline_messages,
    pep: {nodes: pepOptions.max_nodes, maxItems: pepOptions.max_items_node, totalBytes: pepOptions.max_total_size},
  }
  const withData = (prepared: Prepared): Prepared => {
    if (prepared.record.data) {
      prepared.data = prepareUserData(prepared.record.data, prepared, limits, now)
      // The parsed trees are done with: a batch held both them and their rows, which the
      // garbage collector then promoted and scanned (measured: a quarter of an import's time).
      prepared.record.data = undefined
    }

    return prepared
  }

  /** Counts the data of an account created (or that would be). */
  const tally = (item: Prepared) => {
    if (!item.data) return
    const counts = countUserData(item.data.data)
    for (const kind of DATA_KINDS) result.data[kind] += counts[kind]
    for (const {kind, reason} of item.data.problems) {
      result.dataSkipped[kind]++
      if (result.dataProblems.length < MAX_LISTED) result.dataProblems.push({jid: item.jid, kind, reason})
    }
  }

  /** Checks and normalises a record; undefined when it went to a problem bucket. */
  const prepare = async (record: SourceRecord): Promise<Prepared | undefined> => {
    if (record.kind === 'invalid') {
      problem('invalid-record', record.where, record.reason, record.jid)
      return undefined
    }

    const rawJid = `${record.username}@${record.host}`
    let host: string
    let username: string
    try {
      host = domainCache.get(record.host) ?? normalizeDomain(record.host)
      if (domainCache.size > 10_000) domainCache.clear()
      domainCache.set(record.host, host)
      if (record.username === '') throw new JidError('it has no localpart')
      username = SIMPLE_LOCALPART.test(record.username) ? record.username : normalizeLocalpart(record.username)
    } catch (error) {
      problem('invalid-jid', record.where, error instanceof Error ? error.message : String(error), rawJid)
      return undefined
    }

    const jid = formatJid({local: username, domain: host})
    if (!(await knownHost(host))) {
      problem('unknown-host', record.where, `host ${host} is not configured`, jid)
      return undefined
    }

    const password = record.password === '' ? undefined : record.password
    if (password === undefined && record.credentials.length === 0) {
      problem('empty-password', record.where, 'the account has neither a password nor SCRAM credentials', jid)
      return undefined
    }

    let prepared: string | undefined
    if (password !== undefined) {
      try {
        prepared = preparePassword(password)
      } catch (error) {
        problem('invalid-password', record.where, error instanceof PasswordError ? error.message : String(error), jid)
        return undefined
      }
    }

    const settings = settingsOf(host)
    if (password !== undefined && settings.auth_password_format === 'scram') {
      return withData({record, host, username, jid, toDerive: prepared, secrets: {credentials: [], plaintext: undefined}})
    }

    // Plain hosts keep the plaintext; credentials from the source are kept as found.
    return withData({record, host, username, jid, toDerive: undefined, secrets: {credentials: record.credentials, plaintext: password}})
  }

  const existingOf = async (batch: Prepared[]): Promise<Set<string>> => {
    const found = new Set<string>()
    const byHost = new Map<string, string[]>()
    for (const item of batch) byHost.set(item.host, [...(byHost.get(item.host) ?? []), item.username])
    for (const [host, usernames] of byHost) for (const username of await store.existingUsernames(host, usernames)) found.add(`${username}@${host}`)
    return found
  }

  /**
   * An existing account is `unchanged` when it already holds the source's
   * password (a previous run of this import wrote it, then was killed): it is
   * not a loss. Any other existing account is a conflict left alone.
   */
  const sortExisting = async (items: Prepared[]): Promise<void> => {
    for (const item of items) {
      const account = await store.getAccount(item.host, item.username)
      const same = account !== undefined && (await holdsSourceSecrets(item, account))
      result.counts[same ? 'unchanged' : 'existing']++
      if (!same && result.existing.length < MAX_LISTED) result.existing.push(item.jid)
    }
  }

  const read = async function* (): AsyncGenerator<Prepared[]> {
    let batch: Prepared[] = []
    let records = 0
    let deriving = 0
    let dataRows = 0
    try {
      for await (const record of readSource(options.format, options.source, {host: options.host})) {
        records++
        result.sourceAccounts++
        const prepared = await prepare(record)
        if (prepared) batch.push(prepared)
        if (prepared?.toDerive !== undefined) deriving++
        if (prepared?.data) dataRows += dataRowsOf(prepared.data.data)
        if (batch.length >= (options.batchSize ?? (deriving > 0 ? DERIVE_BATCH : BATCH)) || dataRows >= DATA_ROWS_PER_BATCH) {
          yield batch
          batch = []
          deriving = 0
          dataRows = 0
        }

        if (records % 1000 === 0) options.onProgress?.(records)
      }
    } catch (error) {
      if (error instanceof XmppctlError) throw error
      throw new SourceError(options.source, error instanceof Error ? error.message : String(error), result.counts.created + result.counts.overwritten)
    }

    options.onProgress?.(records)
    if (batch.length > 0) yield batch
  }

  if (options.onConflict === 'fail') {
    // Read everything first: "fail" must not leave a half-imported source.
    let conflicts = 0
    const examples: string[] = []
    const savedCounts = {...result.counts}
    checking = true
    for await (const batch of read()) {
      for (const jid of await existingOf(batch)) {
        conflicts++
        if (examples.length < 3) examples.push(jid)
      }
    }

    if (conflicts > 0) throw new ImportConflictError(conflicts, examples)
    checking = false
    result.sourceAccounts = 0
    Object.assign(result.counts, savedCounts)
    result.problems = []
    result.unknownHosts = []
  }

  const sideFile = options.dryRun ? undefined : new SideFile(path.join(config.dataDir, 'imported-user-data', `${options.format}-${new Date().toISOString().replace(/[:.]/g, '-')}.xml`))
  try {
    for await (const batch of read()) {
      // Existence is asked first only where it saves work (PBKDF2) or nothing is written;
      // otherwise the write itself tells, in the same transaction.
      const needsCheck = options.dryRun || (options.onConflict !== 'overwrite' && batch.some((item) => item.toDerive !== undefined))
      const existing = needsCheck ? await existingOf(batch) : new Set<string>()
      const writable = options.onConflict === 'overwrite' ? batch : batch.filter((item) => !existing.has(item.jid))
      if (options.onConflict !== 'overwrite') await sortExisting(batch.filter((item) => existing.has(item.jid)))

      if (options.dryRun) {
        for (const item of writable) {
          result.counts[existing.has(item.jid) ? 'overwritten' : 'created']++
          if (!existing.has(item.jid)) tally(item)
        }

        continue
      }

      const toDerive = writable.filter((item) => item.toDerive !== undefined)
      if (toDerive.length > 0) {
        const derived = await options.pool.derive(
          toDerive.map((item) => {
            const settings = settingsOf(item.host)
            return {password: item.toDerive!, hashes: settings.auth_scram_hash, iterations: settings.auth_scram_iterations}
          }),
        )
        for (const [index, item] of toDerive.entries()) item.secrets = {credentials: derived[index] as ScramCredentials[], plaintext: undefined}
      }

      for (const item of writable) if (item.record.extra !== undefined) await sideFile!.add(item.host, item.username, item.record.extra)
      await sideFile?.sync()
      const accounts: ImportedAccount[] = writable.map((item) => ({
        host: item.host,
        username: item.username,
        secrets: item.secrets,
        overwrite: options.onConflict === 'overwrite',
        ...(item.data ? {data: item.data.data} : {}),
      }))
      const outcomes = await store.importAccounts(accounts)
      for (const [index, outcome] of outcomes.entries()) {
        if (outcome !== 'existing') result.counts[outcome]++
        if (outcome === 'created') tally(writable[index])
      }

      await sortExisting(writable.filter((_, index) => outcomes[index] === 'existing'))
    }
  } finally {
    await sideFile?.close()
    if (sideFile && sideFile.users > 0) {
      result.sideFile = sideFile.file
      result.sideFileUsers = sideFile.users
    }
  }

  result.notImported = result.sourceAccounts - result.counts.created - result.counts.overwritten - result.counts.unchanged
  if (!options.dryRun && result.counts.created + result.counts.overwritten > 0) await store.bulkLoaded?.()
  return result
}

/** The rows an account's data costs the store. */
function dataRowsOf(data: ImportedAccountData): number {
  return data.roster.length + data.subscriptionRequests.length + data.offline.length + data.private.length + data.archive.length + data.pep.reduce((sum, node) => sum + 1 + node.items.length, 0)
}

/** Whether a stored account already holds what the source gives for it. */
async function holdsSourceSecrets(item: Prepared, account: StoredAccount): Promise<boolean> {
  if (item.toDerive !== undefined) {
    // Hashed on the way in with a fresh salt: only a check of the password tells.
    const credentials = account.credentials[0]
    return credentials !== undefined && (await verifyScramPassword(item.record.password!, credentials))
  }

  const wanted = item.secrets
  if (wanted.plaintext !== account.plaintext) return false
  if (wanted.credentials.length !== account.credentials.length) return false
  return wanted.credentials.every((credential) => {
    const stored = account.credentials.find((candidate) => candidate.hash === credential.hash)
    return (
      stored !== undefined &&
      stored.iterations === credential.iterations &&
      stored.salt.equals(credential.salt) &&
      stored.storedKey.equals(credential.storedKey) &&
      stored.serverKey.equals(credential.serverKey)
    )
  })
}
