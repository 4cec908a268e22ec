/**
 * mod_muc: multi-user chat (XEP-0045) on a service domain of each host
 * (conference.HOST by default, ejabberd's `host: "conference.@HOST@"`).
 * Rooms live in memory while they have occupants; persistent rooms, their
 * configuration, subject and affiliations also live in the store and come
 * back after a restart. Stanzas reach the service through the core's hosted
 * service hook; the rooms answer through routeFromService, so occupants get
 * them under the rules every stanza meets (blocking, carbons, offline).
 */
import {hkdfSync} from 'node:crypto'

import {loadServerSecret} from '../../auth/secret.js'
import type {RoomConfig, StoredRoom} from '../../store/room-store.js'
import {type Jid, bareJid, parseJid} from '../jid.js'
import {type RoomAdminRequest, type RoomAdminResult, roomAdmin} from '../muc/admin.js'
import {Room, type RoomHost} from '../muc/room.js'
import {NS} from '../../xml/namespaces.js'
import {errorReply, iqResult} from '../stanza.js'
import {type Element, x} from '../../xml/element.js'
import type {ModuleContext, Sender, ServerModule} from './types.js'

export interface MucOptions {
  /** The service's domain; @HOST@ stands for each host. */
  host: string
  /** Who may create rooms: anyone, the accounts of this server, or nobody (rooms come from `muc create`). */
  accessCreate: 'all' | 'local' | 'none'
  /** Occupants a room holds at most, whatever its configuration asks. */
  maxUsers: number
  /** Messages a room keeps for new occupants at most. */
  historySize: number
  defaultRoom: RoomConfig
}

export interface MucModule extends ServerModule {
  /** `xmppctl muc …` on the live rooms, through the control socket. */
  admin(request: RoomAdminRequest): Promise<RoomAdminResult>
  /** The service domains, one per host. */
  services(): string[]
}

export function createMucModule(context: ModuleContext, options: MucOptions): MucModule {
  const serviceOf = (host: string) => options.host.replaceAll('@HOST@', host)
  const serviceDomains = () => context.hosts().map(serviceOf)
  // XEP-0421 §3: an occupant id stays the same for one real bare JID in one room, so clients can
  // tell a returning participant; across restarts too, hence a key derived from the installation's
  // persistent secret (the data directory's auth-secret, 0600) rather than one of this process.
  const installation = loadServerSecret(context.dataDir)
  if (!installation.persistent) context.logger.warn(`occupant ids (XEP-0421) will change at restart: ${installation.problem ?? `${installation.file} cannot be kept`}`)
  const occupantIdSecret = Buffer.from(hkdfSync('sha256', installation.secret, Buffer.alloc(0), 'xmppctl muc occupant-id', 32))
  /** Per service domain: its rooms by name, once its persistent rooms are loaded. */
  const services = new Map<string, Promise<Map<string, Room>>>()
  /** Real full JID → the rooms it is in, to leave them when its session ends. */
  const presentIn = new Map<string, Set<Room>>()
  let delivery: Promise<void> = Promise.resolve()

  const hostFor = (service: string): RoomHost => ({
    service,
    occupantIdSecret,
    send: (stanza, from) => {
      const jid = parseJid(from)!
      // In order: a join's presence, history and subject must arrive as sent (§7.2.15), and routing may wait on a store.
      delivery = delivery.then(() => context.routeFromService(stanza, jid)).catch((error: unknown) => context.logger.error(`${from}: ${error instanceof Error ? error.message : String(error)}`))
    },
    archive: (room, nick, stanza) => context.rooms.archiveMessage(service, room.name, nick, stanza.toString()),
    queryArchive: (room, filter, page) => context.rooms.queryArchive(service, room.name, filter, page),
    persist: async (room) => {
      if (room.config.persistent) await context.rooms.saveRoom(room.toStored())
      else await context.rooms.deleteRoom(service, room.name)
    },
    discard: async (room, destroyed) => {
      const rooms = await roomsOf(service)
      if (rooms.get(room.name) === room) rooms.delete(room.name)
      if (destroyed || room.config.persistent) await context.rooms.deleteRoom(service, room.name)
    },
  })

  const roomsOf = (service: string): Promise<Map<string, Room>> => {
    let rooms = services.get(service)
    if (!rooms) {
      const host = hostFor(service)
      rooms = context.rooms.listRooms(service).then((stored) => new Map(stored.map((room) => [room.name, new Room(host, room)])))
      // A failed load is tried again by the next stanza.
      rooms.catch(() => services.delete(service))
      services.set(service, rooms)
    }

    return rooms
  }

  const newRoom = (service: string, name: string, owner: string | undefined): Room => {
    const stored: StoredRoom = {
      service,
      name,
      config: {...options.defaultRoom, maxUsers: Math.min(options.defaultRoom.maxUsers, options.maxUsers), historySize: Math.min(options.defaultRoom.historySize, options.historySize)},
      subject: '',
      subjectBy: '',
      affiliations: new Map(owner === undefined ? [] : [[owner, {affiliation: 'owner', reason: ''}]]),
    }
    return new Room(hostFor(service), stored)
  }

  const mayCreate = (sender: Sender): boolean => {
    if (options.accessCreate === 'all') return true
    if (options.accessCreate === 'none') return false
    return sender.jid !== undefined && context.isLocalHost(sender.jid.domain)
  }

  const track = (room: Room, fullJid: string) => {
    let rooms = presentIn.get(fullJid)
    if (room.has(fullJid)) {
      if (!rooms) presentIn.set(fullJid, (rooms = new Set()))
      rooms.add(room)
    } else if (rooms) {
      rooms.delete(room)
      if (rooms.size === 0) presentIn.delete(fullJid)
    }
  }

  /** The session of `fullJid` ended: it leaves every room it is in. */
  const leaveAll = (fullJid: string): void => {
    const rooms = presentIn.get(fullJid)
    if (!rooms) return
    presentIn.delete(fullJid)
    for (const room of rooms) void room.sessionEnded(fullJid).catch((error: unknown) => context.logger.error(`${room.jid}: ${error instanceof Error ? error.message : String(error)}`))
  }

  const serviceInfo = (stanza: Element, query: Element, sender: Sender) =>
    sender.send(
      iqResult(
        stanza,
        undefined,
        x('query', NS.discoInfo, {node: query.attrs.node}, x('identity', NS.discoInfo, {category: 'conference', type: 'text', name: 'Chatrooms'}), ...[NS.muc, NS.discoInfo, NS.discoItems, NS.ping].map((feature) => x('feature', NS.discoInfo, {var: feature}))),
      ),
    )

  /** §6.3: public rooms, persistent or occupied. */
  const serviceItems = async (stanza: Element, service: string, sender: Sender) => {
    const rooms = await roomsOf(service)
    const items = [...rooms.values()].filter((room) => room.config.public).map((room) => x('item', NS.discoItems, {jid: room.jid, name: room.config.name || room.name}))
    sender.send(iqResult(stanza, undefined, x('query', NS.discoItems, {}, ...items)))
  }

  const handleService = async (stanza: Element, sender: Sender, to: Jid): Promise<void> => {
    const type = stanza.attrs.type
    if (stanza.name === 'iq' && (type === 'get' || type === 'set')) {
      const query = stanza.elements()[0]
      if (query?.ns === NS.discoInfo && type === 'get') return serviceInfo(stanza, query, sender)
      if (query?.ns === NS.discoItems && type === 'get') return serviceItems(stanza, to.domain, sender)
      if (query?.ns === NS.ping && type === 'get') return sender.send(iqResult(stanza, undefined))
      return sender.send(errorReply(stanza, 'service-unavailable'))
    }

    if (type !== 'error' && !(stanza.name === 'iq' && type === 'result')) sender.send(errorReply(stanza, stanza.name === 'presence' ? 'jid-malformed' : 'service-unavailable'))
  }

  const handle = async (stanza: Element, sender: Sender, to: Jid): Promise<void> => {
    if (to.local === '') return handleService(stanza, sender, to)
    const service = to.domain
    const rooms = await roomsOf(service)
    let room = rooms.get(to.local)
    const type = stanza.attrs.type
    if (!room) {
      // Only a join makes a room (§10.1.1); anything else to a room that does not exist gets item-not-found.
      const joining = stanza.name === 'presence' && type === undefined && to.resource !== ''
      if (!joining) {
        if (type !== 'error' && type !== 'result' && !(stanza.name === 'presence' && type === 'unavailable')) sender.send(errorReply(stanza, 'item-not-found', undefined, `there is no room ${bareJid(to)}`))
        return
      }

      if (!mayCreate(sender)) {
        const reply = errorReply(stanza, 'not-allowed', undefined, 'rooms cannot be created here; ask an administrator')
        reply.children.unshift(x('x', NS.muc))
        return sender.send(reply)
      }

      room = newRoom(service, to.local, sender.bareJid)
      rooms.set(to.local, room)
      await room.presence(stanza, sender, to.resource, true)
      track(room, sender.fullJid)
      if (room.empty) rooms.delete(to.local)
      else if (room.config.persistent) await context.rooms.saveRoom(room.toStored())
      return
    }

    if (stanza.name === 'presence') {
      if (to.resource === '') {
        if (type !== 'error' && type !== 'unavailable') sender.send(errorReply(stanza, 'jid-malformed', undefined, 'join a room as room@service/nickname'))
        return
      }

      await room.presence(stanza, sender, to.resource)
      return track(room, sender.fullJid)
    }

    if (stanza.name === 'message') {
      if (to.resource === '') await room.message(stanza, sender)
      else await room.privateMessage(stanza, sender, to.resource)
      return track(room, sender.fullJid)
    }

    if (to.resource === '') await room.iq(stanza, sender)
    else await room.occupantIq(stanza, sender, to.resource)
    track(room, sender.fullJid)
  }

  return {
    name: 'mod_muc',
    service: {
      domain: (host) => serviceOf(host),
      handle,
    },
    sessionEnded: (session) => leaveAll(session.fullJid),
    // In a cluster, rooms live on the node that serves their service (cluster.ts serviceHome()): occupants bound elsewhere leave as their sessions end there.
    remoteSessionGone: leaveAll,
    async becameUnavailable(session) {
      // RFC 6121 §4.6.3: unavailable presence goes to the rooms the session joined, as to every entity it sent directed presence to.
      const rooms = presentIn.get(session.fullJid)
      if (!rooms) return
      presentIn.delete(session.fullJid)
      for (const room of rooms) await room.sessionEnded(session.fullJid)
    },
    services: serviceDomains,
    admin: (request) =>
      roomAdmin(
        {
          services: serviceDomains,
          rooms: roomsOf,
          newRoom: (service, name, owner) => {
            const room = newRoom(service, name, owner)
            // Made by an administrator with nobody in it: it must outlive its first empty moment.
            room.config = {...room.config, persistent: true}
            return room
          },
          add: async (room) => {
            await context.rooms.saveRoom(room.toStored())
            ;(await roomsOf(room.jid.slice(room.jid.indexOf('@') + 1))).set(room.name, room)
          },
        },
        request,
      ),
  }
}
