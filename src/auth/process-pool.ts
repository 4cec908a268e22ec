/**
 * A pool of long-running helper processes speaking a request/reply protocol on
 * stdin/stdout, one request in flight per process (the extauth protocols have
 * no request ids). Used by the external backend (`extauth_pool_size`) and the
 * PAM helper.
 *
 * A process that crashes, hangs past the timeout, or answers anything the
 * codec does not accept is killed and restarted with exponential backoff; the
 * request in flight on it fails as *unavailable*, with what happened (exit
 * code, signal, the bytes received) so that diagnostics can name the cause.
 */
import {type ChildProcessWithoutNullStreams, spawn} from 'node:child_process'

import {UnavailableError} from '../errors.js'
import type {AuthLog} from './chain.js'

/** How replies are framed: `decode` looks at the bytes received so far. */
export interface ReplyCodec<T> {
  /**
   * `undefined`: need more bytes; `{value, consumed}`: one reply;
   * `{error}`: the bytes can never become a valid reply.
   */
  decode(buffer: Buffer): {value: T; consumed: number} | {error: string; mismatch?: string} | undefined
}

export type PoolFailureKind = 'spawn' | 'exit' | 'timeout' | 'garbage' | 'busy' | 'closed' | 'write'

export interface PoolFailureDetail {
  kind: PoolFailureKind
  /** Replies this process gave before failing: 0 with `exit` means it exited at start. */
  served: number
  exitCode?: number | null
  signal?: NodeJS.Signals | null
  /** What was received, for `garbage` (and `timeout`, when partial). */
  bytes?: Buffer
  /** The other protocol, when the bytes look like it ("ejabberd" or "generic"). */
  mismatch?: string
  /** The last lines the process wrote on stderr. */
  stderr: string[]
  /** errno code for `spawn` failures (ENOENT, EACCES). */
  errno?: string
  /** How long the process had been running. */
  uptimeMs?: number
}

/** The request could not be answered: it is *unavailable*, never *rejected*. */
export class PoolError extends UnavailableError {
  readonly detail: PoolFailureDetail

  constructor(message: string, detail: PoolFailureDetail, hint?: string) {
    super(message, hint)
    this.detail = detail
  }
}

export interface ProcessPoolOptions<T> {
  /** For messages: "the external program /usr/local/bin/auth.sh". */
  name: string
  command: string
  args?: readonly string[]
  size: number
  /** Milliseconds per request, and the longest a request may wait for a free process. */
  timeout: number
  codec: ReplyCodec<T>
  log: AuthLog
  /** First restart delay after a failure, doubled each consecutive failure (default 100 ms, at most 10 s). */
  backoffMs?: number
  maxBackoffMs?: number
  env?: NodeJS.ProcessEnv
}

interface Pending<T> {
  payload: Buffer
  /** The password(s) in the payload: never shown, however the program echoes them. */
  secrets: readonly Buffer[]
  resolve(value: T): void
  reject(error: PoolError): void
  timer?: NodeJS.Timeout
  /** While queued: gives up when no process frees up in time. */
  queueTimer?: NodeJS.Timeout
}

const STDERR_LINES_KEPT = 20

class Slot<T> {
  child: ChildProcessWithoutNullStreams | undefined
  buffer: Buffer = Buffer.alloc(0)
  pending: Pending<T> | undefined
  served = 0
  failures = 0
  restartAt = 0
  startedAt = 0
  stderr: string[] = []
  /** Secrets of the request last sent to this process, redacted from what it writes back. */
  secrets: readonly Buffer[] = []
  /** Set once the current child has failed, so its later events are ignored. */
  dead = false
}

export class ProcessPool<T> {
  private readonly options: ProcessPoolOptions<T>
  private readonly slots: Array<Slot<T>>
  private readonly queue: Array<Pending<T>> = []
  private closed = false
  private restartTimer: NodeJS.Timeout | undefined
  /** Processes started so far (for tests and `test-auth`). */
  spawned = 0
  /** The last stderr lines of any process, kept across restarts. */
  private readonly stderrHistory: string[] = []

  constructor(options: ProcessPoolOptions<T>) {
    this.options = options
    this.slots = Array.from({length: Math.max(1, options.size)}, () => new Slot<T>())
  }

  /**
   * Sends one framed request; resolves with the decoded reply or rejects with
   * PoolError. `secrets` (the password) are replaced by "<password>" wherever the
   * program's output is shown: errors, diagnostics and the log.
   */
  request(payload: Buffer, secrets: readonly string[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new PoolError(`${this.options.name} is shut down`, {kind: 'closed', served: 0, stderr: []}))
    return new Promise<T>((resolve, reject) => {
      const pending: Pending<T> = {payload, secrets: secrets.filter((secret) => secret !== '').map((secret) => Buffer.from(secret, 'utf8')), resolve, reject}
      this.queue.push(pending)
      this.dispatch()
      // Dispatched at once (the usual case): no queue timer needed.
      if (!this.queue.includes(pending)) return
      pending.queueTimer = setTimeout(() => {
        const index = this.queue.indexOf(pending)
        if (index === -1) return
        this.queue.splice(index, 1)
        reject(
          new PoolError(
            `${this.options.name} had no free process within ${this.options.timeout / 1000} s (all ${this.slots.length} busy or restarting)`,
            {kind: 'busy', served: 0, stderr: this.recentStderr()},
            'raise extauth_pool_size, or find out why the program is slow or keeps failing',
          ),
        )
      }, this.options.timeout)
      pending.queueTimer.unref?.()
    })
  }

  /** The last lines written on stderr by any process of the pool. */
  recentStderr(): string[] {
    return [...this.stderrHistory]
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.restartTimer)
    for (const pending of this.queue.splice(0)) {
      clearTimeout(pending.queueTimer)
      pending.reject(new PoolError(`${this.options.name} is shut down`, {kind: 'closed', served: 0, stderr: []}))
    }

    const exits: Array<Promise<void>> = []
    for (const slot of this.slots) {
      const {child} = slot
      if (!child || slot.dead) continue
      this.fail(slot, new PoolError(`${this.options.name} is shut down`, {kind: 'closed', served: slot.served, stderr: []}), false)
      exits.push(
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          const timer = setTimeout(() => child.kill('SIGKILL'), 1000)
          child.once('exit', () => {
            clearTimeout(timer)
            resolve()
          })
          // Closing stdin is the protocols' "stop": a well-behaved program exits.
          child.stdin.end()
        }),
      )
    }

    await Promise.all(exits)
  }

  private dispatch(): void {
    if (this.closed) return
    const now = Date.now()
    let nextRestart = Number.POSITIVE_INFINITY
    for (const slot of this.slots) {
      if (this.queue.length === 0) return
      if (slot.pending) continue
      if (!slot.child || slot.dead) {
        if (slot.restartAt > now) {
          nextRestart = Math.min(nextRestart, slot.restartAt)
          continue
        }

        this.start(slot)
        if (!slot.child || slot.dead) continue
      }

      const pending = this.queue.shift()!
      clearTimeout(pending.queueTimer)
      this.send(slot, pending)
    }

    if (this.queue.length > 0 && Number.isFinite(nextRestart)) {
      clearTimeout(this.restartTimer)
      this.restartTimer = setTimeout(() => this.dispatch(), Math.max(0, nextRestart - Date.now()))
      this.restartTimer.unref?.()
    }
  }

  private start(slot: Slot<T>): void {
    const {options} = this
    slot.buffer = Buffer.alloc(0)
    slot.served = 0
    slot.stderr = []
    slot.dead = false
    slot.startedAt = Date.now()
    let child: ChildProcessWithoutNullStreams
    try {
      child = spawn(options.command, options.args ?? [], {stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env})
    } catch (error) {
      // Synchronous spawn errors (EINVAL, …) are treated like asynchronous ones.
      slot.child = undefined
      this.scheduleRestart(slot)
      options.log.error(`${options.name} cannot be started: ${(error as Error).message}`)
      return
    }

    this.spawned++
    slot.child = child
    child.stdout.on('data', (chunk: Buffer) => this.onData(slot, child, chunk))
    let partialLine = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partialLine + chunk).split('\n')
      partialLine = lines.pop() ?? ''
      for (const line of lines) this.onStderr(slot, line)
    })
    child.stderr.on('end', () => partialLine && this.onStderr(slot, partialLine))
    child.stdin.on('error', () => {
      // EPIPE: the process is gone; its exit event says how.
    })
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child !== slot.child || slot.dead) return
      const hint =
        error.code === 'ENOENT'
          ? `check extauth_program: ${options.command} does not exist`
          : error.code === 'EACCES'
            ? `make ${options.command} executable (chmod 755) and readable by this user`
            : undefined
      this.fail(slot, new PoolError(`${options.name} cannot be started: ${error.message}`, {kind: 'spawn', served: 0, stderr: [], errno: error.code}, hint))
    })
    // 'close', not 'exit': a reply written just before exiting is read first.
    child.on('close', (code, signal) => {
      if (child !== slot.child || slot.dead) return
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`
      const when = slot.served === 0 ? 'before answering any request' : `after answering ${slot.served} request${slot.served === 1 ? '' : 's'}`
      this.fail(
        slot,
        new PoolError(
          `${options.name} ${how} ${when}`,
          {kind: 'exit', served: slot.served, exitCode: code, signal, stderr: [...slot.stderr], uptimeMs: Date.now() - slot.startedAt},
          slot.served === 0 ? 'run the program by hand to see why it stops' : 'the program must loop, answering requests until its stdin closes',
        ),
      )
    })
  }

  private send(slot: Slot<T>, pending: Pending<T>): void {
    slot.pending = pending
    slot.secrets = pending.secrets
    pending.timer = setTimeout(() => {
      if (slot.pending !== pending) return
      const partial = redact(slot.buffer, slot.secrets)
      this.fail(
        slot,
        new PoolError(
          `${this.options.name} gave no reply within ${this.options.timeout / 1000} s${partial.length > 0 ? ` (received only ${showBytes(partial)})` : ''}`,
          {kind: 'timeout', served: slot.served, bytes: partial, stderr: [...slot.stderr]},
          'a program that does not flush its standard output after each reply hangs like this (use flush, or unbuffered output)',
        ),
      )
    }, this.options.timeout)
    pending.timer.unref?.()
    slot.child!.stdin.write(pending.payload)
  }

  private onData(slot: Slot<T>, child: ChildProcessWithoutNullStreams, chunk: Buffer): void {
    if (child !== slot.child || slot.dead) return
    slot.buffer = slot.buffer.length === 0 ? chunk : Buffer.concat([slot.buffer, chunk])
    const {pending} = slot
    if (!pending) {
      const shown = redact(slot.buffer, slot.secrets)
      this.fail(slot, new PoolError(`${this.options.name} wrote ${showBytes(shown)} without being asked`, {kind: 'garbage', served: slot.served, bytes: shown, stderr: [...slot.stderr]}))
      return
    }

    const decoded = this.options.codec.decode(slot.buffer)
    if (decoded === undefined) return
    if ('error' in decoded) {
      const shown = redact(slot.buffer, slot.secrets)
      this.fail(
        slot,
        new PoolError(
          `${this.options.name} answered ${showBytes(shown)}: ${decoded.error}`,
          {kind: 'garbage', served: slot.served, bytes: shown, stderr: [...slot.stderr], mismatch: decoded.mismatch},
          decoded.mismatch ? `the program speaks the ${decoded.mismatch} protocol: set extauth_protocol: ${decoded.mismatch}` : undefined,
        ),
      )
      return
    }

    clearTimeout(pending.timer)
    slot.pending = undefined
    slot.served++
    slot.failures = 0
    const rest = redact(slot.buffer.subarray(decoded.consumed), slot.secrets)
    slot.buffer = Buffer.alloc(0)
    pending.resolve(decoded.value)
    if (rest.length > 0) {
      this.fail(slot, new PoolError(`${this.options.name} wrote ${showBytes(rest)} after its reply`, {kind: 'garbage', served: slot.served, bytes: rest, stderr: [...slot.stderr]}))
      return
    }

    this.dispatch()
  }

  private onStderr(slot: Slot<T>, text: string): void {
    // A script that prints its input for debugging must not put passwords in the log.
    const line = redact(Buffer.from(text, 'utf8'), slot.secrets).toString('utf8')
    slot.stderr.push(line)
    if (slot.stderr.length > STDERR_LINES_KEPT) slot.stderr.shift()
    this.stderrHistory.push(line)
    if (this.stderrHistory.length > STDERR_LINES_KEPT) this.stderrHistory.shift()
    this.options.log.warn(`${this.options.name} (stderr): ${line}`)
  }

  /** Fails the request in flight, kills the process, schedules its restart. */
  private fail(slot: Slot<T>, error: PoolError, log = true): void {
    if (slot.dead) return
    slot.dead = true
    const {pending, child} = slot
    slot.pending = undefined
    if (pending) {
      clearTimeout(pending.timer)
      pending.reject(error)
    }

    if (log) this.options.log.error(`${error.message}${error.detail.stderr.length > 0 ? ` (stderr: ${error.detail.stderr.at(-1)})` : ''}`)
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    this.scheduleRestart(slot)
    // Let other slots (or this one, after its backoff) take the queue.
    queueMicrotask(() => this.dispatch())
  }

  private scheduleRestart(slot: Slot<T>): void {
    slot.failures++
    const base = this.options.backoffMs ?? 100
    const delay = Math.min(base * 2 ** (slot.failures - 1), this.options.maxBackoffMs ?? 10_000)
    // The first failure restarts at once: one crash should not delay the next login.
    slot.restartAt = Date.now() + (slot.failures === 1 ? 0 : delay)
  }
}

/** `bytes` with every occurrence of each secret replaced by "<password>" (ASCII, so showBytes shows it as is). */
export function redact(bytes: Buffer, secrets: readonly Buffer[]): Buffer {
  let result = bytes
  for (const secret of secrets) {
    if (secret.length === 0) continue
    const parts: Buffer[] = []
    let from = 0
    for (let at = result.indexOf(secret); at !== -1; at = result.indexOf(secret, from)) {
      parts.push(result.subarray(from, at), REDACTED)
      from = at + secret.length
    }

    if (parts.length > 0) result = Buffer.concat([...parts, result.subarray(from)])
  }

  return result
}

const REDACTED = Buffer.from('<password>', 'utf8')

/** Bytes as a reader can see them: printable ASCII as is, the rest as \xNN, at most 64 bytes. */
export function showBytes(bytes: Buffer): string {
  const shown = bytes.subarray(0, 64)
  let text = ''
  for (const byte of shown) {
    if (byte === 0x0a) text += '\\n'
    else if (byte === 0x0d) text += '\\r'
    else if (byte === 0x5c) text += '\\\\'
    else if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte)
    else text += `\\x${byte.toString(16).padStart(2, '0')}`
  }

  return `"${text}"${bytes.length > 64 ? ` (+${bytes.length - 64} bytes)` : ''}`
}
