/**
 * Failed-authentication throttling (issue 6 "hard to knock over"): failures
 * are counted per key (an IP address, an account) in a sliding window; once a
 * key reaches its limit, further attempts are refused without asking a
 * backend until the window moves on. Bounded memory: the oldest keys go first.
 */
export interface ThrottleLimits {
  /** Failures allowed per window. */
  failures: number
  windowMs: number
}

export class FailureThrottle {
  private readonly limits: ThrottleLimits
  private readonly maxKeys: number
  private readonly failures = new Map<string, number[]>()
  private readonly now: () => number

  constructor(limits: ThrottleLimits, options: {maxKeys?: number; now?: () => number} = {}) {
    this.limits = limits
    this.maxKeys = options.maxKeys ?? 100_000
    this.now = options.now ?? Date.now
  }

  /** Whether `key` may try again now. */
  allowed(key: string): boolean {
    return this.recent(key).length < this.limits.failures
  }

  fail(key: string): void {
    const recent = this.recent(key)
    recent.push(this.now())
    this.failures.delete(key)
    this.failures.set(key, recent)
    if (this.failures.size > this.maxKeys) this.failures.delete(this.failures.keys().next().value as string)
  }

  /** A success clears the key's failures. */
  succeed(key: string): void {
    this.failures.delete(key)
  }

  private recent(key: string): number[] {
    const list = this.failures.get(key)
    if (!list) return []
    const since = this.now() - this.limits.windowMs
    const kept = list.filter((time) => time > since)
    if (kept.length === 0) this.failures.delete(key)
    else this.failures.set(key, kept)
    return kept
  }
}
