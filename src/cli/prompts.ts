import {readSync} from 'node:fs'
import {isatty} from 'node:tty'

import {UsageError, PasswordError} from '../errors.js'

/** A password is one line; anything longer than this on stdin is not a password. */
const MAX_PASSWORD_LINE = 64 * 1024
const LINE_CHUNK = 16 * 1024

export function isInteractive(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY)
}

/**
 * Reads the first line of standard input (without its line ending). Used for
 * `--password-stdin`, so the password never appears in argv or the shell history.
 *
 * The line is read from file descriptor 0 directly: process.stdin would set
 * up a stream (sockets, readable state, an async iterator), ~5 ms of a
 * command's start-up, to read a few bytes. A non-blocking descriptor with
 * nothing to read yet (EAGAIN) is read through process.stdin after all.
 */
export async function readStdinLine(): Promise<string> {
  if (isatty(0)) {
    throw new UsageError('--password-stdin reads a pipe, but standard input is a terminal', 'omit --password-stdin to be prompted, or pipe the password in')
  }

  const line = new LineReader()
  const buffer = Buffer.allocUnsafe(LINE_CHUNK)
  while (!line.done) {
    let read: number
    try {
      read = readSync(0, buffer, 0, buffer.length, null)
    } catch (error) {
      const {code} = error as NodeJS.ErrnoException
      if (code === 'EAGAIN') return readStreamLine(line)
      // Windows reports the end of a pipe as an error.
      if (code !== 'EOF') throw error
      read = 0
    }

    line.add(buffer.subarray(0, read))
  }

  return line.text()
}

/** The first line of what is added to it, refusing lines longer than MAX_PASSWORD_LINE. */
class LineReader {
  done = false
  private readonly chunks: Buffer[] = []
  private length = 0

  /** An empty chunk is the end of the input. */
  add(chunk: Buffer): void {
    if (chunk.length === 0) {
      this.done = true
      return
    }

    const newline = chunk.indexOf(0x0a)
    this.chunks.push(Buffer.from(newline === -1 ? chunk : chunk.subarray(0, newline)))
    this.length += chunk.length
    if (newline !== -1) this.done = true
    else if (this.length > MAX_PASSWORD_LINE) throw new PasswordError('the first line of standard input is longer than 64 KiB', 'send the password alone on one line')
  }

  text(): string {
    const line = Buffer.concat(this.chunks).toString('utf8')
    return line.endsWith('\r') ? line.slice(0, -1) : line
  }
}

async function readStreamLine(line: LineReader): Promise<string> {
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    line.add(chunk)
    if (line.done) break
  }

  process.stdin.pause()
  return line.text()
}

export interface PasswordSource {
  /** `--password-stdin` was given. */
  stdin: boolean
  /** Ask twice on a terminal (setting a password, not checking one). */
  confirm: boolean
  prompt?: string
}

/** A password from stdin, or from a masked prompt on a terminal; never from argv. */
export async function readPassword({stdin, confirm, prompt = 'Password'}: PasswordSource): Promise<string> {
  if (stdin) return readStdinLine()
  if (!isInteractive()) {
    throw new UsageError('no password given: standard input is not a terminal, so there is nobody to prompt', 'pipe the password in and add --password-stdin')
  }

  const {password} = await import('@inquirer/prompts')
  const context = {output: process.stderr}
  const first = await password({message: prompt, mask: '*'}, context)
  if (!confirm) return first
  const second = await password({message: `${prompt} (again)`, mask: '*'}, context)
  if (first !== second) throw new PasswordError('the two passwords differ', 'run the command again and type the same password twice')
  return first
}

/**
 * Asks before an irreversible `action` ("delete alice@example.org") on a
 * terminal; without one, `--force` (or `--yes`) must have said yes already,
 * because consent is never assumed.
 */
export async function confirmAction(action: string, forced: boolean, flag = '--force'): Promise<boolean> {
  if (forced) return true
  if (!isInteractive()) {
    throw new UsageError(`refusing to ${action} without confirmation: standard input is not a terminal`, `add ${flag} to confirm`)
  }

  const {confirm} = await import('@inquirer/prompts')
  return confirm({message: `Really ${action}?`, default: false}, {output: process.stderr})
}
