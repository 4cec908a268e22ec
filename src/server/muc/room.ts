/**
 * One XEP-0045 room: its occupants, roles and affiliations, and what the
 * room does with each stanza sent to it or to one of its occupants. The room
 * sends through its `RoomHost` (the mod_muc module), from its own JID or an
 * occupant's room JID, to occupants' real JIDs.
 */
import {createHmac} from 'node:crypto'

import type {ArchiveFilter, ArchivePage, ArchiveResult} from '../../store/archive-store.js'
import type {RoomConfig, StoredAffiliation, StoredRoom} from '../../store/room-store.js'
import {BadQuery, parseFilter, parsePage, queryForm, sendArchivePage} from '../archive-query.js'
import {bareJid, parseJid} from '../jid.js'
import type {Sender} from '../modules/types.js'
import {NS} from '../../xml/namespaces.js'
import {randomToken} from '../random.js'
import {type StanzaErrorCondition, errorReply, iqResult} from '../stanza.js'
import {type Element, x} from '../../xml/element.js'
import {configForm, applyConfigForm, roomInfoForm} from './config-form.js'

export type Affiliation = StoredAffiliation | 'none'

/** The largest page of a room's archive one query gets, as mod_mam's default max_page_size. */
const ROOM_ARCHIVE_PAGE = 250
export type Role = 'moderator' | 'participant' | 'visitor' | 'none'

const AFFILIATION_RANK: Record<Affiliation, number> = {outcast: -1, none: 0, member: 1, admin: 2, owner: 3}

interface Occupant {
  nick: string
  /** The occupant's real full JID. */
  jid: string
  bare: string
  role: Role
  /** The occupant's last presence to the room, as it is broadcast (children other than the MUC ones). */
  presence: Element
  sender: Sender
}

interface ForwardedIq {
  /** Who asked (real full JID) and as whom in the room. */
  requester: string
  requesterNick: string
  /** The JID the request went to, the only one whose answer is taken, and the occupant it was addressed to. */
  responder: string
  responderNick: string
  /** The requester's own id, restored in the answer. */
  id: string
  expires: number
}

/** How long the room waits for an occupant to answer a forwarded iq (RFC 6120 §8.2.3 asks for an answer; a client may never give one). */
const FORWARDED_IQ_LIFETIME_MS = 60_000
/** Unanswered forwarded requests one room keeps at most: a client flooding requests cannot grow the server's memory. */
const MAX_FORWARDED_IQS = 256

interface HistoryEntry {
  /** The message as broadcast, without `to`. */
  stanza: Element
  /** The occupant's room JID it came from. */
  from: string
  at: Date
  chars: number
}

/** What a room needs of the service that hosts it. */
export interface RoomHost {
  /** Sends `stanza` from `from` (the room's JID or an occupant's room JID). */
  send(stanza: Element, from: string): void
  /** Stores the room (persistent rooms) or forgets it (temporary ones). */
  persist(room: Room): Promise<void>
  /** The room has no occupants left and is not persistent, or was destroyed. */
  discard(room: Room, destroyed: boolean): Promise<void>
  /** Keeps a groupchat message (with `from`) in the room's archive; its id, or undefined when the store keeps none for the room. */
  archive(room: Room, nick: string, stanza: Element): Promise<string | undefined>
  /** A page of the room's archive. */
  queryArchive(room: Room, filter: ArchiveFilter, page: ArchivePage): Promise<ArchiveResult | undefined>
  /** A secret that keeps occupant ids (XEP-0421) stable while the server runs. */
  readonly occupantIdSecret: Buffer
  /** The service's domain. */
  readonly service: string
}

export class Room {
  readonly name: string
  readonly jid: string
  config: RoomConfig
  subject: string
  subjectBy: string
  readonly affiliations: Map<string, {affiliation: StoredAffiliation; reason: string}>
  private readonly occupants = new Map<string, Occupant>()
  /** Real full JID → nick. */
  private readonly nicks = new Map<string, string>()
  private readonly history: HistoryEntry[] = []
  /** Requests forwarded to occupants (occupantIq), by the id the room gave them, until answered or expired. */
  private readonly forwarded = new Map<string, ForwardedIq>()
  private readonly host: RoomHost

  constructor(host: RoomHost, stored: StoredRoom) {
    this.host = host
    this.name = stored.name
    this.jid = `${stored.name}@${host.service}`
    // Rooms stored before archives existed archive, as new ones do by default.
    this.config = {...stored.config, archive: (stored.config as Partial<RoomConfig>).archive ?? true}
    this.subject = stored.subject
    this.subjectBy = stored.subjectBy
    this.affiliations = stored.affiliations
  }

  get occupantCount(): number {
    return this.occupants.size
  }

  get empty(): boolean {
    return this.occupants.size === 0
  }

  toStored(): StoredRoom {
    return {service: this.host.service, name: this.name, config: this.config, subject: this.subject, subjectBy: this.subjectBy, affiliations: this.affiliations}
  }

  affiliationOf(bare: string): Affiliation {
    return this.affiliations.get(bare)?.affiliation ?? 'none'
  }

  /** Whether the real JID `fullJid` is in the room. */
  has(fullJid: string): boolean {
    return this.nicks.has(fullJid)
  }

  /** The occupants' nicks and roles, for `muc info`. */
  occupantList(): Array<{nick: string; jid: string; role: Role; affiliation: Affiliation}> {
    return [...this.occupants.values()].map((occupant) => ({nick: occupant.nick, jid: occupant.jid, role: occupant.role, affiliation: this.affiliationOf(occupant.bare)}))
  }

  // ---- presence ----------------------------------------------------------

  /**
   * Presence from `sender` to `room@service/nick`. `created` is set when this
   * presence made the room (XEP-0045 §10.1.1: status 201).
   */
  async presence(stanza: Element, sender: Sender, nick: string, created = false): Promise<void> {
    const type = stanza.attrs.type
    const current = this.nicks.get(sender.fullJid)
    if (type === 'error') {
      // §18.1: an occupant whose client answers with an error is gone.
      if (current !== undefined) await this.leave(this.occupants.get(current)!, x('presence', NS.client, {type: 'unavailable'}))
      return
    }

    if (type === 'unavailable') {
      if (current !== undefined) await this.leave(this.occupants.get(current)!, stanza)
      return
    }

    if (type !== undefined) return sender.send(errorReply(stanza, 'bad-request'))
    if (current === undefined) return this.join(stanza, sender, nick, created)
    const occupant = this.occupants.get(current)!
    if (current !== nick) return this.changeNick(stanza, occupant, nick)
    occupant.presence = broadcastPresence(stanza)
    this.broadcastPresenceOf(occupant)
  }

  private async join(stanza: Element, sender: Sender, nick: string, created: boolean): Promise<void> {
    const muc = stanza.getChild('x', NS.muc)
    const fail = (condition: StanzaErrorCondition, text?: string) => {
      const reply = errorReply(stanza, condition, undefined, text)
      // §7.2.5 ff.: the error echoes the <x/> of the join.
      if (muc) reply.children.unshift(x('x', NS.muc))
      sender.send(reply)
    }

    const bare = sender.bareJid
    const affiliation = this.affiliationOf(bare)
    // §7.2.7 banned, §7.2.6 members-only, §7.2.5 password, §7.2.8 nick in use, §7.2.9 full.
    if (affiliation === 'outcast') return fail('forbidden', 'you are banned from this room')
    if (this.config.membersOnly && affiliation === 'none') return fail('registration-required', 'this room is for members only')
    if (this.config.password !== '' && !created && muc?.getChildText('password') !== this.config.password) return fail('not-authorized', 'this room needs a password')
    const holder = this.occupants.get(nick)
    if (holder && holder.bare !== bare) return fail('conflict', 'that nickname is in use in this room')
    if (holder) return fail('conflict', 'you are in this room under that nickname from another client')
    if (this.occupants.size >= this.config.maxUsers && AFFILIATION_RANK[affiliation] < AFFILIATION_RANK.admin) return fail('service-unavailable', 'this room is full')

    const occupant: Occupant = {nick, jid: sender.fullJid, bare, role: this.defaultRole(affiliation), presence: broadcastPresence(stanza), sender}
    // §7.2.3: the others' presence first, then the newcomer's to everyone, its own copy last with 110.
    for (const other of this.occupants.values()) this.sendPresence(other, occupant)
    this.occupants.set(nick, occupant)
    this.nicks.set(occupant.jid, nick)
    for (const other of this.occupants.values()) {
      if (other !== occupant) this.sendPresence(occupant, other)
    }

    const codes = ['110']
    if (this.config.whois === 'anyone') codes.push('100')
    // §7.2.12: the room keeps what is said.
    if (this.archived) codes.push('170')
    if (created) codes.push('201')
    this.sendPresence(occupant, occupant, codes)
    this.sendHistory(occupant, muc?.getChild('history', NS.muc))
    // §7.2.15: the subject, even when there is none, tells the client the join is complete.
    const subject = x('message', NS.client, {type: 'groupchat', id: randomToken(8)}, x('subject', NS.client, {}, this.subject || undefined))
    this.deliver(subject, this.subjectBy ? `${this.jid}/${this.subjectBy}` : this.jid, occupant)
  }

  private async changeNick(stanza: Element, occupant: Occupant, nick: string): Promise<void> {
    const holder = this.occupants.get(nick)
    if (holder) {
      const reply = errorReply(stanza, 'conflict', undefined, 'that nickname is in use in this room')
      reply.children.unshift(x('x', NS.muc))
      return occupant.sender.send(reply)
    }

    // §7.6: unavailable from the old nick with 303 and the new one, then available from the new nick.
    const old = occupant.nick
    for (const other of this.occupants.values()) {
      const item = this.item(occupant, other, {nick})
      const unavailable = x('presence', NS.client, {type: 'unavailable'}, x('x', NS.mucUser, {}, item, ...statusCodes(other === occupant ? ['303', '110'] : ['303'])), this.occupantIdElement(occupant))
      this.deliver(unavailable, `${this.jid}/${old}`, other)
    }

    this.occupants.delete(old)
    occupant.nick = nick
    occupant.presence = broadcastPresence(stanza)
    this.occupants.set(nick, occupant)
    this.nicks.set(occupant.jid, nick)
    for (const other of this.occupants.values()) this.sendPresence(occupant, other, other === occupant ? ['110'] : [])
  }

  private async leave(occupant: Occupant, stanza: Element, codes: string[] = [], extra?: {actor?: string; reason?: string}): Promise<void> {
    this.occupants.delete(occupant.nick)
    this.nicks.delete(occupant.jid)
    occupant.role = 'none'
    const status = stanza.getChildText('status')
    for (const recipient of [...this.occupants.values(), occupant]) {
      const item = this.item(occupant, recipient, {actor: extra?.actor, reason: extra?.reason})
      const self = recipient === occupant
      const unavailable = x('presence', NS.client, {type: 'unavailable'}, status === undefined ? undefined : x('status', NS.client, {}, status), x('x', NS.mucUser, {}, item, ...statusCodes(self ? [...codes, '110'] : codes)), this.occupantIdElement(occupant))
      this.deliver(unavailable, `${this.jid}/${occupant.nick}`, recipient)
    }

    if (this.occupants.size === 0 && !this.config.persistent) await this.host.discard(this, false)
  }

  /** The session with real JID `fullJid` ended: it leaves, as if it had sent unavailable presence. */
  async sessionEnded(fullJid: string): Promise<void> {
    const nick = this.nicks.get(fullJid)
    if (nick !== undefined) await this.leave(this.occupants.get(nick)!, x('presence', NS.client, {type: 'unavailable'}))
  }

  private defaultRole(affiliation: Affiliation): Role {
    if (affiliation === 'owner' || affiliation === 'admin') return 'moderator'
    return this.config.moderated && affiliation === 'none' ? 'visitor' : 'participant'
  }

  /** `subject`'s presence (or unavailable presence) as `recipient` sees it, with status codes. */
  private sendPresence(subject: Occupant, recipient: Occupant, codes: string[] = []): void {
    const presence = subject.presence.clone()
    presence.append(x('x', NS.mucUser, {}, this.item(subject, recipient), ...statusCodes(codes)), this.occupantIdElement(subject))
    this.deliver(presence, `${this.jid}/${subject.nick}`, recipient)
  }

  private broadcastPresenceOf(subject: Occupant): void {
    for (const recipient of this.occupants.values()) this.sendPresence(subject, recipient, recipient === subject ? ['110'] : [])
  }

  /** The <item/> describing `subject` to `recipient`: the real JID only where the room lets the recipient see it (§7.2.3, §7.2.4). */
  private item(subject: Occupant, recipient: Occupant, extra: {nick?: string; actor?: string; reason?: string} = {}): Element {
    const showJid = this.config.whois === 'anyone' || recipient.role === 'moderator' || recipient === subject
    return x(
      'item',
      NS.mucUser,
      {affiliation: this.affiliationOf(subject.bare), role: subject.role, jid: showJid ? subject.jid : undefined, nick: extra.nick},
      extra.actor === undefined ? undefined : x('actor', NS.mucUser, {nick: extra.actor}),
      extra.reason === undefined ? undefined : x('reason', NS.mucUser, {}, extra.reason),
    )
  }

  /** XEP-0421 §3: an id per real bare JID that other occupants cannot reverse. */
  private occupantIdElement(occupant: Occupant): Element {
    const id = createHmac('sha256', this.host.occupantIdSecret).update(`${this.jid}\0${occupant.bare}`).digest('base64')
    return x('occupant-id', NS.occupantId, {id})
  }

  private deliver(stanza: Element, from: string, recipient: Occupant): void {
    const copy = stanza.clone()
    copy.attrs.to = recipient.jid
    this.host.send(copy, from)
  }

  // ---- messages ----------------------------------------------------------

  /** A message from `sender` to the room's bare JID. */
  async message(stanza: Element, sender: Sender): Promise<void> {
    const type = stanza.attrs.type
    if (type === 'error') {
      const nick = this.nicks.get(sender.fullJid)
      if (nick !== undefined) await this.leave(this.occupants.get(nick)!, x('presence', NS.client, {type: 'unavailable'}))
      return
    }

    const user = stanza.getChild('x', NS.mucUser)
    if (type !== 'groupchat' && user && (user.getChild('invite') || user.getChild('decline'))) return this.invitation(stanza, sender, user)
    const nick = this.nicks.get(sender.fullJid)
    // §7.4: only occupants talk in the room, and not visitors of a moderated room.
    if (nick === undefined) return sender.send(errorReply(stanza, 'not-acceptable', undefined, 'join the room before sending to it'))
    const occupant = this.occupants.get(nick)!
    if (type !== 'groupchat') return sender.send(errorReply(stanza, 'bad-request', undefined, 'messages to a room are of type groupchat'))
    const subject = stanza.getChild('subject')
    if (subject && stanza.getChild('body') === undefined) return this.changeSubject(stanza, occupant, subject.text())
    if (occupant.role === 'visitor') return sender.send(errorReply(stanza, 'forbidden', undefined, 'visitors cannot speak in this moderated room'))

    const message = x('message', NS.client, {type: 'groupchat', id: stanza.attrs.id})
    // XEP-0359 §3: a stanza id claimed by this room is the room's to give, never the sender's.
    for (const child of stanza.elements()) {
      if (child.ns === NS.stanzaId && child.name === 'stanza-id' && child.attrs.by === this.jid) continue
      if (child.ns === NS.occupantId) continue
      message.append(child)
    }

    message.append(this.occupantIdElement(occupant))
    // XEP-0313 §5.1 on a room: the stanza id is the archive id, so clients page the archive from what they saw.
    let id: string | undefined
    if (this.archived && message.getChild('body') !== undefined) {
      const stored = message.clone()
      stored.attrs.from = `${this.jid}/${nick}`
      id = await this.host.archive(this, nick, stored)
    }

    message.append(x('stanza-id', NS.stanzaId, {id: id ?? randomToken(12), by: this.jid}))
    this.remember(message, `${this.jid}/${nick}`)
    for (const recipient of this.occupants.values()) this.deliver(message, `${this.jid}/${nick}`, recipient)
  }

  private async changeSubject(stanza: Element, occupant: Occupant, subject: string): Promise<void> {
    const allowed = occupant.role === 'moderator' || (this.config.changeSubject && occupant.role === 'participant')
    if (!allowed) return occupant.sender.send(errorReply(stanza, 'forbidden', undefined, 'only moderators may change the subject of this room'))
    this.subject = subject
    this.subjectBy = occupant.nick
    if (this.config.persistent) await this.host.persist(this)
    const message = x('message', NS.client, {type: 'groupchat', id: stanza.attrs.id}, x('subject', NS.client, {}, subject || undefined))
    for (const recipient of this.occupants.values()) this.deliver(message, `${this.jid}/${occupant.nick}`, recipient)
  }

  /** A private message from an occupant to `nick` (§7.5). */
  async privateMessage(stanza: Element, sender: Sender, nick: string): Promise<void> {
    if (stanza.attrs.type === 'error') return this.privateMessageBounced(stanza, sender, nick)
    const from = this.nicks.get(sender.fullJid)
    if (from === undefined) return sender.send(errorReply(stanza, 'not-acceptable', undefined, 'join the room before sending to its occupants'))
    if (stanza.attrs.type === 'groupchat') return sender.send(errorReply(stanza, 'bad-request', undefined, 'a private message is not of type groupchat'))
    if (!this.config.allowPrivateMessages) return sender.send(errorReply(stanza, 'forbidden', undefined, 'private messages are not allowed in this room'))
    const target = this.occupants.get(nick)
    if (!target) return sender.send(errorReply(stanza, 'item-not-found', undefined, `nobody is in the room as ${nick}`))
    const message = x('message', NS.client, {type: stanza.attrs.type, id: stanza.attrs.id})
    for (const child of stanza.elements()) if (child.ns !== NS.mucUser) message.append(child)
    // XEP-0045 §7.5: marks the message as private to the room, so clients do not take it for a one-to-one chat.
    message.append(x('x', NS.mucUser))
    this.deliver(message, `${this.jid}/${from}`, target)
  }

  /**
   * An error for a private message the room passed on from `nick`: back to
   * that occupant, from the occupant JID of whoever refused it (the room's
   * own for an entity not in the room), so that its sender learns the message
   * was not delivered (RFC 6120 §8.3.1) rather than the room swallowing it.
   */
  private privateMessageBounced(stanza: Element, sender: Sender, nick: string): void {
    const occupant = this.occupants.get(nick)
    if (!occupant) return
    const refuser = this.nicks.get(sender.fullJid) ?? [...this.occupants.values()].find((candidate) => candidate.bare === sender.bareJid)?.nick
    const error = x('message', NS.client, {type: 'error', id: stanza.attrs.id}, ...stanza.elements().filter((child) => child.name === 'error'))
    this.deliver(error, refuser === undefined ? this.jid : `${this.jid}/${refuser}`, occupant)
  }

  /** §7.8.2 mediated invitation, §7.8.2.? decline. */
  private async invitation(stanza: Element, sender: Sender, user: Element): Promise<void> {
    const decline = user.getChild('decline')
    if (decline) {
      const to = decline.attrs.to === undefined ? undefined : parseJid(decline.attrs.to)
      if (!to) return sender.send(errorReply(stanza, 'jid-malformed', undefined, 'a decline needs to=\'the inviter\'s JID\''))
      const reason = decline.getChildText('reason')
      const message = x('message', NS.client, {to: decline.attrs.to}, x('x', NS.mucUser, {}, x('decline', NS.mucUser, {from: sender.bareJid}, reason === undefined ? undefined : x('reason', NS.mucUser, {}, reason))))
      return this.host.send(message, this.jid)
    }

    const nick = this.nicks.get(sender.fullJid)
    if (nick === undefined) return sender.send(errorReply(stanza, 'not-acceptable', undefined, 'join the room before inviting to it'))
    const rank = AFFILIATION_RANK[this.affiliationOf(sender.bareJid)]
    if (this.config.membersOnly && !this.config.allowInvites && rank < AFFILIATION_RANK.admin) {
      return sender.send(errorReply(stanza, 'forbidden', undefined, 'only admins and owners may invite to this members-only room'))
    }

    for (const invite of user.getChildren('invite', NS.mucUser)) {
      const to = invite.attrs.to === undefined ? undefined : parseJid(invite.attrs.to)
      if (!to) return sender.send(errorReply(stanza, 'jid-malformed', undefined, 'an invite needs to=\'a JID\''))
      const invitee = bareJid(to)
      // §9.3: an invitation to a members-only room by one who may invite makes the invitee a member.
      if (this.config.membersOnly && this.affiliationOf(invitee) === 'none') {
        this.affiliations.set(invitee, {affiliation: 'member', reason: ''})
        if (this.config.persistent) await this.host.persist(this)
      }

      const reason = invite.getChildText('reason')
      const body = `${sender.bareJid} invites you to the room ${this.jid}${reason ? `: ${reason}` : ''}`
      const message = x(
        'message',
        NS.client,
        {to: invite.attrs.to},
        x('x', NS.mucUser, {}, x('invite', NS.mucUser, {from: sender.bareJid}, reason === undefined ? undefined : x('reason', NS.mucUser, {}, reason)), this.config.password ? x('password', NS.mucUser, {}, this.config.password) : undefined),
        x('body', NS.client, {}, body),
      )
      this.host.send(message, this.jid)
    }
  }

  private remember(message: Element, from: string): void {
    if (this.config.historySize === 0) return
    const stored = message.clone()
    delete stored.attrs.to
    this.history.push({stanza: stored, from, at: new Date(), chars: stored.toString(NS.client).length})
    if (this.history.length > this.config.historySize) this.history.splice(0, this.history.length - this.config.historySize)
  }

  /** §7.2.14 discussion history, limited as the join asked (maxstanzas, maxchars, seconds, since). */
  private sendHistory(occupant: Occupant, limits: Element | undefined): void {
    let entries = this.history
    const number = (name: string) => {
      const value = limits?.attrs[name]
      return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined
    }

    const seconds = number('seconds')
    if (seconds !== undefined) entries = entries.filter((entry) => Date.now() - entry.at.getTime() <= seconds * 1000)
    const since = limits?.attrs.since === undefined ? undefined : Date.parse(limits.attrs.since)
    if (since !== undefined && !Number.isNaN(since)) entries = entries.filter((entry) => entry.at.getTime() > since)
    const maxStanzas = number('maxstanzas')
    if (maxStanzas !== undefined) entries = entries.slice(Math.max(0, entries.length - maxStanzas))
    const maxChars = number('maxchars')
    if (maxChars !== undefined) {
      let total = 0
      let first = entries.length
      while (first > 0 && total + entries[first - 1].chars <= maxChars) total += entries[--first].chars
      entries = entries.slice(first)
    }

    for (const entry of entries) {
      const message = entry.stanza.clone()
      // XEP-0203: when it was said, stamped by the room.
      message.append(x('delay', NS.delay, {from: this.jid, stamp: entry.at.toISOString()}))
      this.deliver(message, entry.from, occupant)
    }
  }

  // ---- iq ----------------------------------------------------------------

  /** An iq to the room's bare JID. */
  async iq(stanza: Element, sender: Sender): Promise<void> {
    const type = stanza.attrs.type
    if (type === 'result' || type === 'error') return
    const query = stanza.elements()[0]
    if (!query) return sender.send(errorReply(stanza, 'bad-request'))
    if (query.ns === NS.discoInfo && type === 'get') return sender.send(iqResult(stanza, undefined, this.discoInfo(query.attrs.node)))
    // Occupants are not listed (§6.5 allows it): their real JIDs are the room's to hide.
    if (query.ns === NS.discoItems && type === 'get') return sender.send(iqResult(stanza, undefined, x('query', NS.discoItems, {node: query.attrs.node})))
    if (query.ns === NS.ping && type === 'get') return sender.send(iqResult(stanza, undefined))
    if (query.ns === NS.mucAdmin && query.name === 'query') return type === 'get' ? this.adminGet(stanza, query, sender) : this.adminSet(stanza, query, sender)
    if (query.ns === NS.mucOwner && query.name === 'query') return type === 'get' ? this.ownerGet(stanza, query, sender) : this.ownerSet(stanza, query, sender)
    if ((query.ns === NS.mam || query.ns === NS.mam1) && query.name === 'query') return this.archiveQuery(stanza, query, sender)
    sender.send(errorReply(stanza, 'service-unavailable'))
  }

  /** Whether the room keeps an archive: persistent, with archiving on. */
  get archived(): boolean {
    return this.config.persistent && this.config.archive
  }

  /** XEP-0313 on the room's JID: for whoever may join (members of a members-only room, anyone not banned otherwise). */
  private async archiveQuery(stanza: Element, query: Element, sender: Sender): Promise<void> {
    if (!this.archived) return sender.send(errorReply(stanza, 'feature-not-implemented', undefined, 'this room keeps no archive'))
    const affiliation = this.affiliationOf(sender.bareJid)
    if (affiliation === 'outcast' || (this.config.membersOnly && affiliation === 'none')) return sender.send(errorReply(stanza, 'forbidden', undefined, 'only those who may join the room read its archive'))
    if (stanza.attrs.type === 'get') return sender.send(iqResult(stanza, undefined, queryForm(query.ns)))
    let filter: ArchiveFilter
    let page: ArchivePage
    try {
      filter = parseFilter(query)
      page = parsePage(query, ROOM_ARCHIVE_PAGE)
    } catch (error) {
      if (error instanceof BadQuery) return sender.send(errorReply(stanza, 'bad-request', undefined, error.message))
      throw error
    }

    const result = await this.host.queryArchive(this, filter, page)
    if (!result) return sender.send(errorReply(stanza, 'item-not-found', undefined, 'no message in the archive has that id'))
    await sendArchivePage({query, iq: stanza, from: this.jid, to: sender.fullJid, result, send: (reply) => sender.send(reply)})
  }

  /**
   * An iq to an occupant's room JID. XEP-0410 self-ping is the room's to
   * answer. Any other request from an occupant goes on to the target's real
   * JID from the requester's occupant JID, and its answer comes back the same
   * way (XEP-0045 §7.5's rule for private messages, applied to iq as
   * ejabberd and Prosody do), so neither side learns the other's real JID.
   * A vCard request goes to the target's bare JID: the vCard is the
   * account's, and its server answers it (XEP-0054 §3.1).
   */
  async occupantIq(stanza: Element, sender: Sender, nick: string): Promise<void> {
    const type = stanza.attrs.type
    if (type === 'result' || type === 'error') return this.forwardAnswer(stanza, sender, nick)
    const query = stanza.elements()[0]
    const own = this.nicks.get(sender.fullJid)
    if (query?.ns === NS.ping && type === 'get') {
      // XEP-0410 §3: answered by the room for an occupant still joined; not-acceptable tells a client it was dropped.
      if (own === undefined) return sender.send(errorReply(stanza, 'not-acceptable', undefined, 'you are not in this room'))
      if (!this.occupants.has(nick)) return sender.send(errorReply(stanza, 'item-not-found', undefined, `nobody is in the room as ${nick}`))
      return sender.send(iqResult(stanza, undefined))
    }

    if (own === undefined) return sender.send(errorReply(stanza, 'not-acceptable', undefined, 'join the room before sending to its occupants'))
    const target = this.occupants.get(nick)
    if (!target) return sender.send(errorReply(stanza, 'item-not-found', undefined, `nobody is in the room as ${nick}`))
    const now = Date.now()
    // Unanswered requests expire in insertion order (one lifetime for all), and their number is bounded per room.
    for (const [id, pending] of this.forwarded) {
      if (pending.expires > now) break
      this.forwarded.delete(id)
    }

    if (this.forwarded.size >= MAX_FORWARDED_IQS) return sender.send(errorReply(stanza, 'resource-constraint', undefined, 'too many requests to occupants are waiting for an answer; try again later'))
    const id = randomToken(12)
    const to = query?.ns === NS.vcard && type === 'get' ? target.bare : target.jid
    this.forwarded.set(id, {requester: sender.fullJid, requesterNick: own, responder: to, responderNick: nick, id: stanza.attrs.id ?? '', expires: now + FORWARDED_IQ_LIFETIME_MS})
    this.host.send(x('iq', NS.client, {type, id, to}, ...stanza.elements().map((child) => child.clone())), `${this.jid}/${own}`)
  }

  /** The answer to a request the room forwarded, back to whoever asked, from the occupant JID it was asked of. */
  private forwardAnswer(stanza: Element, sender: Sender, nick: string): void {
    const id = stanza.attrs.id
    const pending = id === undefined ? undefined : this.forwarded.get(id)
    // Only the entity asked may answer, to the occupant JID that asked: anything else answers nothing (RFC 6120 §8.2.3: never an error to a result or error).
    if (!pending || pending.responder !== sender.fullJid || pending.requesterNick !== nick) return
    this.forwarded.delete(id!)
    if (this.nicks.get(pending.requester) !== pending.requesterNick) return
    this.host.send(x('iq', NS.client, {type: stanza.attrs.type, id: pending.id, to: pending.requester}, ...stanza.elements().map((child) => child.clone())), `${this.jid}/${pending.responderNick}`)
  }

  discoInfo(node?: string): Element {
    const config = this.config
    const features = [
      NS.muc,
      config.persistent ? 'muc_persistent' : 'muc_temporary',
      config.public ? 'muc_public' : 'muc_hidden',
      config.membersOnly ? 'muc_membersonly' : 'muc_open',
      config.moderated ? 'muc_moderated' : 'muc_unmoderated',
      config.password ? 'muc_passwordprotected' : 'muc_unsecured',
      config.whois === 'anyone' ? 'muc_nonanonymous' : 'muc_semianonymous',
      NS.stanzaId,
      NS.occupantId,
      ...(this.archived ? [NS.mam] : []),
      NS.discoInfo,
      NS.discoItems,
    ]
    return x(
      'query',
      NS.discoInfo,
      {node},
      x('identity', NS.discoInfo, {category: 'conference', type: 'text', name: config.name || this.name}),
      ...features.map((feature) => x('feature', NS.discoInfo, {var: feature})),
      roomInfoForm(this.config, this.subject, this.occupants.size),
    )
  }

  private async adminGet(stanza: Element, query: Element, sender: Sender): Promise<void> {
    const item = query.getChild('item', NS.mucAdmin)
    const requester = this.requester(sender)
    const affiliation = item?.attrs.affiliation as Affiliation | undefined
    const role = item?.attrs.role as Role | undefined
    if (affiliation !== undefined && affiliation !== 'none' && AFFILIATION_RANK[affiliation] !== undefined) {
      // §9.5, §10.5: member and outcast lists for admins, admin and owner lists for owners and admins.
      if (AFFILIATION_RANK[requester.affiliation] < AFFILIATION_RANK.admin) return sender.send(errorReply(stanza, 'forbidden'))
      const answer = x('query', NS.mucAdmin)
      for (const [jid, entry] of this.affiliations) {
        if (entry.affiliation !== affiliation) continue
        const nick = [...this.occupants.values()].find((occupant) => occupant.bare === jid)?.nick
        answer.append(x('item', NS.mucAdmin, {affiliation, jid, nick}, entry.reason ? x('reason', NS.mucAdmin, {}, entry.reason) : undefined))
      }

      return sender.send(iqResult(stanza, undefined, answer))
    }

    if (role === 'moderator' || role === 'participant' || role === 'visitor') {
      if (requester.role !== 'moderator') return sender.send(errorReply(stanza, 'forbidden'))
      const answer = x('query', NS.mucAdmin)
      for (const occupant of this.occupants.values()) {
        if (occupant.role === role) answer.append(x('item', NS.mucAdmin, {affiliation: this.affiliationOf(occupant.bare), role, jid: occupant.jid, nick: occupant.nick}))
      }

      return sender.send(iqResult(stanza, undefined, answer))
    }

    sender.send(errorReply(stanza, 'bad-request', undefined, 'ask for an affiliation or a role'))
  }

  private requester(sender: Sender): {affiliation: Affiliation; role: Role; nick: string | undefined} {
    const nick = this.nicks.get(sender.fullJid)
    return {affiliation: this.affiliationOf(sender.bareJid), role: nick === undefined ? 'none' : this.occupants.get(nick)!.role, nick}
  }

  /** §8.2 ff., §9, §10: role and affiliation changes, all or none. */
  private async adminSet(stanza: Element, query: Element, sender: Sender): Promise<void> {
    const requester = this.requester(sender)
    const items = query.getChildren('item', NS.mucAdmin)
    if (items.length === 0) return sender.send(errorReply(stanza, 'bad-request', undefined, 'no item to change'))
    type Change = {kind: 'role'; occupant: Occupant; role: Role; reason?: string} | {kind: 'affiliation'; jid: string; affiliation: Affiliation; reason?: string}
    const changes: Change[] = []
    const owners = new Set([...this.affiliations].filter(([, entry]) => entry.affiliation === 'owner').map(([jid]) => jid))
    for (const item of items) {
      const reason = item.getChildText('reason')
      if (item.attrs.role !== undefined) {
        const role = item.attrs.role as Role
        if (!['moderator', 'participant', 'visitor', 'none'].includes(role)) return sender.send(errorReply(stanza, 'bad-request', undefined, `no role ${role}`))
        const occupant = item.attrs.nick === undefined ? undefined : this.occupants.get(item.attrs.nick)
        if (!occupant) return sender.send(errorReply(stanza, 'item-not-found', undefined, `nobody is in the room as ${item.attrs.nick ?? '(no nick)'}`))
        if (requester.role !== 'moderator') return sender.send(errorReply(stanza, 'forbidden', undefined, 'only moderators change roles'))
        const target = this.affiliationOf(occupant.bare)
        // §8.2: nobody kicks or silences an admin or owner; §9.6: only admins and owners grant or revoke moderator.
        if (AFFILIATION_RANK[target] >= AFFILIATION_RANK.admin && role !== 'moderator') return sender.send(errorReply(stanza, 'not-allowed', undefined, `${occupant.nick} is an ${target} of the room`))
        if ((role === 'moderator' || occupant.role === 'moderator') && AFFILIATION_RANK[requester.affiliation] < AFFILIATION_RANK.admin) {
          return sender.send(errorReply(stanza, 'not-allowed', undefined, 'only admins and owners grant or revoke moderator'))
        }

        changes.push({kind: 'role', occupant, role, reason})
        continue
      }

      const affiliation = item.attrs.affiliation as Affiliation | undefined
      if (affiliation === undefined || AFFILIATION_RANK[affiliation] === undefined) return sender.send(errorReply(stanza, 'bad-request', undefined, 'each item needs a role or an affiliation'))
      const to = item.attrs.jid === undefined ? undefined : parseJid(item.attrs.jid)
      if (!to) return sender.send(errorReply(stanza, 'bad-request', undefined, 'an affiliation needs jid=\'a bare JID\''))
      const jid = bareJid(to)
      const current = this.affiliationOf(jid)
      // §9.1, §10.6: admins manage members and outcasts below them; owners manage everyone.
      const needed = Math.max(AFFILIATION_RANK[current], AFFILIATION_RANK[affiliation]) >= AFFILIATION_RANK.admin ? 'owner' : 'admin'
      if (AFFILIATION_RANK[requester.affiliation] < AFFILIATION_RANK[needed]) return sender.send(errorReply(stanza, 'not-allowed', undefined, `only ${needed}s may make ${jid} ${affiliation}`))
      if (current === 'owner' && affiliation !== 'owner') owners.delete(jid)
      if (affiliation === 'owner') owners.add(jid)
      changes.push({kind: 'affiliation', jid, affiliation, reason})
    }

    // §10.7: a room keeps an owner (one an administrator made without owners may stay so).
    const hadOwner = [...this.affiliations.values()].some((entry) => entry.affiliation === 'owner')
    if (hadOwner && owners.size === 0) return sender.send(errorReply(stanza, 'conflict', undefined, 'the room must keep an owner'))
    sender.send(iqResult(stanza, undefined))
    let stored = false
    for (const change of changes) {
      if (change.kind === 'role') {
        if (change.role === 'none') {
          // §8.2 kick: 307 to everyone, the kicked occupant included.
          await this.leave(change.occupant, x('presence', NS.client, {type: 'unavailable'}), ['307'], {actor: requester.nick, reason: change.reason})
          continue
        }

        change.occupant.role = change.role
        this.broadcastPresenceOf(change.occupant)
        continue
      }

      stored = true
      await this.changeAffiliation(change.jid, change.affiliation, change.reason, requester.nick)
    }

    if (stored && this.config.persistent) await this.host.persist(this)
  }

  /** Sets the affiliation of `jid` and tells its occupants' room what changed (§9.1 ban: 301; §9.8 removed from a members-only room: 321). */
  private async changeAffiliation(jid: string, affiliation: Affiliation, reason: string | undefined, actor: string | undefined): Promise<void> {
    if (affiliation === 'none') this.affiliations.delete(jid)
    else this.affiliations.set(jid, {affiliation, reason: reason ?? ''})
    for (const occupant of [...this.occupants.values()].filter((candidate) => candidate.bare === jid)) {
      if (affiliation === 'outcast') await this.leave(occupant, x('presence', NS.client, {type: 'unavailable'}), ['301'], {actor, reason})
      else if (affiliation === 'none' && this.config.membersOnly) await this.leave(occupant, x('presence', NS.client, {type: 'unavailable'}), ['321'], {actor})
      else {
        occupant.role = this.defaultRole(affiliation)
        this.broadcastPresenceOf(occupant)
      }
    }
  }

  /** An administrator's change (`xmppctl muc affiliation`), outside the room's own rules, stored at once. */
  async setAffiliation(jid: string, affiliation: Affiliation, reason?: string): Promise<void> {
    await this.changeAffiliation(jid, affiliation, reason, undefined)
    if (this.config.persistent) await this.host.persist(this)
  }

  private async ownerGet(stanza: Element, query: Element, sender: Sender): Promise<void> {
    if (this.affiliationOf(sender.bareJid) !== 'owner') return sender.send(errorReply(stanza, 'forbidden', undefined, 'only owners configure the room'))
    if (query.elements().length > 0) return sender.send(errorReply(stanza, 'bad-request'))
    sender.send(iqResult(stanza, undefined, x('query', NS.mucOwner, {}, configForm(this.config, this.jid))))
  }

  private async ownerSet(stanza: Element, query: Element, sender: Sender): Promise<void> {
    if (this.affiliationOf(sender.bareJid) !== 'owner') return sender.send(errorReply(stanza, 'forbidden', undefined, 'only owners configure or destroy the room'))
    const destroy = query.getChild('destroy', NS.mucOwner)
    if (destroy) {
      sender.send(iqResult(stanza, undefined))
      return this.destroy(destroy.getChildText('reason'), destroy.attrs.jid)
    }

    const form = query.getChild('x', NS.dataForms)
    if (!form) return sender.send(errorReply(stanza, 'bad-request', undefined, 'send a muc#roomconfig form, or <destroy/>'))
    if (form.attrs.type === 'cancel') return sender.send(iqResult(stanza, undefined))
    if (form.attrs.type !== 'submit') return sender.send(errorReply(stanza, 'bad-request', undefined, 'the form must be of type submit'))
    const applied = applyConfigForm(this.config, form)
    if (typeof applied === 'string') return sender.send(errorReply(stanza, 'not-acceptable', undefined, applied))
    const wasPersistent = this.config.persistent
    this.config = applied
    sender.send(iqResult(stanza, undefined))
    if (this.config.persistent || wasPersistent) await this.host.persist(this)
    // §10.2.1: status 104 tells occupants the configuration changed.
    const notice = x('message', NS.client, {type: 'groupchat', id: randomToken(8)}, x('x', NS.mucUser, {}, x('status', NS.mucUser, {code: '104'})))
    for (const occupant of this.occupants.values()) this.deliver(notice, this.jid, occupant)
    if (this.occupants.size === 0 && !this.config.persistent) await this.host.discard(this, false)
  }

  /** §10.9: every occupant leaves with the reason and the alternative room; the room is gone. */
  async destroy(reason?: string, alternative?: string): Promise<void> {
    for (const occupant of [...this.occupants.values()]) {
      const destroyElement = x('destroy', NS.mucUser, {jid: alternative}, reason === undefined ? undefined : x('reason', NS.mucUser, {}, reason))
      const unavailable = x('presence', NS.client, {type: 'unavailable'}, x('x', NS.mucUser, {}, x('item', NS.mucUser, {affiliation: 'none', role: 'none'}), destroyElement, ...statusCodes(['110'])))
      this.deliver(unavailable, `${this.jid}/${occupant.nick}`, occupant)
    }

    this.occupants.clear()
    this.nicks.clear()
    await this.host.discard(this, true)
  }
}

function statusCodes(codes: readonly string[]): Element[] {
  return codes.map((code) => x('status', NS.mucUser, {code}))
}

/** The parts of an occupant's presence the room broadcasts: show, status, priority and extensions, not the MUC request. */
function broadcastPresence(stanza: Element): Element {
  const presence = x('presence', NS.client)
  for (const child of stanza.elements()) {
    if (child.ns === NS.muc || child.ns === NS.mucUser || child.ns === NS.occupantId) continue
    presence.append(child)
  }

  return presence
}
