/**
 * A progress line on stderr for long jobs (conversion, import): count, rate
 * and, when the total is known, a bar and the time left. Only on a terminal
 * and without NO_COLOR; otherwise every call is a no-op, so stdout and logs
 * stay clean.
 */
export interface Progress {
  update(done: number, total?: number): void
  /** Clears the line. */
  done(): void
}

/** Redraws at most this often. */
const INTERVAL_MS = 100

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--'
  const whole = Math.max(0, Math.round(seconds))
  const hours = Math.floor(whole / 3600)
  const minutes = Math.floor((whole % 3600) / 60)
  const rest = String(whole % 60).padStart(2, '0')
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`
}

/** The text of one progress line; exported for tests. */
export function progressLine(label: string, done: number, total: number | undefined, elapsedSeconds: number, width = 80): string {
  const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0
  const rateText = `${Math.round(rate)}/s`
  if (total === undefined || total === 0) return `${label} ${done} ${rateText}`
  const fraction = Math.min(1, done / total)
  const eta = rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY
  const tail = ` ${String(Math.floor(fraction * 100)).padStart(3)}% ${done}/${total} ${rateText} ETA ${formatDuration(eta)}`
  const barWidth = Math.max(10, Math.min(40, width - label.length - tail.length - 3))
  const filled = Math.round(fraction * barWidth)
  return `${label} [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${tail}`
}

export function createProgress(label: string, stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): Progress {
  const enabled = Boolean(stream.isTTY) && !('NO_COLOR' in env && env.NO_COLOR !== '') && env.TERM !== 'dumb'
  if (!enabled) return {update() {}, done() {}}
  const started = Date.now()
  let last = 0
  let drawn = false
  return {
    update(done, total) {
      const now = Date.now()
      if (now - last < INTERVAL_MS && done !== total) return
      last = now
      stream.write(`\r${progressLine(label, done, total, (now - started) / 1000, stream.columns ?? 80)}\u001B[K`)
      drawn = true
    },
    done() {
      if (drawn) stream.write('\r\u001B[K')
    },
  }
}
