import type Database from 'better-sqlite3'

import type {ArchiveFilter, ArchivePage, ArchiveResult} from '../archive-store.js'
import type {RoomArchivePurge, RoomConfig, RoomStore, StoredAffiliation, StoredRoom} from '../room-store.js'
import {archivePage} from '../archive-page.js'
import {deleteInBatches, isForeignKeyError, jsonIdIn, openSharedConnection} from './connection.js'
import {translatingErrors} from './index.js'

/** Archived room messages a purge removes per transaction. */
const PURGE_BATCH = 1000

interface RoomRow {
  service: string
  name: string
  config: string
  subject: string
  subject_by: string
}

interface AffiliationRow {
  jid: string
  affiliation: StoredAffiliation
  reason: string
}

/**
 * The SQLite store of persistent rooms. It shares the account store's file
 * (whose migrations create its tables), on a connection of its own; open
 * the account store first so that the schema is current.
 */
export class SqliteRoomStore implements RoomStore {
  private readonly db: Database.Database
  private readonly statements
  private readonly queries = new Map<string, Database.Statement>()
  /** Each room's last archive id, read from its archive at the room's first message: a clock set back across a restart must not reuse a stored id. */
  private readonly lastIds = new Map<string, number>()

  private constructor(db: Database.Database) {
    this.db = db
    this.statements = {
      rooms: db.prepare<[string], RoomRow>('SELECT service, name, config, subject, subject_by FROM muc_rooms WHERE service = ? ORDER BY name'),
      room: db.prepare<[string, string], RoomRow>('SELECT service, name, config, subject, subject_by FROM muc_rooms WHERE service = ? AND name = ?'),
      affiliations: db.prepare<[string, string], AffiliationRow>('SELECT jid, affiliation, reason FROM muc_affiliations WHERE service = ? AND name = ? ORDER BY jid'),
      upsert: db.prepare(
        'INSERT INTO muc_rooms (service, name, config, subject, subject_by, created_at) VALUES (?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (service, name) DO UPDATE SET config = excluded.config, subject = excluded.subject, subject_by = excluded.subject_by',
      ),
      clearAffiliations: db.prepare('DELETE FROM muc_affiliations WHERE service = ? AND name = ?'),
      insertAffiliation: db.prepare('INSERT INTO muc_affiliations (service, name, jid, affiliation, reason) VALUES (?, ?, ?, ?, ?)'),
      delete: db.prepare('DELETE FROM muc_rooms WHERE service = ? AND name = ?'),
      archive: db.prepare('INSERT INTO muc_archive (service, name, id, nick, stanza) VALUES (?, ?, ?, ?, ?)'),
      archived: db.prepare<[string, string, number], {found: number}>('SELECT 1 AS found FROM muc_archive WHERE service = ? AND name = ? AND id = ?'),
      lastId: db.prepare<[string, string], {id: number | null}>('SELECT max(id) AS id FROM muc_archive WHERE service = ? AND name = ?'),
      allRooms: db.prepare<[], {service: string; name: string}>('SELECT service, name FROM muc_rooms ORDER BY service, name'),
      countOlder: db.prepare<[string, string, number], {n: number}>('SELECT count(*) AS n FROM muc_archive WHERE service = ? AND name = ? AND id < ?'),
      purgeOlder: db.prepare<[string, string, string, string, number]>(
        `DELETE FROM muc_archive WHERE service = ? AND name = ? AND id IN (SELECT id FROM muc_archive WHERE service = ? AND name = ? AND id < ? ORDER BY id LIMIT ${PURGE_BATCH})`,
      ),
    }
  }

  static open(dataDir: string): SqliteRoomStore {
    const {db, file} = openSharedConnection(dataDir, 'room')
    return translatingErrors(new SqliteRoomStore(db), file)
  }

  async listRooms(service: string): Promise<StoredRoom[]> {
    return this.db.transaction(() => this.statements.rooms.all(service).map((row) => this.toRoom(row)))()
  }

  async getRoom(service: string, name: string): Promise<StoredRoom | undefined> {
    return this.db.transaction(() => {
      const row = this.statements.room.get(service, name)
      return row ? this.toRoom(row) : undefined
    })()
  }

  async saveRoom(room: StoredRoom): Promise<void> {
    this.db.transaction(() => {
      this.statements.upsert.run(room.service, room.name, JSON.stringify(room.config), room.subject, room.subjectBy, Date.now())
      this.statements.clearAffiliations.run(room.service, room.name)
      for (const [jid, {affiliation, reason}] of room.affiliations) this.statements.insertAffiliation.run(room.service, room.name, jid, affiliation, reason)
    })()
  }

  async deleteRoom(service: string, name: string): Promise<boolean> {
    this.lastIds.delete(`${service}\u0000${name}`)
    return this.statements.delete.run(service, name).changes > 0
  }

  async archiveMessage(service: string, name: string, nick: string, stanza: string): Promise<string | undefined> {
    // Microseconds since the epoch, never repeated, as the accounts' archive ids.
    const room = `${service}\u0000${name}`
    const last = this.lastIds.get(room) ?? this.statements.lastId.get(service, name)?.id ?? 0
    const id = Math.max(Date.now() * 1000, last + 1)
    try {
      this.statements.archive.run(service, name, id, nick, stanza)
    } catch (error) {
      if (isForeignKeyError(error)) return undefined
      throw error
    }

    this.lastIds.set(room, id)
    return String(id)
  }

  async queryArchive(service: string, name: string, filter: ArchiveFilter, page: ArchivePage): Promise<ArchiveResult | undefined> {
    return archivePage(
      (sql, parameters) => {
        let statement = this.queries.get(sql)
        if (!statement) this.queries.set(sql, (statement = this.db.prepare(sql)))
        return statement.all(...parameters)
      },
      {
        from: 'muc_archive a',
        id: 'a.id',
        stanza: 'a.stanza',
        where: ['a.service = ?', 'a.name = ?'],
        parameters: [service, name],
        // Correspondents of a room are its occupants' room JIDs: the nick is what is kept.
        withConditions: (query) => (query.with === undefined ? [] : query.with !== `${name}@${service}` ? [['0 = ?', 1]] : query.withResource === undefined ? [] : [['a.nick = ?', query.withResource]]),
        exists: (id) => this.statements.archived.get(service, name, id) !== undefined,
        idIn: jsonIdIn,
      },
      filter,
      page,
    )
  }

  /** Room by room, each archive's oldest first, in batches with a pause between (deleteInBatches()), so that a running server's writes get in. */
  async purgeArchive({before, room, dryRun = false, onProgress}: RoomArchivePurge): Promise<number> {
    const beforeId = before.getTime() * 1000
    const rooms = (room ? [room] : this.statements.allRooms.all()).map(({service, name}) => ({service, name, older: this.statements.countOlder.get(service, name, beforeId)!.n})).filter((entry) => entry.older > 0)
    const total = rooms.reduce((sum, entry) => sum + entry.older, 0)
    if (dryRun || total === 0) return total
    let current = 0
    const removeBatch = () => {
      const {service, name} = rooms[current]
      const removed = this.statements.purgeOlder.run(service, name, service, name, beforeId).changes
      if (removed < PURGE_BATCH) current++
      return {removed, more: current < rooms.length}
    }

    // Messages archived from now on are newer than `before`, so the counts bound the batches.
    const batches = rooms.reduce((sum, entry) => sum + Math.floor(entry.older / PURGE_BATCH) + 1, 0)
    return deleteInBatches(this.db, removeBatch, batches, onProgress && ((removed) => onProgress(removed, total)))
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close()
  }

  private toRoom(row: RoomRow): StoredRoom {
    const affiliations = new Map(this.statements.affiliations.all(row.service, row.name).map((entry) => [entry.jid, {affiliation: entry.affiliation, reason: entry.reason}]))
    return {service: row.service, name: row.name, config: JSON.parse(row.config) as RoomConfig, subject: row.subject, subjectBy: row.subject_by, affiliations}
  }
}
