/**
 * Archive ids for a database several server processes write to (a
 * cluster's nodes). An id is microseconds since the epoch, as SQLite's
 * (ordered by time, and what XEP-0359 stanza ids and MAM paging use), but
 * each process only hands out ids ≡ its slot (mod ARCHIVE_ID_CLASSES): two
 * processes archiving in the same millisecond would otherwise both start at
 * ms × 1000 and the second batch would fail on the primary key. A slot is a
 * session advisory lock, held while the process lives. Slot 0 is no
 * process's: ids ≡ 0 are imports' (../archive-ids.ts).
 */
import {StoreError} from '../../errors.js'
import {ARCHIVE_ID_CLASSES} from '../archive-ids.js'
import type {PostgresDatabase} from './database.js'

/** Processes that may archive into one database at once; each gets 1000 / 16 = 62 ids per millisecond before its ids run ahead of the clock. */
export const ID_SLOTS = ARCHIVE_ID_CLASSES - 1
/** The advisory lock key of the slots ("XMA" + 1, an arbitrary constant of ours). */
const SLOT_LOCK_KEY = 0x58_4d_41_01

export class ArchiveIds {
  private constructor(
    private readonly slot: number,
    private last: number,
  ) {}

  /**
   * Claims a slot, then reads `last`, the highest id already there: read
   * after the claim, it holds every id written by the process that had the
   * slot before (its ids may run ahead of the clock).
   */
  static async claim(db: PostgresDatabase, readLast: () => Promise<number>): Promise<ArchiveIds> {
    // Lock numbers are the slots' classes, 1 to 15, as they were when 0 was a process's too: a process of an
    // older xmppctl holding lock n hands out ids ≡ n, as one of this one would.
    const slot = await db.claimSlot(SLOT_LOCK_KEY, 1, ARCHIVE_ID_CLASSES)
    if (slot === undefined) {
      throw new StoreError('store-busy', `${ID_SLOTS} processes already archive into ${db.location}`, `run at most ${ID_SLOTS} server processes on one database`)
    }

    return new ArchiveIds(slot, await readLast())
  }

  /** An id above every one given before (even if the clock steps back), and ≡ this process's slot. */
  next(): number {
    const base = Math.max(Date.now() * 1000, this.last + 1)
    this.last = base + ((((this.slot - base) % ARCHIVE_ID_CLASSES) + ARCHIVE_ID_CLASSES) % ARCHIVE_ID_CLASSES)
    return this.last
  }
}
