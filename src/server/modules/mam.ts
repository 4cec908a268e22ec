/**
 * mod_mam: each account's message archive (XEP-0313, urn:xmpp:mam:2 with
 * #extended, and urn:xmpp:mam:1 for older clients) and its stanza ids (XEP-0359). A chat or normal message with a
 * body between local accounts is archived on its way, once for the sender
 * (outgoing) and once for the recipient (incoming, live or offline), as each
 * account's preferences (§6) say; the recipient's copy carries its archive
 * id as <stanza-id/>, so clients can page the archive from what they have.
 * Clients page with XEP-0059 result sets; results are sent paced by what the
 * client reads.
 */
import type {ArchiveEntries, ArchiveEntry, ArchiveFilter, ArchiveMode, ArchivePage, ArchivePrefs} from '../../store/archive-store.js'
import {type Account, type Jid, accountOf, bareJid, fullJid, parseJid} from '../jid.js'
import {BadQuery, parseFilter, parsePage, queryForm, sendArchivePage} from '../archive-query.js'
import {NS} from '../../xml/namespaces.js'
import {errorReply, iqResult} from '../stanza.js'
import {type Element, x} from '../../xml/element.js'
import type {IqRequest, ModuleContext, Sender, ServerModule} from './types.js'

const EXTENDED = `${NS.mam}#extended`
/** Accounts whose preferences are kept in memory; the least recently read leave first. */
const PREFS_CACHE_SIZE = 10_000
/** JIDs one account may list under <always/> or <never/>. */
const MAX_PREFS_JIDS = 1000
export interface MamOptions {
  /** What an account archives until it sets its own preferences. */
  defaultMode: ArchiveMode
  /** The largest page a query gets. */
  maxPageSize: number
}

interface Prefs {
  mode: ArchiveMode
  always: ReadonlySet<string>
  never: ReadonlySet<string>
}

/** XEP-0313 §5.1.1 with XEP-0334 hints: chat and normal messages with a body, unless asked not to; any that asks to be stored. */
function archivable(stanza: Element): boolean {
  const type = stanza.attrs.type ?? 'normal'
  if (type !== 'chat' && type !== 'normal') return false
  let body = false
  for (const child of stanza.children) {
    if (typeof child === 'string') continue
    if (child.ns === NS.hints) {
      if (child.name === 'no-store' || child.name === 'no-permanent-store') return false
      if (child.name === 'store') body = true
    } else if (child.name === 'body' && child.ns === NS.client) body = true
  }

  return body
}

/** The <stanza-id/> elements whose `by` names one of `accounts`: only this server may claim to have archived for them (XEP-0359 §5). */
function stripClaimedIds(stanza: Element, accounts: readonly string[]): void {
  let found = false
  for (const child of stanza.children) if (typeof child !== 'string' && child.name === 'stanza-id' && child.ns === NS.stanzaId) found = true
  if (!found) return
  stanza.children = stanza.children.filter((child) => {
    if (typeof child === 'string' || child.name !== 'stanza-id' || child.ns !== NS.stanzaId) return true
    const by = parseJid(child.attrs.by ?? '')
    return !by || by.resource !== '' || !accounts.includes(bareJid(by))
  })
}

/** The JIDs of a <prefs/> list, normalised. */
function prefsJids(list: Element | undefined): string[] {
  const jids: string[] = []
  for (const item of list?.getChildren('jid', list.ns) ?? []) {
    const jid = parseJid(item.text().trim())
    if (!jid) throw new BadQuery(`not a JID in the preferences: ${item.text()}`)
    if (!jids.includes(fullJid(jid))) jids.push(fullJid(jid))
  }

  if (jids.length > MAX_PREFS_JIDS) throw new BadQuery(`at most ${MAX_PREFS_JIDS} JIDs per list`)
  return jids
}

function prefsElement(prefs: ArchivePrefs, ns: string): Element {
  const list = (name: string, jids: readonly string[]) => x(name, ns, {}, ...jids.map((jid) => x('jid', ns, {}, jid)))
  return x('prefs', ns, {default: prefs.mode}, list('always', prefs.always), list('never', prefs.never))
}

export function createMamModule(context: ModuleContext, options: MamOptions): ServerModule {
  const {archives, rosters, logger} = context
  const defaults: Prefs = {mode: options.defaultMode, always: new Set(), never: new Set()}
  /** Preferences by bare JID, read once (the server is the only writer; in a cluster, a node that writes tells the others), in least-recently-read order. */
  const prefsCache = new Map<string, Prefs>()

  const remember = (bare: string, prefs: Prefs): Prefs => {
    prefsCache.delete(bare)
    prefsCache.set(bare, prefs)
    if (prefsCache.size > PREFS_CACHE_SIZE) prefsCache.delete(prefsCache.keys().next().value!)
    return prefs
  }

  const loadPrefs = async (owner: Account): Promise<Prefs> => {
    const stored = await archives.getPrefs(owner.host, owner.username)
    return remember(owner.bare, stored ? {mode: stored.mode, always: new Set(stored.always), never: new Set(stored.never)} : defaults)
  }

  const decideWith = (prefs: Prefs, owner: Account, peer: Jid): boolean | Promise<boolean> => {
    // Most accounts list no JIDs: no JID strings are built for them.
    if (prefs.mode !== 'roster' && prefs.never.size === 0 && prefs.always.size === 0) return prefs.mode === 'always'
    const bare = bareJid(peer)
    const full = fullJid(peer)
    // §6: <never/> wins over <always/>, and both over the default.
    if (prefs.never.has(bare) || prefs.never.has(full)) return false
    if (prefs.always.has(bare) || prefs.always.has(full)) return true
    if (prefs.mode !== 'roster') return prefs.mode === 'always'
    return rosters.getItem(owner.host, owner.username, bare).then((item) => item !== undefined)
  }

  /** Whether `owner` archives its messages with `peer`; synchronous while its preferences are cached. */
  const archiving = (owner: Account, peer: Jid): boolean | Promise<boolean> => {
    const cached = prefsCache.get(owner.bare)
    if (cached) return decideWith(cached, owner, peer)
    return loadPrefs(owner).then((prefs) => decideWith(prefs, owner, peer))
  }

  const messageRouting = (stanza: Element, sender: Sender, to: Jid): Promise<void> | void => {
    const recipient = accountOf(to)
    // A service on this server (a room) gives its own ids (XEP-0359 §3); a client never claims ids for its account.
    stripClaimedIds(stanza, sender.localSession ? [recipient.bare, sender.bareJid] : [recipient.bare])
    if (!archivable(stanza)) return
    // A message to one's own account is archived once, as received; a sender without a session here (a room, say) keeps no archive on this server.
    const local = sender.localSession
    const outgoing: Account | undefined = local === undefined || recipient.bare === sender.bareJid ? undefined : {host: local.host!, username: local.username!, bare: sender.bareJid}
    const incoming = archiving(recipient, sender.jid!)
    const sent = outgoing ? archiving(outgoing, to) : false
    if (typeof incoming === 'boolean' && typeof sent === 'boolean') return archive(stanza, sender, to, recipient, incoming, sent ? outgoing : undefined)
    return Promise.all([incoming, sent]).then(([keepIncoming, keepSent]) => archive(stanza, sender, to, recipient, keepIncoming, keepSent ? outgoing : undefined))
  }

  const archive = (stanza: Element, sender: Sender, to: Jid, recipient: Account, incoming: boolean, outgoing: Account | undefined): void => {
    if (!incoming && !outgoing) return
    // Archived as routed, without the stanza id added below (the result carries the id, §4.2), and with its namespace, as parseElement reads it.
    const sent: ArchiveEntry | undefined = outgoing && {host: outgoing.host, username: outgoing.username, with: recipient.bare, withResource: to.resource}
    const received: ArchiveEntry | undefined = incoming ? {host: recipient.host, username: recipient.username, with: sender.bareJid, withResource: sender.jid!.resource} : undefined
    const entries: ArchiveEntries = sent && received ? [sent, received] : [(sent ?? received)!]
    const id = archives.add(stanza.toString(), entries)
    if (incoming) stanza.append(x('stanza-id', NS.stanzaId, {id, by: recipient.bare}))
  }

  const query = async ({session, stanza, query, account}: IqRequest): Promise<void> => {
    const owner = account!
    if (stanza.attrs.type === 'get') return session.send(iqResult(stanza, undefined, queryForm(query.ns)))
    if (query.attrs.node !== undefined) return session.send(errorReply(stanza, 'item-not-found', undefined, 'an account\'s archive has no nodes'))
    let filter: ArchiveFilter
    let page: ArchivePage
    try {
      filter = parseFilter(query)
      page = parsePage(query, options.maxPageSize)
    } catch (error) {
      if (error instanceof BadQuery) return session.send(errorReply(stanza, 'bad-request', undefined, error.message))
      throw error
    }

    const result = await archives.query(owner.host, owner.username, filter, page)
    // §4.1.4 (and #extended's ids): an id the archive does not hold.
    if (!result) return session.send(errorReply(stanza, 'item-not-found', undefined, 'no message in the archive has that id'))
    await sendArchivePage({
      query,
      iq: stanza,
      from: owner.bare,
      to: session.fullJid,
      result,
      send: (reply) => session.send(reply),
      ready: () => session.drained(),
      damaged: (id) => logger.error(`the archive of ${owner.bare} holds a message that is not well-formed XML (id ${id}); skipped`),
    })
  }

  const prefs = async ({session, stanza, query, account}: IqRequest): Promise<void> => {
    const owner = account!
    if (stanza.attrs.type === 'get') {
      const stored = await archives.getPrefs(owner.host, owner.username)
      return session.send(iqResult(stanza, undefined, prefsElement(stored ?? {mode: options.defaultMode, always: [], never: []}, query.ns)))
    }

    const mode = query.attrs.default
    if (mode !== 'always' && mode !== 'never' && mode !== 'roster') {
      return session.send(errorReply(stanza, 'bad-request', undefined, 'default must be always, never or roster'))
    }

    let stored: ArchivePrefs
    try {
      stored = {mode, always: prefsJids(query.getChild('always', query.ns)), never: prefsJids(query.getChild('never', query.ns))}
    } catch (error) {
      if (error instanceof BadQuery) return session.send(errorReply(stanza, 'bad-request', undefined, error.message))
      throw error
    }

    if (!(await archives.setPrefs(owner.host, owner.username, stored))) return session.send(errorReply(stanza, 'not-allowed', undefined, 'this account no longer exists'))
    remember(owner.bare, {mode, always: new Set(stored.always), never: new Set(stored.never)})
    await context.cachedDataChanged(owner)
    // §6.1: the answer holds the preferences now in force.
    session.send(iqResult(stanza, undefined, prefsElement(stored, query.ns)))
  }

  return {
    name: 'mod_mam',
    accountFeatures: [NS.mam, EXTENDED, NS.mam1, NS.stanzaId],
    // urn:xmpp:mam:1 (XEP-0313 0.6) for clients that know only it: the same queries, answered in the namespace asked.
    iq: [NS.mam, NS.mam1].flatMap((ns) => [
      {ns, name: 'query', types: ['get', 'set'] as const, to: ['own'] as const, handle: query},
      {ns, name: 'prefs', types: ['get', 'set'] as const, to: ['own'] as const, handle: prefs},
    ]),
    messageRouting,
    accountDeleted(account) {
      prefsCache.delete(account.bare)
    },

    accountDataChanged(account) {
      prefsCache.delete(account.bare)
    },
  }
}
