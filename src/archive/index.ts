/**
 * Message archive administration (XEP-0313 archives of mod_mam): purging
 * old messages, as ejabberdctl's delete_old_mam_messages does.
 */
import {type AccountContext, resolveAccount} from '../accounts/index.js'
import {AccountAbsentError, UsageError} from '../errors.js'

const UNITS: Record<string, number> = {s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000}

/** A duration such as 30d, 12h, 90m, 2w or 45s, in milliseconds. */
export function parseDuration(input: string): number {
  const match = /^\s*(\d{1,9})\s*([smhdw])\s*$/.exec(input)
  if (!match || Number(match[1]) === 0) {
    throw new UsageError(`invalid duration "${input}": expected a positive number and a unit`, 'write it as 45s, 90m, 12h, 30d or 2w')
  }

  return Number(match[1]) * UNITS[match[2]]
}

export interface PurgeArchiveOptions {
  /** As given: 30d, 12h, … */
  olderThan: string
  /** Only this account's archive. */
  user?: string
  dryRun?: boolean
  /** The present, for tests. */
  now?: Date
  /** Told after each batch: messages deleted so far, of the total found. */
  onProgress?: (removed: number, total: number) => void
}

export interface PurgeArchiveResult {
  olderThan: string
  /** Messages archived before this went (or would go). */
  before: string
  /** The account whose archive was purged; null for every account. */
  user: string | null
  /** Messages deleted, or with dryRun the number that would be. */
  messages: number
  dryRun: boolean
}

/**
 * Deletes every archived message older than `olderThan`, of one account or
 * of all, in batches of a transaction each, so that a running server's own
 * writes get in between. A running server may go on archiving: only
 * messages before the cut-off go. A purge stopped part way deleted only
 * messages before the cut-off; the next run deletes the rest.
 */
export async function purgeArchive({config, store}: AccountContext, options: PurgeArchiveOptions): Promise<PurgeArchiveResult> {
  const before = new Date((options.now ?? new Date()).getTime() - parseDuration(options.olderThan))
  const account = options.user === undefined ? undefined : resolveAccount(config, options.user)
  if (account && !(await store.accountExists(account.host, account.username))) throw new AccountAbsentError(account.jid)
  const {openArchiveStore} = await import('../store/index.js')
  const archives = await openArchiveStore(config)
  try {
    const messages = await archives.purge({before, account, dryRun: options.dryRun, onProgress: options.onProgress})
    return {olderThan: options.olderThan.trim(), before: before.toISOString(), user: account?.jid ?? null, messages, dryRun: options.dryRun === true}
  } finally {
    await archives.close()
  }
}
