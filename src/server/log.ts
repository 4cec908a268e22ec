/**
 * The server's log: one line per event on a stream (stderr in the
 * foreground, the log file in the background). Callers pass facts, never
 * secrets: no passwords, tokens, SASL payloads or session keys are logged.
 *
 * What a client sends can reach a message (a username, a host name), so the
 * logger itself escapes control characters: no caller can forget, and no
 * line can forge another or rewrite the operator's terminal. Messages given
 * a `kind` are rate-limited per kind: the first of a burst is written, the
 * rest are counted in one line at its end, so a flood costs two lines a
 * minute, not one per attempt.
 */
import {closeSync, fstatSync, openSync, renameSync, rmSync, writeSync} from 'node:fs'

import type {LogLevelName} from '../config/schema.js'

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** The level a `loglevel` or `--log-level` name means. */
export function logLevel(name: LogLevelName): LogLevel {
  return name === 'warning' ? 'warn' : name
}

export interface Logger {
  /**
   * `kind` names what the message is an instance of, without its data
   * ("authentication throttled"); messages of one kind are rate-limited.
   */
  error(message: string, kind?: string): void
  warn(message: string, kind?: string): void
  info(message: string, kind?: string): void
  debug(message: string, kind?: string): void
  /** Writes the counts of bursts not yet ended (the server is stopping). */
  flush?(): void
}

/**
 * C0 and C1 controls, DEL, the line and paragraph separators, bidirectional
 * marks, embeddings, overrides and isolates (U+061C, U+200E–200F,
 * U+202A–202E, U+2066–2069), and the backslash that starts an escape, so
 * that an escape in the log always means the character.
 */
const UNSAFE = /[\\\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/** `text` with every unsafe character written as `\xHH` or `\uHHHH` (and `\` as `\\`). */
export function escapeLogText(text: string): string {
  return text.replace(UNSAFE, (character) => {
    if (character === '\\') return '\\\\'
    const code = character.charCodeAt(0)
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}

export interface LoggerOptions {
  now?: () => number
  /** How long a burst of one kind lasts (default 60 s). */
  burstMs?: number
  /** Kinds tracked at once; the oldest burst ends first (default 1000). */
  maxKinds?: number
  /** Written in brackets before each message: the node of a worker, or `supervisor` (cluster.workers). */
  tag?: string
}

interface Burst {
  level: LogLevel
  started: number
  suppressed: number
  timer?: NodeJS.Timeout
}

export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (line) => process.stderr.write(line), options: LoggerOptions = {}): Logger {
  const threshold = LOG_LEVELS.indexOf(level)
  const now = options.now ?? Date.now
  const burstMs = options.burstMs ?? 60_000
  const maxKinds = options.maxKinds ?? 1000
  const bursts = new Map<string, Burst>()
  const tag = options.tag === undefined ? '' : `[${escapeLogText(options.tag)}] `
  const emit = (name: LogLevel, message: string) => write(`${new Date(now()).toISOString()} ${name.padEnd(5)} ${tag}${escapeLogText(message)}\n`)
  const end = (kind: string, burst: Burst) => {
    clearTimeout(burst.timer)
    if (bursts.get(kind) === burst) bursts.delete(kind)
    if (burst.suppressed === 0) return
    const seconds = Math.max(1, Math.round((now() - burst.started) / 1000))
    emit(burst.level, `${kind}: ${burst.suppressed} more like this in the last ${seconds} s`)
  }

  const at = (name: LogLevel) => (message: string, kind?: string) => {
    if (LOG_LEVELS.indexOf(name) > threshold) return
    if (kind === undefined) return emit(name, message)
    const time = now()
    const burst = bursts.get(kind)
    if (burst && time - burst.started < burstMs) {
      burst.suppressed++
      burst.timer ??= setTimeout(() => end(kind, burst), burst.started + burstMs - time).unref()
      return
    }

    if (burst) end(kind, burst)
    bursts.set(kind, {level: name, started: time, suppressed: 0})
    if (bursts.size > maxKinds) {
      const [oldest, first] = bursts.entries().next().value as [string, Burst]
      end(oldest, first)
    }

    emit(name, message)
  }

  return {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    flush() {
      for (const [kind, burst] of [...bursts]) end(kind, burst)
    },
  }
}

export const silentLogger: Logger = {error() {}, warn() {}, info() {}, debug() {}}

export interface LogFileOptions {
  /** Bytes the file may reach before it is rotated; 0: never. */
  rotateSize: number
  /** Rotated files kept: `file.1` (newest) to `file.N`; 0: none. */
  rotateCount: number
}

/**
 * An append-only log file, rotated when a line would take it past
 * `rotateSize`: `file` becomes `file.1` (`file.1` becomes `file.2`, up to
 * `rotateCount`) and a new `file` is created 0600. A line that cannot be
 * written (disk full) is dropped: logging never stops the server.
 */
export class LogFile {
  private fd: number
  private size: number

  constructor(
    readonly file: string,
    private readonly options: LogFileOptions,
  ) {
    this.fd = openSync(file, 'a', 0o600)
    this.size = fstatSync(this.fd).size
  }

  write(line: string): void {
    const bytes = Buffer.from(line)
    try {
      if (this.options.rotateSize > 0 && this.size > 0 && this.size + bytes.length > this.options.rotateSize) this.rotate()
      writeSync(this.fd, bytes)
      this.size += bytes.length
    } catch {}
  }

  close(): void {
    closeSync(this.fd)
  }

  private rotate(): void {
    closeSync(this.fd)
    const {rotateCount} = this.options
    try {
      if (rotateCount === 0) rmSync(this.file, {force: true})
      for (let index = rotateCount - 1; index >= 0; index--) moveIfPresent(index === 0 ? this.file : `${this.file}.${index}`, `${this.file}.${index + 1}`)
    } finally {
      this.fd = openSync(this.file, 'a', 0o600)
      this.size = fstatSync(this.fd).size
    }
  }
}

function moveIfPresent(from: string, to: string): void {
  try {
    renameSync(from, to)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
}
