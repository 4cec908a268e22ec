/**
 * What an operator does with the server's per-account data from the command
 * line, as with ejabberdctl: roster administration (get_roster,
 * add_rosteritem, delete_rosteritem), the counts `user info` shows, and
 * offline-message purges (delete_old_messages). The store is written
 * directly, with or without a running server (SQLite in WAL mode).
 */
import {AccountAbsentError, ExitCode, UsageError, XmppctlError} from '../errors.js'
import {formatJid, parseBareJid} from '../jid/index.js'
import {parseElement} from '../xml/parser.js'
import type {AccountDataCounts} from '../store/account-data-store.js'
import type {AccountDataStore} from '../store/account-data-store.js'
import type {RosterItem, Subscription} from '../store/roster-store.js'
import {type AccountContext, type AccountRef, resolveAccount} from './index.js'

export interface AccountDataContext extends AccountContext {
  data: AccountDataStore
}

/** A roster item as `roster list` prints it: ejabberdctl get_roster's columns. */
export interface RosterEntry {
  contact: string
  name: string
  subscription: Subscription
  /** `out` while a subscription request to the contact waits for an answer (RFC 6121 §3.1.2), else `none`. */
  ask: 'out' | 'none'
  groups: string[]
}

export interface RosterChange {
  jid: string
  contact: string
  /** The item as stored after an add; absent after a remove. */
  item?: RosterEntry
}

export const SUBSCRIPTIONS: readonly Subscription[] = ['none', 'to', 'from', 'both']

/** RFC 7622 §3.2-3.3 bounds each JID part to 1023 bytes; the server holds names and groups to the same. */
const MAX_TEXT_BYTES = 1023

function toEntry(item: RosterItem): RosterEntry {
  return {contact: item.contact, name: item.name ?? '', subscription: item.subscription, ask: item.ask ? 'out' : 'none', groups: item.groups}
}

/** The account, which must exist: the roster store answers "empty" for an absent one. */
async function existingAccount({config, store}: AccountContext, input: string): Promise<AccountRef> {
  const account = resolveAccount(config, input)
  if (!(await store.accountExists(account.host, account.username))) throw new AccountAbsentError(account.jid)
  return account
}

/** A contact's bare JID, normalised as the server stores it; a domain JID (a gateway) is a contact too. */
function parseContact(input: string): string {
  return formatJid(parseBareJid(input, {allowDomainOnly: true}))
}

export async function listRoster(context: AccountDataContext, input: string): Promise<{jid: string; items: RosterEntry[]}> {
  const account = await existingAccount(context, input)
  const items = await context.data.getRoster(account.host, account.username)
  return {jid: account.jid, items: items.map(toEntry)}
}

/**
 * Adds or replaces `contact` in the account's roster, within the roster
 * limits the server applies (max_roster_items, max_roster_bytes). A pending
 * outbound request and a pre-approval are kept while the subscription still
 * allows them.
 */
export async function addRosterItem(
  context: AccountDataContext,
  input: string,
  contactInput: string,
  options: {name?: string; groups?: readonly string[]; subscription?: Subscription},
): Promise<RosterChange> {
  const account = resolveAccount(context.config, input)
  const contact = parseContact(contactInput)
  const groups = [...new Set(options.groups ?? [])]
  if (groups.some((group) => group === '')) throw new UsageError('a roster group cannot be empty', 'drop the empty --group')
  for (const [what, text] of [['name', options.name ?? ''], ...groups.map((group) => ['group', group])] as const) {
    if (Buffer.byteLength(text) > MAX_TEXT_BYTES) throw new UsageError(`the ${what} "${text.slice(0, 20)}…" is longer than ${MAX_TEXT_BYTES} bytes`, `shorten the ${what}`)
  }

  const existing = await context.data.getItem(account.host, account.username, contact)
  const subscription = options.subscription ?? existing?.subscription ?? 'none'
  const item: RosterItem = {
    contact,
    name: options.name === '' ? undefined : options.name,
    subscription,
    // RFC 6121 §3.1.2: a pending request makes sense only without a subscription to the contact.
    ask: (existing?.ask ?? false) && (subscription === 'none' || subscription === 'from'),
    // RFC 6121 §3.4: a pre-approval waits for a request the contact has not yet been granted.
    approved: (existing?.approved ?? false) && (subscription === 'none' || subscription === 'to'),
    groups,
  }
  const {settings} = context.config
  const result = await context.data.putItem(account.host, account.username, item, {items: settings.max_roster_items, bytes: settings.max_roster_bytes})
  if (result === 'no-account') throw new AccountAbsentError(account.jid)
  if (result === 'roster-full') {
    throw new UsageError(
      `the roster of ${account.jid} is full (max_roster_items ${settings.max_roster_items}, max_roster_bytes ${settings.max_roster_bytes})`,
      'remove items first, or raise the limits in the configuration',
    )
  }

  return {jid: account.jid, contact, item: toEntry(item)}
}

export async function removeRosterItem(context: AccountDataContext, input: string, contactInput: string): Promise<RosterChange> {
  const account = await existingAccount(context, input)
  const contact = parseContact(contactInput)
  if ((await context.data.removeItem(account.host, account.username, contact)) === undefined) {
    throw new XmppctlError('roster-item-absent', `${contact} is not in the roster of ${account.jid}`, {hint: `see the roster with "xmppctl roster list ${account.jid}"`, exitCode: ExitCode.false})
  }

  return {jid: account.jid, contact}
}

/** What the store keeps for the account, per area (roster items, offline messages, …). */
export async function accountDataCounts(context: AccountDataContext, account: AccountRef): Promise<AccountDataCounts> {
  return context.data.countAccountData(account.host, account.username)
}

export interface OfflinePurgeResult {
  /** Messages removed, or that would be under dryRun. */
  removed: number
  dryRun: boolean
  /** Only messages stored before this moment (ISO 8601), when given. */
  before?: string
  /** Only this account's messages, when given. */
  jid?: string
}

/** Removes offline messages stored before `before` (all when absent), of one account or of all. */
export async function purgeOfflineMessages(context: AccountDataContext, options: {before?: Date; user?: string; dryRun?: boolean}): Promise<OfflinePurgeResult> {
  const account = options.user === undefined ? undefined : await existingAccount(context, options.user)
  const dryRun = options.dryRun ?? false
  const removed = await context.data.purgeOfflineMessages({before: options.before, account: account && {host: account.host, username: account.username}, dryRun})
  return {removed, dryRun, ...(options.before ? {before: options.before.toISOString()} : {}), ...(account ? {jid: account.jid} : {})}
}

/** An offline message as `offline list` shows it: who sent it and when, not what it says. */
export interface OfflineEntry {
  id: number
  storedAt: string
  from: string
  type: string
  bytes: number
}

/** The account's offline messages, oldest first, at most `limit`. */
export async function listOfflineMessages(context: AccountDataContext, input: string, limit: number): Promise<{jid: string; total: number; messages: OfflineEntry[]}> {
  const account = await existingAccount(context, input)
  const stored = await context.data.getOfflineMessages(account.host, account.username, {limit})
  const messages = stored.map(({id, stanza, createdAt}) => {
    const element = parseElement(stanza)
    return {id, storedAt: createdAt.toISOString(), from: element?.attrs.from ?? '', type: element?.attrs.type ?? 'normal', bytes: Buffer.byteLength(stanza)}
  })
  return {jid: account.jid, total: await context.data.countOfflineMessages(account.host, account.username), messages}
}
