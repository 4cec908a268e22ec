/**
 * Group chat rooms (XEP-0045) that outlive their occupants: persistent rooms
 * with their configuration, subject and affiliations. Temporary rooms live
 * only in the server's memory. Asynchronous like the other stores, so that a
 * networked store can implement it; every write is one transaction.
 */

import type {ArchiveFilter, ArchivePage, ArchiveResult} from './archive-store.js'

/** XEP-0045 §5.2 affiliations that are stored; `none` is the absence of a row. */
export type StoredAffiliation = 'owner' | 'admin' | 'member' | 'outcast'
export const STORED_AFFILIATIONS: readonly StoredAffiliation[] = ['owner', 'admin', 'member', 'outcast']

/** XEP-0045 §16.4 muc#roomconfig, as this server keeps it. */
export interface RoomConfig {
  name: string
  description: string
  persistent: boolean
  /** Listed in the service's disco#items (muc#roomconfig_publicroom). */
  public: boolean
  membersOnly: boolean
  moderated: boolean
  /** Empty: no password. */
  password: string
  /** Who sees occupants' real JIDs: `moderators` (semi-anonymous) or `anyone` (non-anonymous). */
  whois: 'moderators' | 'anyone'
  /** Participants may change the subject, not only moderators. */
  changeSubject: boolean
  /** Occupants may send each other private messages (`anyone`), or nobody (`none`). */
  allowPrivateMessages: boolean
  /** Occupants may invite others; in a members-only room only admins and owners may by default. */
  allowInvites: boolean
  maxUsers: number
  /** Messages sent to a new occupant on joining. */
  historySize: number
  /** A persistent room keeps its groupchat messages in its archive (XEP-0313). */
  archive: boolean
}

export interface StoredRoom {
  /** The service's domain (conference.example.org). */
  service: string
  /** The room's local part. */
  name: string
  config: RoomConfig
  subject: string
  /** The nickname that set the subject. */
  subjectBy: string
  /** Bare JID → affiliation (and the reason given for a ban). */
  affiliations: Map<string, {affiliation: StoredAffiliation; reason: string}>
}

export interface RoomArchivePurge {
  /** Messages archived before this go. */
  before: Date
  /** Only this room's. */
  room?: {service: string; name: string}
  /** Count, delete nothing. */
  dryRun?: boolean
  /** Told after each batch: messages removed so far, of the total the purge found. */
  onProgress?: (removed: number, total: number) => void
}

export interface RoomStore {
  /** The persistent rooms of a service. */
  listRooms(service: string): Promise<StoredRoom[]>
  getRoom(service: string, name: string): Promise<StoredRoom | undefined>
  /** Writes the room and replaces its affiliations, in one transaction. */
  saveRoom(room: StoredRoom): Promise<void>
  /** Deletes the room, its affiliations and its archive; false when it was not stored. */
  deleteRoom(service: string, name: string): Promise<boolean>
  /** Adds a groupchat message (serialised, `from` the occupant's room JID) to a stored room's archive; its id, or undefined when the room is not stored. */
  archiveMessage(service: string, name: string, nick: string, stanza: string): Promise<string | undefined>
  /** A page of the room's archive; `with` is the room's JID with an occupant's nick as resource. Undefined when the query names an id the archive does not hold. */
  queryArchive(service: string, name: string, filter: ArchiveFilter, page: ArchivePage): Promise<ArchiveResult | undefined>
  /** Deletes (or with dryRun counts) the messages of every stored room's archive, or of `room`'s, archived before `before`, in batches of a transaction each; returns how many. */
  purgeArchive(options: RoomArchivePurge): Promise<number>
  close(): Promise<void>
}
