/**
 * `scram convert`: plaintext passwords to SCRAM credentials, in batches of one
 * transaction each that store every hash and drop the plaintext together, so
 * a kill at any moment leaves each account with its plaintext or its full set
 * of credentials. A rerun picks up the accounts still holding plaintext.
 */
import type {AccountContext} from '../accounts/index.js'
import {PasswordError, UsageError} from '../errors.js'
import {formatJid} from '../jid/index.js'
import {preparePassword} from '../sasl/saslprep.js'
import {type ScramHash, assertValidIterations} from '../sasl/scram.js'
import type {PlaintextAccount, ScramConversion} from '../store/account-store.js'
import type {DerivePool} from './derive-pool.js'

export interface ConvertOptions {
  /** Configured hosts to convert; all when empty. */
  hosts?: readonly string[]
  /** Overrides auth_scram_hash. */
  hashes?: readonly ScramHash[]
  /** Overrides auth_scram_iterations. */
  iterations?: number
  dryRun: boolean
  pool?: DerivePool
  batchSize?: number
  onProgress?: (done: number, total: number) => void
}

export interface ConvertHost {
  host: string
  hashes: ScramHash[]
  iterations: number
  converted: number
  already: number
  failed: number
}

export interface ConvertFailure {
  jid: string
  reason: string
}

export interface ConvertResult {
  dryRun: boolean
  /** Accounts converted (or, with dryRun, that would be). */
  converted: number
  /** Accounts that held no plaintext: nothing to convert. */
  already: number
  /** Accounts whose password SASLprep refuses; they keep their plaintext. */
  failed: ConvertFailure[]
  failedCount: number
  hosts: ConvertHost[]
}

const BATCH = 500
const MAX_LISTED = 1000

/** Accounts to convert on the selected hosts, for --dry-run, the confirmation and the progress bar. */
export async function plaintextCounts({config, store}: AccountContext, hosts?: readonly string[]): Promise<Map<string, number>> {
  const selected = selectHosts(config.hosts, hosts, (host) => config.requireHost(host))
  const counts = await store.countPlaintextAccounts()
  return new Map(selected.map((host) => [host, counts.get(host) ?? 0]))
}

function selectHosts(configured: readonly string[], wanted: readonly string[] | undefined, resolve: (host: string) => string): string[] {
  if (!wanted || wanted.length === 0) return [...configured]
  return [...new Set(wanted.map(resolve))]
}

export async function convertToScram(context: AccountContext, options: ConvertOptions): Promise<ConvertResult> {
  const {config, store} = context
  if (options.iterations !== undefined) {
    try {
      assertValidIterations(options.iterations)
    } catch (error) {
      throw new UsageError((error as Error).message, 'give --iterations as a whole number, at least 4096')
    }
  }

  if (!options.dryRun && !options.pool) throw new TypeError('convertToScram needs a DerivePool unless dryRun')
  const counts = await plaintextCounts(context, options.hosts)
  const total = [...counts.values()].reduce((sum, count) => sum + count, 0)
  const result: ConvertResult = {dryRun: Boolean(options.dryRun), converted: 0, already: 0, failed: [], failedCount: 0, hosts: []}
  let done = 0
  options.onProgress?.(0, total)
  for (const [host, plaintext] of counts) {
    const settings = config.forHost(host)
    const hashes = [...(options.hashes ?? settings.auth_scram_hash)]
    const iterations = options.iterations ?? settings.auth_scram_iterations
    const summary: ConvertHost = {host, hashes, iterations, converted: 0, already: (await store.countAccounts(host)) - plaintext, failed: 0}
    result.hosts.push(summary)

    const fail = (account: PlaintextAccount, error: unknown) => {
      summary.failed++
      result.failedCount++
      const jid = formatJid({local: account.username, domain: account.host})
      if (result.failed.length < MAX_LISTED) result.failed.push({jid, reason: error instanceof PasswordError ? error.message : String(error)})
    }

    /** SASLprep each password; failures go to their bucket, the rest start deriving at once. */
    const start = (page: PlaintextAccount[]) => {
      const ready: Array<{account: PlaintextAccount; prepared: string}> = []
      for (const account of page) {
        try {
          ready.push({account, prepared: preparePassword(account.plaintext)})
        } catch (error) {
          fail(account, error)
        }
      }

      const derived = options.dryRun ? Promise.resolve([]) : options.pool!.derive(ready.map(({prepared}) => ({password: prepared, hashes, iterations})))
      derived.catch(() => {}) // awaited later; never an unhandled rejection meanwhile
      return {page, ready, derived}
    }

    const fetch = (after: string) => store.listPlaintextAccounts({host, afterHost: host, afterUser: after, limit: options.batchSize ?? BATCH})
    const first = await fetch('')
    let current = first.length > 0 ? start(first) : undefined
    while (current) {
      // Read and start the next page before writing this one, so the workers never wait on the database.
      const next = current.page.length === (options.batchSize ?? BATCH) ? await fetch(current.page.at(-1)!.username) : []
      const upcoming = next.length > 0 ? start(next) : undefined
      if (options.dryRun) {
        summary.converted += current.ready.length
      } else {
        const derived = await current.derived
        const conversions: ScramConversion[] = current.ready.map(({account}, index) => ({...account, credentials: derived[index]}))
        summary.converted += await store.convertToScram(conversions)
      }

      done += current.page.length
      options.onProgress?.(done, total)
      current = upcoming
    }

    result.converted += summary.converted
    result.already += summary.already
  }

  return result
}
