import {Chalk, type ChalkInstance} from 'chalk'

/** Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function colourFor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): ChalkInstance {
  const enabled = Boolean(stream.isTTY) && !('NO_COLOR' in env && env.NO_COLOR !== '') && env.TERM !== 'dumb'
  return new Chalk({level: enabled ? (stream.hasColors?.(256) ? 2 : 1) : 0})
}

export const stdoutColour = colourFor(process.stdout)
export const stderrColour = colourFor(process.stderr)

/** Left-aligned columns; widths from the rows given (so only for bounded lists). */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column])))
      .join('  ')
      .trimEnd()
  return [stdoutColour.bold(line(header)), ...rows.map((row) => line(row))].join('\n')
}

/** `key: value` lines with the keys aligned, for single records such as `user info`. */
export function formatRecord(entries: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...entries.map(([key]) => key.length))
  return entries.map(([key, value]) => `${stdoutColour.dim(`${key}:`.padEnd(width + 1))} ${value}`).join('\n')
}

let stdoutReaderGone = false
let watchingStdout = false

/**
 * Writes to stdout with back-pressure, for output streamed as it is read (a
 * million accounts). Resolves false once the reader has gone away
 * (`xmppctl user list | head`): the caller stops, and the command ends
 * normally instead of waiting for a 'drain' that never comes.
 */
export async function writeStdout(text: string): Promise<boolean> {
  if (!watchingStdout) {
    watchingStdout = true
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error
      stdoutReaderGone = true
    })
  }

  if (stdoutReaderGone) return false
  if (!process.stdout.write(text)) {
    await new Promise<void>((resolve) => {
      const settle = () => {
        process.stdout.off('drain', settle).off('error', settle).off('close', settle)
        resolve()
      }

      process.stdout.on('drain', settle).on('error', settle).on('close', settle)
    })
  }

  return !stdoutReaderGone
}
