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

/** Which archives a purge covers, as ejabberdctl's delete_old_mam_messages names them: accounts' (chat), persistent rooms' (groupchat), or both. */
export const ARCHIVE_TYPES = ['all', 'chat', 'groupchat'] as const
export type ArchiveType = (typeof ARCHIVE_TYPES)[number]

export interface PurgeArchiveOptions {
  /** As given: 30d, 12h, … */
  olderThan: string
  /** all (the default), chat or groupchat. */
  type?: ArchiveType
  /** Only this account's archive. */
  user?: string
  dryRun?: boolean
  /** The present, for tests. */
  now?: Date
  /** Told after each batch: messages deleted so far, of the total found (accounts' first, then rooms'). */
  onProgress?: (removed: number, total: number) => void
}

export interface PurgeArchiveResult {
  olderThan: string
  /** Messages archived before this went (or would go). */
  before: string
  type: ArchiveType
  /** The account whose archive was purged; null for every account. */
  user: string | null
  /** Accounts' archived messages deleted, or with dryRun the number that would be; null when the purge left accounts' archives alone (type groupchat). */
  messages: number | null
  /** The same for the archives of persistent rooms; null when the purge left them alone (type chat, or a user). */
  roomMessages: number | null
  dryRun: boolean
}

/**
 * Deletes every archived message older than `olderThan`, of one account or
 * of all, and of every persistent room (`type`), in batches of a
 * transaction each, so that a running server's own writes get in between.
 * A running server may go on archiving: only messages before the cut-off
 * go. A purge stopped part way deleted only messages before the cut-off;
 * the next run deletes the rest.
 */
export async function purgeArchive({config, store}: AccountContext, options: PurgeArchiveOptions): Promise<PurgeArchiveResult> {
  const before = new Date((options.now ?? new Date()).getTime() - parseDuration(options.olderThan))
  const type = options.type ?? 'all'
  if (!ARCHIVE_TYPES.includes(type)) throw new UsageError(`unknown archive type "${type}"`, `use one of ${ARCHIVE_TYPES.join(', ')}`)
  if (options.user !== undefined && type === 'groupchat') throw new UsageError('--user names an account, whose archive holds no room messages', 'drop --user to purge the rooms\' archives, or use --type chat')
  const account = options.user === undefined ? undefined : resolveAccount(config, options.user)
  if (account && !(await store.accountExists(account.host, account.username))) throw new AccountAbsentError(account.jid)
  const {openArchiveStore, openRoomStore} = await import('../store/index.js')
  const dryRun = options.dryRun === true
  const accounts = type !== 'groupchat'
  const rooms = type !== 'chat' && account === undefined
  let messages: number | null = null
  let roomMessages: number | null = null
  if (accounts) {
    const archives = await openArchiveStore(config)
    try {
      messages = await archives.purge({before, account, dryRun, onProgress: options.onProgress})
    } finally {
      await archives.close()
    }
  }

  if (rooms) {
    const roomStore = await openRoomStore(config)
    // The rooms' progress counts on from what the accounts' purge removed.
    const done = messages ?? 0
    const onProgress = options.onProgress
    try {
      roomMessages = await roomStore.purgeArchive({before, dryRun, onProgress: onProgress && ((removed, total) => onProgress(done + removed, done + total))})
    } finally {
      await roomStore.close()
    }
  }

  return {olderThan: options.olderThan.trim(), before: before.toISOString(), type, user: account?.jid ?? null, messages, roomMessages, dryRun}
}
