/**
 * `xmppctl audit`: the local checks, run all or by id, and `--fix`, which
 * applies only the repairs that can be undone (chmod, and chown when running
 * as root) and reports each change with what it was before.
 */
import {chmodSync, chownSync, existsSync, lstatSync} from 'node:fs'
import path from 'node:path'

import type {Configuration} from '../config/index.js'
import {UnavailableError, UsageError, osErrorText} from '../errors.js'
import type {ServerStatus} from '../server/server.js'
import type {AccountStore} from '../store/index.js'
import type {PostgresDatabase} from '../store/postgres/database.js'
import {authBansCheck} from './checks/auth-bans.js'
import {backendsCheck} from './checks/backends.js'
import {certificatesCheck} from './checks/certificates.js'
import {configFileCheck} from './checks/config-file.js'
import {credentialsCheck} from './checks/credentials.js'
import {filesCheck} from './checks/files.js'
import {s2sPolicyCheck} from './checks/s2s-policy.js'
import {auditConfiguration, sqlConfigCheck, sqlConnectionCheck} from './checks/sql-store.js'
import {tlsPolicyCheck} from './checks/tls-policy.js'
import type {AuditContext, Check} from './checks/types.js'
import {type AuditFinding, type Repair, sortFindings} from './findings.js'
import {type SystemUser, octal, userName} from '../system.js'

export type {AuditContext, Check} from './checks/types.js'

export const CHECKS: readonly Check[] = [filesCheck, configFileCheck, credentialsCheck, sqlConfigCheck, sqlConnectionCheck, backendsCheck, tlsPolicyCheck, s2sPolicyCheck, certificatesCheck, authBansCheck]

/** Every id `--only` accepts: check ids and finding ids. */
export function knownIds(): string[] {
  return [...CHECKS.map((check) => check.id), ...CHECKS.flatMap((check) => check.findings)]
}

/** The checks to run, each with the finding ids to keep (undefined: all of them). */
export function selectChecks(only: readonly string[]): Array<{check: Check; keep?: Set<string>}> {
  if (only.length === 0) return CHECKS.map((check) => ({check}))
  const selected = new Map<Check, Set<string> | 'all'>()
  for (const id of only) {
    const check = CHECKS.find((candidate) => candidate.id === id)
    if (check) {
      selected.set(check, 'all')
      continue
    }

    const owner = CHECKS.find((candidate) => candidate.findings.includes(id))
    if (!owner) throw new UsageError(`unknown check or finding "${id}"`, `use one of the checks ${CHECKS.map((candidate) => candidate.id).join(', ')}, or a finding id they report`)
    const keep = selected.get(owner)
    if (keep === 'all') continue
    selected.set(owner, new Set([...(keep ?? []), id]))
  }

  return CHECKS.filter((check) => selected.has(check)).map((check) => {
    const keep = selected.get(check)!
    return keep === 'all' ? {check} : {check, keep}
  })
}

export interface AppliedFix {
  path: string
  /** `chmod` or `chown`. */
  action: Repair['kind']
  from: string
  to: string
  /** The finding it answers. */
  finding: string
}

export interface AuditOptions {
  config: Configuration
  user: SystemUser
  only?: readonly string[]
  fix?: boolean
  now?: Date
}

export interface AuditResult {
  user: string
  checks: string[]
  findings: AuditFinding[]
  /** What `--fix` changed, with the values before, so each change can be undone. */
  fixed: AppliedFix[]
  /** Repairs `--fix` could not apply, and why. */
  notFixed: Array<{path: string; finding: string; reason: string}>
  /** Checks that could not look (auth-bans without a running server), and why. */
  skipped: SkippedCheck[]
}

export interface SkippedCheck {
  check: string
  reason: string
}

/** The running server's status, asked once per audit; why not, when it cannot be had. */
function serverAsker(config: Configuration): () => Promise<ServerStatus | {notRunning: string}> {
  let asked: Promise<ServerStatus | {notRunning: string}> | undefined
  return () => {
    asked ??= (async () => {
      const {controlRequest} = await import('../server/control.js')
      try {
        return (await controlRequest(config, {command: 'status'}, 5000)) as ServerStatus
      } catch (error) {
        if (error instanceof UnavailableError) return {notRunning: error.message}
        throw error
      }
    })()
    return asked
  }
}

/**
 * The PostgreSQL store connected to on demand, once per audit, with the
 * audit's short waits (sql-store.ts): the outcome, a connection or why
 * none, is every check's, so that a server out of reach holds the audit up
 * for one sql_connect_timeout, not one per check that reads the store.
 */
function postgresConnector(config: Configuration): {connect(): Promise<PostgresDatabase>; close(): Promise<void>} {
  let connected: Promise<PostgresDatabase> | undefined
  return {
    connect() {
      connected ??= (async () => {
        const {PostgresDatabase, postgresOptions} = await import('../store/postgres/database.js')
        return PostgresDatabase.acquire(postgresOptions(auditConfiguration(config)))
      })()
      return connected
    },
    async close() {
      const db = await connected?.catch(() => undefined)
      await db?.release()
    },
  }
}

/**
 * A store handle opened on demand: SQLite only when the store file exists
 * (opening would create it); PostgreSQL as it is, an empty database read as
 * an empty store, never migrated by an audit, and opened only once the
 * audit's one connection is there.
 */
function storeOpener(config: Configuration, postgres: () => Promise<PostgresDatabase>): {open(): Promise<AccountStore | undefined>; close(): Promise<void>} {
  let opened: Promise<AccountStore | undefined> | undefined
  return {
    open() {
      opened ??= (async () => {
        const {openAccountStore, storeEngine} = await import('../store/index.js')
        if (storeEngine(config) === 'postgresql') {
          // Only once the audit's connection is made: a server out of reach is waited for once, and its error is the one reported.
          await postgres()
          return openAccountStore(auditConfiguration(config, {configuredQueries: true}), {orAbsent: true, migrate: false, notMigrating: 'an audit does not migrate it'})
        }

        if (!existsSync(path.join(config.dataDir, 'accounts.sqlite'))) return undefined
        return openAccountStore(config)
      })()
      return opened
    },
    async close() {
      const store = await opened?.catch(() => undefined)
      await store?.close()
    },
  }
}

async function runChecks(checks: ReadonlyArray<{check: Check; keep?: Set<string>}>, context: Omit<AuditContext, 'skip'>): Promise<{findings: AuditFinding[]; skipped: SkippedCheck[]}> {
  const findings: AuditFinding[] = []
  const skipped: SkippedCheck[] = []
  for (const {check, keep} of checks) {
    const skip = (reason: string) => skipped.push({check: check.id, reason})
    for (const finding of await check.run({...context, skip})) if (!keep || keep.has(finding.id)) findings.push(finding)
  }

  return {findings: sortFindings(findings), skipped}
}

function applyRepair(repair: Repair, finding: string, root: boolean): AppliedFix | {reason: string} {
  let stats
  try {
    stats = lstatSync(repair.path)
  } catch (error) {
    return {reason: osErrorText(error)}
  }

  // chmod and chown follow symlinks; a link could aim the change at a file outside the tree.
  if (stats.isSymbolicLink()) return {reason: 'it is a symlink; not followed'}
  try {
    if (repair.kind === 'chmod') {
      chmodSync(repair.path, repair.mode)
      return {path: repair.path, action: 'chmod', from: octal(stats.mode), to: octal(repair.mode), finding}
    }

    if (!root) return {reason: 'changing the owner needs root'}
    chownSync(repair.path, repair.uid, repair.gid)
    return {path: repair.path, action: 'chown', from: `${userName(stats.uid)}:${stats.gid}`, to: `${userName(repair.uid)}:${repair.gid}`, finding}
  } catch (error) {
    return {reason: osErrorText(error)}
  }
}

export async function runAudit(options: AuditOptions): Promise<AuditResult> {
  const checks = selectChecks(options.only ?? [])
  const postgres = postgresConnector(options.config)
  const store = storeOpener(options.config, () => postgres.connect())
  const root = (process.getuid?.() ?? -1) === 0
  const context = {config: options.config, user: options.user, root, now: options.now ?? new Date(), store: () => store.open(), postgres: () => postgres.connect(), server: serverAsker(options.config)}
  try {
    let {findings, skipped} = await runChecks(checks, context)
    const fixed: AppliedFix[] = []
    const notFixed: AuditResult['notFixed'] = []
    if (options.fix) {
      // Ownership first: a chown may reset set-id bits, the chmod after it settles the mode.
      const repairs = findings.filter((finding) => finding.repair).sort((a, b) => (a.repair!.kind === 'chown' ? 0 : 1) - (b.repair!.kind === 'chown' ? 0 : 1))
      for (const finding of repairs) {
        const outcome = applyRepair(finding.repair!, finding.id, root)
        if ('reason' in outcome) notFixed.push({path: finding.repair!.path, finding: finding.id, reason: outcome.reason})
        else fixed.push(outcome)
      }

      if (fixed.length > 0) ({findings, skipped} = await runChecks(checks, context))
    }

    return {user: options.user.name, checks: checks.map(({check}) => check.id), findings, fixed, notFixed, skipped}
  } finally {
    await store.close()
    await postgres.close()
  }
}
