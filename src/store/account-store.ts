import type {ScramCredentials, ScramHash} from '../sasl/scram.js'
import type {PepItem, PepNodeConfig} from './pep-store.js'
import type {PrivateKey} from './private-store.js'
import type {RosterItem} from './roster-store.js'

export type AccountState = 'enabled' | 'disabled'

/** What a store knows of an account, secrets included; never rendered as is. */
export interface StoredAccount {
  host: string
  username: string
  state: AccountState
  disabledReason: string | undefined
  createdAt: Date
  /** Present only when the host's `auth_password_format` is `plain`, or before `scram convert`. */
  plaintext: string | undefined
  credentials: ScramCredentials[]
}

/** What a SCRAM login needs of an account: its state and its secrets for one hash, read at once. */
export interface LoginSecrets {
  state: AccountState
  disabledReason: string | undefined
  plaintext: string | undefined
  /** Undefined when the account has no stored credentials for that hash. */
  credentials: ScramCredentials | undefined
}

/** What `user list` shows: no secrets, only which hashes are stored. */
export interface AccountSummary {
  host: string
  username: string
  state: AccountState
  disabledReason: string | undefined
  createdAt: Date
  hashes: ScramHash[]
  iterations: number | undefined
  hasPlaintext: boolean
}

/** The secrets of an account, replaced as a whole in one transaction. */
export interface AccountSecrets {
  credentials: ScramCredentials[]
  plaintext: string | undefined
}

/** An account whose password is still stored in plaintext, for `scram convert`. */
export interface PlaintextAccount {
  host: string
  username: string
  plaintext: string
}

/** One account's new credentials, replacing exactly the plaintext that was read. */
export interface ScramConversion extends PlaintextAccount {
  credentials: ScramCredentials[]
}

/** One account to write during an import. */
/** Per-account data an import brings with a new account, normalised and within the host's limits. */
export interface ImportedAccountData {
  roster: RosterItem[]
  /** Pending inbound requests (RFC 6121 §3.1.3), each its presence stanza serialised in jabber:client. */
  subscriptionRequests: Array<{contact: string; stanza: string}>
  vcard: string | undefined
  offline: Array<{stanza: string; createdAt: Date}>
  private: Array<PrivateKey & {xml: string}>
  /** PEP nodes (XEP-0163) with their items, oldest first, within mod_pep's limits. */
  pep: ImportedPepNode[]
  /** Archived messages (XEP-0313), each with the time it was archived, oldest first. */
  archive: ImportedArchivedMessage[]
}

export interface ImportedPepNode {
  node: string
  config: PepNodeConfig
  items: PepItem[]
  /** Explicit subscribers (XEP-0060 §6.1), bare or full JIDs; absent where the source keeps none. */
  subscribers?: string[]
}

export interface ImportedArchivedMessage {
  /** Serialised with its namespace (jabber:client) declared, as mod_mam archives it. */
  stanza: string
  at: Date
  /** The other party's bare JID and resource ('' for none). */
  with: string
  withResource: string
}

export interface ImportedAccount {
  host: string
  username: string
  secrets: AccountSecrets
  /** Replace the secrets of an existing account instead of leaving it alone. */
  overwrite: boolean
  /** Written with the account, in its transaction, only when the account is created. */
  data?: ImportedAccountData
}

export type ImportOutcome = 'created' | 'existing' | 'overwritten'

/** Everything the server keeps for one account, for an export: read in one transaction. */
export interface ExportedAccountData {
  roster: RosterItem[]
  subscriptionRequests: Array<{contact: string; stanza: string}>
  vcard: string | undefined
  offline: Array<{stanza: string; createdAt: Date}>
  private: Array<{xml: string}>
  pep: ImportedPepNode[]
  /** Oldest first, each with its archive id. */
  archive: Array<{id: string; at: Date; stanza: string}>
}

/**
 * The persistence behind accounts. Asynchronous so that a networked store
 * (PostgreSQL) can implement it; every method that writes is one transaction.
 */
export interface AccountStore {
  /** Where the store lives, for messages (a path, or a URL without its password). */
  readonly location: string
  getAccount(host: string, username: string): Promise<StoredAccount | undefined>
  /** One read per SCRAM login instead of the whole account (getAccount). */
  getLoginSecrets(host: string, username: string, hash: ScramHash): Promise<LoginSecrets | undefined>
  accountExists(host: string, username: string): Promise<boolean>
  /** Creates the account with its secrets; throws AccountExistsError when it exists. */
  createAccount(host: string, username: string, secrets: AccountSecrets): Promise<void>
  /** Replaces all secrets of an existing account; false when it does not exist. */
  replaceSecrets(host: string, username: string, secrets: AccountSecrets): Promise<boolean>
  /** False when the account did not exist. */
  deleteAccount(host: string, username: string): Promise<boolean>
  /** False when the account did not exist. */
  setState(host: string, username: string, state: AccountState, reason?: string): Promise<boolean>
  /** Accounts in (host, username) order, read in pages so that memory stays flat. */
  listAccounts(host?: string): AsyncIterable<AccountSummary>
  countAccounts(host?: string): Promise<number>
  /**
   * Accounts of `host` for which SCRAM with `hash` cannot be served: no stored
   * credentials for that hash and no plaintext to derive them from. The
   * mechanism offer (src/auth) offers SCRAM-`hash` only when this is 0.
   */
  countAccountsLackingHash(host: string, hash: ScramHash): Promise<number>
  /**
   * Up to `limit` accounts holding plaintext, in (host, username) order after
   * the given position, of `host` when given: one page of `scram convert`.
   */
  listPlaintextAccounts(options: {host?: string; afterHost: string; afterUser: string; limit: number}): Promise<PlaintextAccount[]>
  /** Accounts holding plaintext, per host. */
  countPlaintextAccounts(host?: string): Promise<Map<string, number>>
  /**
   * Stores each conversion's credentials and removes its plaintext, all in one
   * transaction; an account whose plaintext changed (or vanished) since it was
   * read is left alone. Returns how many accounts were converted.
   */
  convertToScram(conversions: readonly ScramConversion[]): Promise<number>
  /** Which of `usernames` exist on `host`. */
  existingUsernames(host: string, usernames: readonly string[]): Promise<Set<string>>
  /** Writes a batch of imported accounts in one transaction; one outcome per account, in order. */
  importAccounts(accounts: readonly ImportedAccount[]): Promise<ImportOutcome[]>
  /**
   * Many rows were just written at once (an import): the engine's planner
   * statistics are brought up to date, where it keeps them apart from the
   * data (PostgreSQL's, until autovacuum's next pass, still describe the
   * tables as they were, and can choose plans that scan them in full).
   */
  bulkLoaded?(): Promise<void>
  /** The account's roster, requests, vCard, offline messages, private XML, PEP and archive; undefined when it does not exist. */
  exportAccountData(host: string, username: string): Promise<ExportedAccountData | undefined>
  close(): Promise<void>
}
