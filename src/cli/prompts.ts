import {UsageError, PasswordError} from '../errors.js'

/** A password is one line; anything longer than this on stdin is not a password. */
const MAX_PASSWORD_LINE = 64 * 1024

export function isInteractive(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY)
}

/**
 * Reads the first line of standard input (without its line ending). Used for
 * `--password-stdin`, so the password never appears in argv or the shell history.
 */
export async function readStdinLine(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (stdin.isTTY) {
    throw new UsageError('--password-stdin reads a pipe, but standard input is a terminal', 'omit --password-stdin to be prompted, or pipe the password in')
  }

  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of stdin as AsyncIterable<Buffer>) {
    const newline = chunk.indexOf(0x0a)
    chunks.push(newline === -1 ? chunk : chunk.subarray(0, newline))
    length += chunk.length
    if (newline !== -1) break
    if (length > MAX_PASSWORD_LINE) throw new PasswordError('the first line of standard input is longer than 64 KiB', 'send the password alone on one line')
  }

  stdin.pause()
  const line = Buffer.concat(chunks).toString('utf8')
  return line.endsWith('\r') ? line.slice(0, -1) : line
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
