/**
 * Each account's message archive (XEP-0313) and its archiving preferences
 * (§6). Archive ids are opaque strings to clients; a store keeps them in the
 * order messages were archived, which is also their time order.
 */

/** §6's default: archive everything, only messages with contacts in the roster, or nothing. */
export type ArchiveMode = 'always' | 'never' | 'roster'

export interface ArchivePrefs {
  mode: ArchiveMode
  /** JIDs (bare or full, normalised) whose messages are always archived. */
  always: string[]
  /** JIDs whose messages are never archived; they win over `always`. */
  never: string[]
}

/** One archive's record of a message: whose archive, and with whom the message was exchanged. */
export interface ArchiveEntry {
  /** The archive's account. */
  host: string
  username: string
  /** The other party's bare JID (the recipient of an outgoing message, the sender of an incoming one). */
  with: string
  /** The other party's resource, '' for none. */
  withResource: string
}

/** The archives that keep a message: the sender's, the recipient's, or both. */
export type ArchiveEntries = readonly [ArchiveEntry] | readonly [ArchiveEntry, ArchiveEntry]

export interface ArchivedMessage {
  id: string
  /** When the message was archived. */
  at: Date
  stanza: string
}

/** The query's filters (XEP-0313 §4.1), all optional. */
export interface ArchiveFilter {
  with?: string
  /** With `with`: only this resource of it. */
  withResource?: string
  start?: Date
  end?: Date
  /** urn:xmpp:mam:2#extended: only messages after, or before, this one (not included). */
  afterId?: string
  beforeId?: string
  /** urn:xmpp:mam:2#extended: only these messages. */
  ids?: readonly string[]
}

/** XEP-0059 paging: forwards after `after` (or from the start), or backwards before `before` ('' is the end). */
export interface ArchivePage {
  max: number
  after?: string
  before?: string
}

export interface ArchiveResult {
  /** Oldest first. */
  messages: ArchivedMessage[]
  /** The page reaches the end of the results in its direction (the last, or paging backwards the first). */
  complete: boolean
  /** How many messages the filter matches in all. */
  count: number
  /** The position of the page's first message among them. */
  firstIndex: number
}

export interface PurgeOptions {
  /** Messages archived before this go. */
  before: Date
  /** Only this account's. */
  account?: {host: string; username: string}
  /** Count, delete nothing. */
  dryRun?: boolean
  /** Told after each batch: entries removed so far, of the total the purge found. */
  onProgress?: (removed: number, total: number) => void
}

export interface ArchiveStore {
  /**
   * Archives a message in each archive `entries` names (the sender's and the
   * recipient's, say), under one archive id, which it returns at once. The
   * message is `stanza` as archived, serialised with its namespace
   * (jabber:client) declared. The write may be deferred and batched with
   * others (the SQLite store commits about once a second); reads and close()
   * write what is pending first.
   */
  add(stanza: string, entries: ArchiveEntries): string
  /** The page of messages `filter` matches; undefined when an id it names (filter or page) is not in the archive. */
  query(host: string, username: string, filter: ArchiveFilter, page: ArchivePage): Promise<ArchiveResult | undefined>
  /** The account's preferences; undefined when it set none. */
  getPrefs(host: string, username: string): Promise<ArchivePrefs | undefined>
  /** false when the account does not exist. */
  setPrefs(host: string, username: string, prefs: ArchivePrefs): Promise<boolean>
  /** Deletes (or with dryRun counts) archived messages older than `before`, in batches of a transaction each; returns how many. */
  purge(options: PurgeOptions): Promise<number>
  close(): Promise<void>
}
