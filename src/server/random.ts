/**
 * Random tokens for stream ids and generated resources, cut from a pooled
 * CSPRNG buffer: one randomFillSync per 4 KiB instead of one per token, which
 * showed in login profiles. The bytes are as unpredictable as randomBytes'.
 */
import {randomFillSync} from 'node:crypto'

const POOL_BYTES = 4096
const pool = Buffer.alloc(POOL_BYTES)
let offset = POOL_BYTES

/** `bytes` fresh random bytes as base64url (no padding when bytes is a multiple of 3). */
export function randomToken(bytes: number): string {
  if (bytes > POOL_BYTES) throw new RangeError(`at most ${POOL_BYTES} bytes`)
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool)
    offset = 0
  }

  const token = pool.toString('base64url', offset, offset + bytes)
  // Never hand out the same bytes twice.
  pool.fill(0, offset, offset + bytes)
  offset += bytes
  return token
}
