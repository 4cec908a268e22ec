import type Database from 'better-sqlite3'

import type {RoomConfig, RoomStore, StoredAffiliation, StoredRoom} from '../room-store.js'
import {openSharedConnection} from './connection.js'
import {translatingErrors} from './index.js'

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
    return this.statements.delete.run(service, name).changes > 0
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close()
  }

  private toRoom(row: RoomRow): StoredRoom {
    const affiliations = new Map(this.statements.affiliations.all(row.service, row.name).map((entry) => [entry.jid, {affiliation: entry.affiliation, reason: entry.reason}]))
    return {service: row.service, name: row.name, config: JSON.parse(row.config) as RoomConfig, subject: row.subject, subjectBy: row.subject_by, affiliations}
  }
}
