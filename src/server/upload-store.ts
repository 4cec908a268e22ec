/**
 * Files of HTTP upload (XEP-0363) under `data_dir/upload`: one directory per
 * account (named by a hash of its JID), one per slot inside it, holding the
 * slot's metadata (meta.json) beside the file. No table: the store's schema is
 * not touched, and a slot is whole or absent (metadata written by rename).
 * URLs carry an HMAC of the slot under a secret kept 0600 in the data
 * directory, so they cannot be made up, and are checked in constant time.
 */
import {createHash, createHmac, randomBytes, timingSafeEqual} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'

import {randomToken} from './random.js'

export interface SlotMeta {
  owner: string
  filename: string
  size: number
  contentType: string
  /** ms since the epoch. */
  created: number
  /** Until when the PUT is accepted. */
  putUntil: number
  complete: boolean
}

export interface Slot extends SlotMeta {
  /** URL path below the handler's prefix: /OWNER/SLOT/MAC/FILENAME. */
  path: string
}

/** How long after a slot is handed out its PUT is accepted (XEP-0363 §4: slots are short-lived). */
export const PUT_WINDOW_MS = 5 * 60_000

const SECRET_FILE = 'upload.secret'

export class UploadStore {
  readonly dir: string
  private secret: Buffer | undefined

  constructor(readonly dataDir: string) {
    this.dir = path.join(dataDir, 'upload')
  }

  /** The HMAC key: created 0600 on first use (the umask cannot widen it), read afterwards. */
  private async key(): Promise<Buffer> {
    if (this.secret) return this.secret
    const file = path.join(this.dataDir, SECRET_FILE)
    try {
      await fs.writeFile(file, randomBytes(32), {mode: 0o600, flag: 'wx'})
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }

    this.secret = await fs.readFile(file)
    return this.secret
  }

  private static ownerDir(owner: string): string {
    return createHash('sha256').update(owner).digest('base64url').slice(0, 22)
  }

  private async mac(owner: string, slot: string, filename: string): Promise<string> {
    return createHmac('sha256', await this.key()).update(`${owner}\0${slot}\0${filename}`).digest('base64url').slice(0, 32)
  }

  /** Bytes the account's files (and slots not yet used) take. */
  async usage(owner: string): Promise<number> {
    let total = 0
    for (const meta of await this.metas(path.join(this.dir, UploadStore.ownerDir(owner)))) total += meta.size
    return total
  }

  private async metas(ownerDir: string): Promise<SlotMeta[]> {
    let entries: string[]
    try {
      entries = await fs.readdir(ownerDir)
    } catch {
      return []
    }

    const metas: SlotMeta[] = []
    for (const entry of entries) {
      const meta = await readMeta(path.join(ownerDir, entry))
      if (meta) metas.push(meta)
    }

    return metas
  }

  /** A new slot for `owner`; its directory and metadata exist once this returns. */
  async create(owner: string, filename: string, size: number, contentType: string, now = Date.now()): Promise<Slot> {
    const ownerDir = UploadStore.ownerDir(owner)
    const slot = randomToken(18)
    const dir = path.join(this.dir, ownerDir, slot)
    await fs.mkdir(dir, {recursive: true, mode: 0o700})
    const meta: SlotMeta = {owner, filename, size, contentType, created: now, putUntil: now + PUT_WINDOW_MS, complete: false}
    await writeMeta(dir, meta)
    return {...meta, path: `/${ownerDir}/${slot}/${await this.mac(owner, slot, filename)}/${encodeURIComponent(filename)}`}
  }

  /** The slot a URL path names, if its HMAC is right; with the file's path. */
  async find(urlPath: string): Promise<{meta: SlotMeta; dir: string; file: string} | undefined> {
    const parts = urlPath.split('/')
    if (parts.length !== 5 || parts[0] !== '') return undefined
    const [, ownerDir, slot, mac, encoded] = parts
    if (!/^[A-Za-z0-9_-]{22}$/.test(ownerDir) || !/^[A-Za-z0-9_-]{24}$/.test(slot)) return undefined
    let filename: string
    try {
      filename = decodeURIComponent(encoded)
    } catch {
      return undefined
    }

    const dir = path.join(this.dir, ownerDir, slot)
    const meta = await readMeta(dir)
    if (!meta || meta.filename !== filename) return undefined
    const expected = Buffer.from(await this.mac(meta.owner, slot, filename))
    const given = Buffer.from(mac)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    return {meta, dir, file: path.join(dir, 'file')}
  }

  /** Marks a slot's upload done: the file is in place (renamed there by the caller). */
  async complete(dir: string, meta: SlotMeta): Promise<void> {
    await writeMeta(dir, {...meta, complete: true})
  }

  /**
   * Removes files older than `maxDays` days (0: none expire) and slots whose
   * PUT window passed unused; returns what was removed.
   */
  async purge(maxDays: number, now = Date.now(), dryRun = false): Promise<{files: number; slots: number; bytes: number}> {
    const removed = {files: 0, slots: 0, bytes: 0}
    let owners: string[]
    try {
      owners = await fs.readdir(this.dir)
    } catch {
      return removed
    }

    for (const owner of owners) {
      const ownerDir = path.join(this.dir, owner)
      let slots: string[]
      try {
        slots = await fs.readdir(ownerDir)
      } catch {
        continue
      }

      for (const slot of slots) {
        const dir = path.join(ownerDir, slot)
        const meta = await readMeta(dir)
        const expired = meta === undefined ? true : meta.complete ? maxDays > 0 && meta.created + maxDays * 86_400_000 <= now : meta.putUntil <= now
        if (!expired) continue
        if (!dryRun) await fs.rm(dir, {recursive: true, force: true})
        if (meta?.complete) {
          removed.files++
          removed.bytes += meta.size
        } else removed.slots++
      }

      if (!dryRun) await fs.rmdir(ownerDir).catch(() => {})
    }

    return removed
  }
}

async function readMeta(dir: string): Promise<SlotMeta | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, 'meta.json'), 'utf8')) as SlotMeta
  } catch {
    return undefined
  }
}

/** Written beside and renamed over: a reader sees the old metadata or the new, never half of one. */
async function writeMeta(dir: string, meta: SlotMeta): Promise<void> {
  const temporary = path.join(dir, `meta.json.${randomToken(6)}`)
  await fs.writeFile(temporary, JSON.stringify(meta), {mode: 0o600, flag: 'wx'})
  await fs.rename(temporary, path.join(dir, 'meta.json'))
}
