import {archivePage} from '../archive-page.js'
import type {ArchiveFilter, ArchivePage, ArchiveResult} from '../archive-store.js'
import type {RoomArchivePurge, RoomConfig, RoomStore, StoredAffiliation, StoredRoom} from '../room-store.js'
import {ArchiveIds} from './archive-ids.js'
import {PostgresDatabase, type PostgresOptions, type Queryable, SQLSTATE, hasSqlState} from './database.js'

interface RoomRow {
  service: string
  name: string
  config: string
  subject: string
  subject_by: string
}

/** `?` placeholders (archive-page.ts) as PostgreSQL's numbered ones; the archive queries hold no literal '?'. */
export function numbered(sql: string): string {
  let index = 0
  return sql.replaceAll('?', () => `$${++index}`)
}

/** PostgreSQL's condition that an archive id is one of a list: one bigint array parameter. */
export function arrayIdIn(ids: number[]): [condition: string, value: unknown] {
  return ['= ANY(?::bigint[])', ids]
}

/** Archived room messages a purge removes per statement. */
const ROOM_PURGE_BATCH = 10_000

/** The PostgreSQL store of persistent rooms: the SQLite store's tables and rules (sqlite/rooms.ts). */
export class PostgresRoomStore implements RoomStore {
  private readonly db: PostgresDatabase
  private readonly ids: ArchiveIds

  private constructor(db: PostgresDatabase, ids: ArchiveIds) {
    this.db = db
    this.ids = ids
  }

  static async open(options: PostgresOptions): Promise<PostgresRoomStore> {
    const db = await PostgresDatabase.acquire(options)
    try {
      // Ids continue above the stored ones: a clock set back since must not collide with them.
      const ids = await ArchiveIds.claim(db, async () => (await db.query<{id: number | null}>('SELECT max(id) AS id FROM muc_archive')).rows[0].id ?? 0)
      return new PostgresRoomStore(db, ids)
    } catch (error) {
      await db.release()
      throw error
    }
  }

  async listRooms(service: string): Promise<StoredRoom[]> {
    return this.db.transaction(
      async (tx) => {
        const {rows} = await tx.query<RoomRow>('SELECT service, name, config, subject, subject_by FROM muc_rooms WHERE service = $1 ORDER BY name COLLATE "C"', [service])
        const rooms = []
        for (const row of rows) rooms.push(await this.toRoom(tx, row))
        return rooms
      },
      {isolation: 'repeatable read'},
    )
  }

  async getRoom(service: string, name: string): Promise<StoredRoom | undefined> {
    return this.db.transaction(
      async (tx) => {
        const row = (await tx.query<RoomRow>('SELECT service, name, config, subject, subject_by FROM muc_rooms WHERE service = $1 AND name = $2', [service, name])).rows[0]
        return row ? this.toRoom(tx, row) : undefined
      },
      {isolation: 'repeatable read'},
    )
  }

  async saveRoom(room: StoredRoom): Promise<void> {
    // In the order the room changed: on a pool, an older save could otherwise commit after a newer one.
    await this.db.serially(`room:${room.service}/${room.name}`, () => this.writeRoom(room))
  }

  private async writeRoom(room: StoredRoom): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO muc_rooms (service, name, config, subject, subject_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (service, name) DO UPDATE SET config = excluded.config, subject = excluded.subject, subject_by = excluded.subject_by`,
        [room.service, room.name, JSON.stringify(room.config), room.subject, room.subjectBy, Date.now()],
      )
      await tx.query('DELETE FROM muc_affiliations WHERE service = $1 AND name = $2', [room.service, room.name])
      const affiliations = [...room.affiliations]
      if (affiliations.length === 0) return
      await tx.query('INSERT INTO muc_affiliations (service, name, jid, affiliation, reason) SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[])', [
        room.service,
        room.name,
        affiliations.map(([jid]) => jid),
        affiliations.map(([, entry]) => entry.affiliation),
        affiliations.map(([, entry]) => entry.reason),
      ])
    })
  }

  async deleteRoom(service: string, name: string): Promise<boolean> {
    return this.db.serially(`room:${service}/${name}`, async () => ((await this.db.query('DELETE FROM muc_rooms WHERE service = $1 AND name = $2', [service, name])).rowCount ?? 0) > 0)
  }

  async archiveMessage(service: string, name: string, nick: string, stanza: string): Promise<string | undefined> {
    // Microseconds since the epoch, never repeated, as the accounts' archive ids.
    const id = this.ids.next()
    try {
      await this.db.query('INSERT INTO muc_archive (service, name, id, nick, stanza) VALUES ($1, $2, $3, $4, $5)', [service, name, id, nick, stanza])
    } catch (error) {
      if (hasSqlState(error, SQLSTATE.foreignKeyViolation)) return undefined
      throw error
    }

    return String(id)
  }

  async queryArchive(service: string, name: string, filter: ArchiveFilter, page: ArchivePage): Promise<ArchiveResult | undefined> {
    return archivePage(
      async (sql, parameters) => (await this.db.query(numbered(sql), parameters)).rows,
      {
        from: 'muc_archive a',
        id: 'a.id',
        stanza: 'a.stanza',
        where: ['a.service = ?', 'a.name = ?'],
        parameters: [service, name],
        // Correspondents of a room are its occupants' room JIDs: the nick is what is kept.
        withConditions: (query) => (query.with === undefined ? [] : query.with !== `${name}@${service}` ? [['0 = ?', 1]] : query.withResource === undefined ? [] : [['a.nick = ?', query.withResource]]),
        exists: async (id) => (await this.db.query('SELECT 1 FROM muc_archive WHERE service = $1 AND name = $2 AND id = $3', [service, name, id])).rows.length > 0,
        idIn: arrayIdIn,
      },
      filter,
      page,
    )
  }

  /** Room by room, each archive's oldest first, a batch per statement (PostgreSQL's deletes do not hold up the server's inserts). */
  async purgeArchive({before, room, dryRun = false, onProgress}: RoomArchivePurge): Promise<number> {
    const beforeId = before.getTime() * 1000
    const {rows} = await this.db.query<{service: string; name: string; older: number}>(
      `SELECT service, name, count(*)::int AS older FROM muc_archive WHERE id < $1 AND ($2::text IS NULL OR (service = $2 AND name = $3)) GROUP BY service, name ORDER BY service, name`,
      [beforeId, room?.service ?? null, room?.name ?? null],
    )
    const total = rows.reduce((sum, entry) => sum + entry.older, 0)
    if (dryRun || total === 0) return total
    let removed = 0
    for (const {service, name, older} of rows) {
      // Messages archived from now on are newer than `before`, so the count bounds the batches.
      for (let batches = Math.floor(older / ROOM_PURGE_BATCH) + 1; batches > 0; batches--) {
        const deleted =
          (
            await this.db.query(
              `DELETE FROM muc_archive WHERE service = $1 AND name = $2 AND id IN (SELECT id FROM muc_archive WHERE service = $1 AND name = $2 AND id < $3 ORDER BY id LIMIT ${ROOM_PURGE_BATCH})`,
              [service, name, beforeId],
            )
          ).rowCount ?? 0
        removed += deleted
        onProgress?.(removed, total)
        if (deleted < ROOM_PURGE_BATCH) break
      }
    }

    return removed
  }

  async close(): Promise<void> {
    await this.db.release()
  }

  private async toRoom(tx: Queryable, row: RoomRow): Promise<StoredRoom> {
    const {rows} = await tx.query<{jid: string; affiliation: StoredAffiliation; reason: string}>('SELECT jid, affiliation, reason FROM muc_affiliations WHERE service = $1 AND name = $2 ORDER BY jid COLLATE "C"', [
      row.service,
      row.name,
    ])
    const affiliations = new Map(rows.map((entry) => [entry.jid, {affiliation: entry.affiliation, reason: entry.reason}]))
    return {service: row.service, name: row.name, config: JSON.parse(row.config) as RoomConfig, subject: row.subject, subjectBy: row.subject_by, affiliations}
  }
}
