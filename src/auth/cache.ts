/**
 * The auth cache (`auth_use_cache`, `auth_cache_size`, `auth_cache_life_time`,
 * `auth_cache_missed`): remembers what slow backends (external programs,
 * saslauthd, PAM) answered, for one host only — each HostAuthenticator owns
 * one, so an answer for alice@a.example never serves alice@b.example.
 *
 * Passwords are never kept: an entry holds an HMAC of the password under a key
 * drawn at start and never stored, so a memory dump does not give candidates
 * for offline guessing beyond what the backend itself would.
 */
import {createHmac, randomBytes} from 'node:crypto'

import type {AuthMethod} from '../sasl/session.js'

export interface AuthCacheOptions {
  enabled: boolean
  /** Maximum number of entries (least recently used go first). */
  size: number
  /** Seconds an entry lives. */
  lifeTime: number
  /** Also cache negative answers (wrong password, no such user). */
  missed: boolean
  /** Injected by tests. */
  now?: () => number
}

interface Entry {
  username: string
  value: boolean
  expires: number
}

export class AuthCache {
  private readonly options: AuthCacheOptions
  private readonly key = randomBytes(32)
  /** Insertion order is recency order: a hit re-inserts. */
  private readonly entries = new Map<string, Entry>()
  /** The keys of each username, so that `invalidate` is O(entries of that user). */
  private readonly byUser = new Map<string, Set<string>>()
  private readonly now: () => number
  hits = 0
  misses = 0

  constructor(options: AuthCacheOptions) {
    this.options = options
    this.now = options.now ?? Date.now
  }

  get enabled(): boolean {
    return this.options.enabled
  }

  get size(): number {
    return this.entries.size
  }

  /** The cached answer of `method` to "is `password` right for `username`", if any. */
  getPassword(method: AuthMethod, username: string, password: string): boolean | undefined {
    return this.get(this.passwordKey(method, username, password))
  }

  setPassword(method: AuthMethod, username: string, password: string, accepted: boolean): void {
    this.set(this.passwordKey(method, username, password), username, accepted)
  }

  getExists(method: AuthMethod, username: string): boolean | undefined {
    return this.get(`e\0${method}\0${username}`)
  }

  setExists(method: AuthMethod, username: string, exists: boolean): void {
    this.set(`e\0${method}\0${username}`, username, exists)
  }

  /** Drops every entry about `username` (password changed, account deleted or disabled). */
  invalidate(username: string): void {
    const keys = this.byUser.get(username)
    if (!keys) return
    for (const key of keys) this.entries.delete(key)
    this.byUser.delete(username)
  }

  clear(): void {
    this.entries.clear()
    this.byUser.clear()
  }

  private passwordKey(method: AuthMethod, username: string, password: string): string {
    const mac = createHmac('sha256', this.key).update(`${method}\0${username}\0`).update(password, 'utf8').digest('base64')
    return `p\0${method}\0${username}\0${mac}`
  }

  private get(key: string): boolean | undefined {
    if (!this.options.enabled) return undefined
    const entry = this.entries.get(key)
    if (entry === undefined) {
      this.misses++
      return undefined
    }

    if (entry.expires <= this.now()) {
      this.remove(key, entry)
      this.misses++
      return undefined
    }

    this.entries.delete(key)
    this.entries.set(key, entry)
    this.hits++
    return entry.value
  }

  private set(key: string, username: string, value: boolean): void {
    if (!this.options.enabled) return
    if (!value && !this.options.missed) return
    const previous = this.entries.get(key)
    if (previous) this.entries.delete(key)
    this.entries.set(key, {username, value, expires: this.now() + this.options.lifeTime * 1000})
    let keys = this.byUser.get(username)
    if (!keys) this.byUser.set(username, (keys = new Set()))
    keys.add(key)
    while (this.entries.size > this.options.size) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry]
      this.remove(oldestKey, oldest)
    }
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key)
    const keys = this.byUser.get(entry.username)
    keys?.delete(key)
    if (keys?.size === 0) this.byUser.delete(entry.username)
  }
}
