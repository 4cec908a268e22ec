/**
 * Room administration, as ejabberdctl's muc_online_rooms, create_room,
 * destroy_room, get_room_options and set_room_affiliation do it: one
 * implementation over a `RoomRegistry`, which is mod_muc's live rooms in a
 * running server, or the persistent rooms of the store when none runs.
 */
import {XmppctlError} from '../../errors.js'
import {optionDefaults} from '../../config/modules.js'
import type {RoomConfig} from '../../store/room-store.js'
import {bareJid, parseJid} from '../jid.js'
import type {Affiliation, Role, Room} from './room.js'

export type RoomAdminRequest =
  /** `services`: only these (in a cluster, those the node that runs it serves). */
  | {action: 'list'; services?: string[]}
  | {action: 'info'; room: string}
  | {action: 'create'; room: string; owner?: string; name?: string}
  | {action: 'destroy'; room: string; reason?: string}
  | {action: 'affiliation'; room: string; jid: string; affiliation: Affiliation; reason?: string}

export interface RoomSummary {
  jid: string
  name: string
  persistent: boolean
  public: boolean
  occupants: number
}

export interface RoomInfo extends RoomSummary {
  config: RoomConfig
  subject: string
  occupantList: Array<{nick: string; jid: string; role: Role; affiliation: Affiliation}>
  affiliations: Array<{jid: string; affiliation: Affiliation; reason: string}>
}

export type RoomAdminResult = RoomSummary[] | RoomInfo | {jid: string; created?: boolean; destroyed?: boolean; affiliation?: Affiliation; kicked?: number}

/** Where the rooms are: the service domains of the hosts, their rooms by name, and a new room. */
export interface RoomRegistry {
  services(): string[]
  rooms(service: string): Promise<Map<string, Room>>
  /** A new persistent room, not yet stored or listed. */
  newRoom(service: string, name: string, owner: string | undefined): Room
  /** Stores a new room and lists it among the service's rooms. */
  add(room: Room): Promise<void>
}

const AFFILIATIONS: readonly Affiliation[] = ['owner', 'admin', 'member', 'outcast', 'none']

function summary(room: Room): RoomSummary {
  return {jid: room.jid, name: room.config.name, persistent: room.config.persistent, public: room.config.public, occupants: room.occupantCount}
}

/** Rooms in JID order, as `muc list` shows them. */
export const byJid = (rooms: RoomSummary[]): RoomSummary[] => rooms.sort((a, b) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0))

export async function roomAdmin(registry: RoomRegistry, request: RoomAdminRequest): Promise<RoomAdminResult> {
  if (request.action === 'list') {
    const all: RoomSummary[] = []
    const services = registry.services().filter((service) => request.services?.includes(service) ?? true)
    for (const service of services) for (const room of (await registry.rooms(service)).values()) all.push(summary(room))
    return byJid(all)
  }

  const jid = parseJid(request.room)
  if (!jid || jid.local === '' || jid.resource !== '') throw new XmppctlError('bad-jid', `"${request.room}" is not a room JID`, {hint: 'give room@service, as room@conference.example.org'})
  const service = jid.domain
  if (!registry.services().includes(service)) {
    throw new XmppctlError('unknown-service', `${service} is not a group chat service of this server`, {hint: `the services are ${registry.services().join(', ') || 'none (enable mod_muc)'}`})
  }

  const rooms = await registry.rooms(service)
  const room = rooms.get(jid.local)
  const roomJid = bareJid(jid)
  if (request.action === 'create') {
    if (room) throw new XmppctlError('room-exists', `the room ${roomJid} exists`, {hint: 'choose another name, or "xmppctl muc info" to see it'})
    const owner = request.owner === undefined ? undefined : parseJid(request.owner)
    if (request.owner !== undefined && (!owner || owner.local === '')) throw new XmppctlError('bad-jid', `"${request.owner}" is not an account JID`, {hint: 'give --owner user@host'})
    const created = registry.newRoom(service, jid.local, owner ? bareJid(owner) : undefined)
    if (request.name !== undefined) created.config = {...created.config, name: request.name}
    await registry.add(created)
    return {jid: roomJid, created: true}
  }

  if (!room) throw new XmppctlError('room-not-found', `there is no room ${roomJid}`, {hint: '"xmppctl muc list" lists the rooms'})
  if (request.action === 'info') {
    return {
      ...summary(room),
      config: {...room.config, password: room.config.password === '' ? '' : '(set)'},
      subject: room.subject,
      occupantList: room.occupantList(),
      affiliations: [...room.affiliations].map(([member, entry]) => ({jid: member, affiliation: entry.affiliation, reason: entry.reason})),
    }
  }

  if (request.action === 'destroy') {
    const kicked = room.occupantCount
    await room.destroy(request.reason)
    return {jid: roomJid, destroyed: true, kicked}
  }

  if (!AFFILIATIONS.includes(request.affiliation)) throw new XmppctlError('bad-affiliation', `"${request.affiliation}" is not an affiliation`, {hint: `use one of ${AFFILIATIONS.join(', ')}`})
  const target = parseJid(request.jid)
  if (!target || target.resource !== '') throw new XmppctlError('bad-jid', `"${request.jid}" is not a bare JID`, {hint: 'give user@host (or a domain)'})
  await room.setAffiliation(bareJid(target), request.affiliation, request.reason)
  return {jid: roomJid, affiliation: request.affiliation}
}

/** A new room's configuration from mod_muc's options (ejabberd's default_room_options names). */
export function defaultRoomConfig(options: Record<string, unknown>): RoomConfig {
  const defaults = optionDefaults('mod_muc')
  const room = {...(defaults.default_room_options as Record<string, unknown>), ...(options.default_room_options as Record<string, unknown> | undefined)}
  const historySize = (options.history_size ?? defaults.history_size) as number
  const maxUsers = (options.max_users ?? defaults.max_users) as number
  return {
    name: room.title as string,
    description: room.description as string,
    persistent: room.persistent === true,
    public: room.public === true,
    membersOnly: room.members_only === true,
    moderated: room.moderated === true,
    password: '',
    whois: room.anonymous === false ? 'anyone' : 'moderators',
    changeSubject: room.allow_change_subj === true,
    allowPrivateMessages: room.allow_private_messages === true,
    allowInvites: room.allow_user_invites === true,
    maxUsers: Math.min(room.max_users as number, maxUsers),
    historySize,
    archive: room.mam !== false,
  }
}
