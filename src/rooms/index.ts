/**
 * `xmppctl muc …`: room administration. With a server running on the data
 * directory, the request goes through its control socket to mod_muc's live
 * rooms (occupants are told at once: a destroyed room's occupants leave, a
 * ban removes the banned). Without one, the persistent rooms of the store
 * are changed directly, by the same code (src/server/muc/admin.ts).
 */
import {randomBytes} from 'node:crypto'

import type {Configuration} from '../config/index.js'
import {serviceDomain} from '../config/modules.js'
import type {RoomAdminRequest, RoomAdminResult, RoomRegistry} from '../server/muc/admin.js'
import type {RoomStore} from '../store/room-store.js'

export type {RoomAdminRequest, RoomAdminResult, RoomInfo, RoomSummary} from '../server/muc/admin.js'

/** The result, and whether a running server applied it (`live`) or the store did. */
export async function manageRooms(config: Configuration, request: RoomAdminRequest): Promise<{result: RoomAdminResult; live: boolean}> {
  const {ServerNotRunningError, controlRequest} = await import('../server/control.js')
  try {
    return {result: (await controlRequest(config, {command: 'muc', request})) as RoomAdminResult, live: true}
  } catch (error) {
    if (!(error instanceof ServerNotRunningError)) throw error
  }

  const {openAccountStore, openRoomStore} = await import('../store/index.js')
  // Opening the account store brings the schema up to date (the room tables are migration 10).
  const accounts = await openAccountStore(config)
  const store = await openRoomStore(config)
  try {
    return {result: await offlineAdmin(config, store, request), live: false}
  } finally {
    await store.close()
    await accounts.close()
  }
}

async function offlineAdmin(config: Configuration, store: RoomStore, request: RoomAdminRequest): Promise<RoomAdminResult> {
  const {Room} = await import('../server/muc/room.js')
  const {defaultRoomConfig, roomAdmin} = await import('../server/muc/admin.js')
  const options = config.settings.modules.mod_muc
  const services = options ? config.hosts.map((host) => serviceDomain('mod_muc', options, host)) : []
  const loaded = new Map<string, Map<string, InstanceType<typeof Room>>>()
  // Offline, a room has no occupants to tell: only its stored state changes.
  const host = (service: string) => ({
    service,
    occupantIdSecret: randomBytes(32),
    send: () => {},
    archive: async () => undefined,
    queryArchive: async () => undefined,
    persist: async (room: InstanceType<typeof Room>) => {
      await store.saveRoom(room.toStored())
    },
    discard: async (room: InstanceType<typeof Room>) => {
      loaded.get(service)?.delete(room.name)
      await store.deleteRoom(service, room.name)
    },
  })
  const registry: RoomRegistry = {
    services: () => services,
    rooms: async (service) => {
      let rooms = loaded.get(service)
      if (!rooms) {
        rooms = new Map((await store.listRooms(service)).map((stored) => [stored.name, new Room(host(service), stored)]))
        loaded.set(service, rooms)
      }

      return rooms
    },
    newRoom: (service, name, owner) => new Room(host(service), {service, name, config: {...defaultRoomConfig(options ?? {}), persistent: true}, subject: '', subjectBy: '', affiliations: new Map(owner === undefined ? [] : [[owner, {affiliation: 'owner', reason: ''}]])}),
    add: async (room) => {
      await store.saveRoom(room.toStored())
    },
  }
  return roomAdmin(registry, request)
}
