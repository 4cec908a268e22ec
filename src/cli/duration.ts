/**
 * Durations as operators write them for purges (`--older-than 30d`): a whole
 * number and one unit, as in ejabberd's and systemd's shorthand.
 */
import {UsageError} from '../errors.js'

const UNIT_MS = {s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000} as const

/** Milliseconds of `input` ("90s", "15m", "12h", "30d", "2w"); throws UsageError naming the accepted forms. */
export function parseDuration(input: string): number {
  const match = /^(\d{1,9})([smhdw])$/.exec(input.trim())
  if (!match) throw new UsageError(`invalid duration "${input}": write a whole number and a unit`, 'for example 90s, 15m, 12h, 30d or 2w')
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
}
