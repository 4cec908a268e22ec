/**
 * Runs a command in this process, as oclif's own `runCommand` test helper
 * does: the command class from the compiled tree, oclif's Config of the
 * project, and what the command returned, printed and set as its exit
 * status. No process is spawned, so a test of what a command returns costs
 * milliseconds instead of a CLI start-up; the spawned tests (runCli) keep
 * proving the real entry point, the bundle and the exit codes as a shell
 * sees them.
 */
import {Config} from '@oclif/core'

import {projectRoot} from '../../src/paths.js'

let config: Promise<Config> | undefined

export interface InProcessResult<T> {
  /** What run() returned; undefined when it threw. */
  result: T | undefined
  /** The exit status the command set (process.exitCode), 0 when none. */
  exitCode: number
  stdout: string
  stderr: string
}

interface RunnableCommand<T> {
  run(argv?: string[], options?: Config): Promise<T>
}

/**
 * Runs `command` with `argv` in `cwd` (restored after). Standard output and
 * error are captured while it runs; tests in one file run one at a time, so
 * nothing else writes meanwhile. A command's error is rendered as the CLI
 * renders it (BaseCommand.catch), so it shows in `stderr` and `exitCode`.
 */
export async function runInProcess<T>(command: RunnableCommand<T>, argv: string[], {cwd}: {cwd: string}): Promise<InProcessResult<T>> {
  config ??= Config.load({root: projectRoot()})
  const loaded = await config
  const previous = {cwd: process.cwd(), exitCode: process.exitCode, stdout: process.stdout.write, stderr: process.stderr.write, noColor: process.env.NO_COLOR}
  let stdout = ''
  let stderr = ''
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk)
    return true
  }) as typeof process.stdout.write
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk)
    return true
  }) as typeof process.stderr.write
  process.env.NO_COLOR = '1'
  process.exitCode = undefined
  process.chdir(cwd)
  let result: T | undefined
  try {
    result = await command.run(argv, loaded)
  } catch {
    // BaseCommand.catch rendered it and set the exit status; oclif rethrows for its own exit handling.
  } finally {
    process.chdir(previous.cwd)
    process.stdout.write = previous.stdout
    process.stderr.write = previous.stderr
    if (previous.noColor === undefined) delete process.env.NO_COLOR
    else process.env.NO_COLOR = previous.noColor
  }

  const exitCode = Number(process.exitCode ?? 0)
  process.exitCode = previous.exitCode
  return {result, exitCode, stdout, stderr}
}
