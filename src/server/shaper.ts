/**
 * A traffic shaper as ejabberd's: a token bucket of bytes per second with a
 * burst allowance. A connection over its rate is not cut off; it is read
 * more slowly (its socket paused until its tokens return), so a client that
 * floods slows only itself.
 */
export interface ShaperRate {
  /** Bytes per second. */
  rate: number
  /** Bytes that may arrive at once after a quiet period. */
  burstSize: number
}

export class Shaper {
  private readonly rate: ShaperRate
  private readonly now: () => number
  private tokens: number
  private updated: number

  constructor(rate: ShaperRate, now: () => number = Date.now) {
    this.rate = rate
    this.now = now
    this.tokens = rate.burstSize
    this.updated = now()
  }

  /** Takes `bytes`; returns how many milliseconds to stop reading so the average stays at the rate (0: go on). */
  consume(bytes: number): number {
    const now = this.now()
    this.tokens = Math.min(this.rate.burstSize, this.tokens + ((now - this.updated) * this.rate.rate) / 1000)
    this.updated = now
    this.tokens -= bytes
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.rate.rate)
  }
}
