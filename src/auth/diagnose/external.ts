/**
 * `test-auth external`: the program on disk, its start, the protocol exchange
 * (always also a password with ":" and a non-ASCII one), its exit and stderr,
 * each failure with a cause and a fix.
 */
import {spawn} from 'node:child_process'
import {accessSync, constants, statSync} from 'node:fs'
import path from 'node:path'

import {silentAuthLog} from '../chain.js'
import {ExternalBackend, type ExtauthProtocol, splitProgram} from '../backends/external.js'
import {PoolError, showBytes} from '../process-pool.js'
import {type BackendDiagnosis, Recorder, type StepResult, fail, info, ok, skip, warn} from './report.js'
import type {DiagnoseInput} from './types.js'

/** Wrong passwords sent to every program: scripts that split on every ":" or count characters break on them. */
export const COLON_PROBE = 'xmppctl:probe:wrong'
export const NON_ASCII_PROBE = 'xmppctl-prøbe-wröng-€'
const PROBE_USER = 'xmppctl-probe-nonexistent'

function explain(error: PoolError, protocol: ExtauthProtocol, timeout: number, what: string): StepResult {
  const {detail} = error
  switch (detail.kind) {
    case 'timeout': {
      return fail(
        `no reply to ${what} within ${timeout / 1000} s${detail.bytes && detail.bytes.length > 0 ? ` (received only ${showBytes(detail.bytes)})` : ''}`,
        'very often a script that does not flush its standard output after each reply, so the answer sits in its buffer',
        'flush after every reply (Python: print(..., flush=True) or sys.stdout.flush(); Perl: $| = 1; C: fflush(stdout)), or run the interpreter unbuffered (python3 -u)',
      )
    }

    case 'garbage': {
      return detail.mismatch
        ? fail(`the reply to ${what} was ${showBytes(detail.bytes ?? Buffer.alloc(0))}`, `a protocol mismatch: the program answers in the ${detail.mismatch} protocol, extauth_protocol is ${protocol}`, `set extauth_protocol: ${detail.mismatch}`)
        : fail(
            `the reply to ${what} was ${showBytes(detail.bytes ?? Buffer.alloc(0))}`,
            protocol === 'generic' ? 'the generic protocol expects exactly the line "1" or "0"' : 'the ejabberd protocol expects the bytes 00 02 00 01 or 00 02 00 00',
            'make the program print only the reply (debug output belongs on stderr)',
          )
    }

    case 'exit': {
      const how = detail.signal ? `was killed by ${detail.signal}` : `exited with code ${detail.exitCode}`
      const stderr = detail.stderr.length > 0 ? `; its last stderr line: ${detail.stderr.at(-1)}` : ''
      if (detail.served === 0) return fail(`the program ${how} before answering ${what}${stderr}`, 'it stops as soon as it reads a request', 'run it by hand and type a request to see why')
      return fail(
        `the program ${how} after answering ${detail.served} request${detail.served === 1 ? '' : 's'}, instead of answering ${what}${stderr}`,
        detail.served === 1 ? 'it exits after the first request' : 'it stops after a few requests',
        'the program must loop, answering requests until its standard input closes',
      )
    }

    case 'spawn': {
      return fail(`the program cannot be started: ${error.message}`, undefined, error.hint)
    }

    default: {
      return fail(error.message, undefined, error.hint)
    }
  }
}

/** Asks the program in the other protocol: if it answers properly there, the configuration names the wrong one. */
async function otherProtocolAnswers(program: string, baseDir: string, protocol: ExtauthProtocol, host: string, timeout: number): Promise<boolean> {
  const other: ExtauthProtocol = protocol === 'generic' ? 'ejabberd' : 'generic'
  const probe = new ExternalBackend({host, program, baseDir, protocol: other, poolSize: 1, timeout: Math.min(timeout, 2000), log: silentAuthLog})
  try {
    await probe.ask(['isuser', PROBE_USER, host])
    return true
  } catch {
    return false
  } finally {
    await probe.close()
  }
}

/** Starts the program without sending anything: one that exits at once is broken before any protocol. */
function exitsAtStart(command: string, args: string[], wait: number): Promise<{code: number | null; signal: NodeJS.Signals | null; stderr: string} | undefined> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {stdio: ['pipe', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.on('error', () => resolve(undefined))
    const timer = setTimeout(() => {
      child.removeAllListeners('close')
      child.kill('SIGKILL')
      resolve(undefined)
    }, wait)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({code, signal, stderr: stderr.trim()})
    })
    child.stdin.on('error', () => {})
  })
}

export async function diagnoseExternal(input: DiagnoseInput): Promise<BackendDiagnosis> {
  const settings = input.config.forHost(input.host)
  const recorder = new Recorder()
  const jid = input.username === undefined ? undefined : `${input.username}@${settings.host}`
  const finish = (verdict: Parameters<Recorder['finish']>[2]) => recorder.finish('external', settings.host, verdict, jid)
  const protocol = settings.extauth_protocol
  const timeout = settings.extauth_timeout * 1000

  if (!settings.extauth_program) {
    recorder.add('configuration', 'configuration', fail('extauth_program is not set', undefined, 'set extauth_program to the path of the authentication program'))
    return finish('misconfigured')
  }

  const program = settings.extauth_program
  recorder.add('configuration', 'configuration', ok(`extauth_program ${program}, extauth_protocol ${protocol}, pool of ${settings.extauth_pool_size}, timeout ${settings.extauth_timeout} s`))
  const {command, args} = splitProgram(program, input.baseDir)

  // The file: present, executable, and not replaceable by others.
  const fileStep = await recorder.step('program', 'program', () => {
    let stat
    try {
      stat = statSync(command)
    } catch (error) {
      return fail(`${command} does not exist (${(error as NodeJS.ErrnoException).code})`, undefined, 'check extauth_program: use an absolute path to an existing program')
    }

    if (!stat.isFile()) return fail(`${command} is not a regular file`, undefined, 'point extauth_program at the program itself')
    try {
      accessSync(command, constants.X_OK)
    } catch {
      return fail(`${command} is not executable by this user (mode ${(stat.mode & 0o7777).toString(8).padStart(4, '0')})`, undefined, `chmod 755 ${command}`)
    }

    return ok(`${command} is an executable file (mode ${(stat.mode & 0o7777).toString(8).padStart(4, '0')}, owner uid ${stat.uid})`)
  })
  if (fileStep.status === 'fail') return finish('misconfigured')

  await recorder.step('program-permissions', 'program permissions', () => {
    const stat = statSync(command)
    if (stat.mode & 0o002) {
      return fail(
        `${command} is world-writable (mode ${(stat.mode & 0o7777).toString(8).padStart(4, '0')})`,
        'a security finding: any local user can replace the program and make it accept every password',
        `chmod o-w ${command}`,
      )
    }

    const directory = path.dirname(command)
    const dirStat = statSync(directory)
    if (dirStat.mode & 0o002 && !(dirStat.mode & 0o1000)) {
      return fail(`its directory ${directory} is world-writable without the sticky bit`, 'a security finding: any local user can replace the program', `move the program to a directory only root can write, or chmod o-w ${directory}`)
    }

    if (stat.mode & 0o020) return warn(`${command} is group-writable (mode ${(stat.mode & 0o7777).toString(8).padStart(4, '0')})`, 'members of its group can change what it accepts', `chmod g-w ${command}`)
    return ok('only its owner can change it')
  })

  const start = await recorder.step('start', 'program start', async () => {
    // A second: interpreters (perl, python, a shell) on a loaded host take hundreds of milliseconds to get going.
    const exited = await exitsAtStart(command, args, 1000)
    if (!exited) return ok('the program starts and waits for requests')
    const how = exited.signal ? `is killed by ${exited.signal}` : `exits with code ${exited.code}`
    return fail(
      `the program ${how} at start, before receiving any request${exited.stderr ? `; stderr: ${exited.stderr.split('\n').at(-1)}` : ''}`,
      'it exits at start',
      'run it by hand to see the error (a missing interpreter, module or file)',
    )
  })
  if (start.status === 'fail') return finish('unavailable')

  const backend = new ExternalBackend({host: settings.host, program, baseDir: input.baseDir, protocol, poolSize: 1, timeout, log: silentAuthLog, backoffMs: 10})
  let verdict: Parameters<Recorder['finish']>[2] = 'reachable'
  try {
    // The main exchange: the credentials given, or an isuser probe.
    const what = input.username !== undefined && input.password !== undefined ? `auth:${input.username}:${settings.host}:…` : `isuser:${PROBE_USER}:${settings.host}`
    const main = await recorder.step('exchange', `request ${what}`, async () => {
      try {
        if (input.username !== undefined && input.password !== undefined) {
          const outcome = await backend.ask(['auth', input.username, settings.host, input.password], [input.password])
          verdict = outcome ? 'accepted' : 'rejected'
          return outcome ? ok('the program answered 1: the password is accepted') : info('the program answered 0: the password is rejected')
        }

        const exists = await backend.ask(['isuser', PROBE_USER, settings.host])
        return exists ? warn(`the program says ${PROBE_USER} exists`, 'it answers 1 to a user that should not exist', 'check its isuser handling') : ok('the program answered isuser properly')
      } catch (error) {
        if (!(error instanceof PoolError)) throw error
        verdict = 'unavailable'
        const result = explain(error, protocol, timeout, what)
        // The operator's own password may be what breaks a naive script.
        if (error.detail.kind === 'exit' && input.password?.includes(':')) {
          return {...result, cause: 'the password contains ":", and the program probably splits the request on every ":"', fix: 'split into at most 4 fields (Python: line.split(":", 3); Perl: split(/:/, $line, 4))'}
        }

        return result
      }
    })

    if (main.status === 'fail') {
      if (/no reply|the reply/.test(main.detail)) {
        await recorder.step('protocol', 'protocol', async () =>
          (await otherProtocolAnswers(program, input.baseDir, protocol, settings.host, timeout))
            ? fail(
                `the program answers the ${protocol === 'generic' ? 'ejabberd' : 'generic'} protocol`,
                `a protocol mismatch: extauth_protocol is ${protocol}`,
                `set extauth_protocol: ${protocol === 'generic' ? 'ejabberd' : 'generic'}`,
              )
            : info(`the program does not answer the ${protocol === 'generic' ? 'ejabberd' : 'generic'} protocol either`),
        )
      }

      recorder.add('colon-password', 'password with ":"', skip('not sent: the basic exchange failed'))
      recorder.add('non-ascii-password', 'non-ASCII password', skip('not sent: the basic exchange failed'))
    } else {
      await recorder.step('isuser', 'second request', async () => {
        if (input.username === undefined) return skip('isuser already sent')
        try {
          const exists = await backend.ask(['isuser', input.username, settings.host])
          return ok(`isuser answered ${exists ? 1 : 0}`)
        } catch (error) {
          if (!(error instanceof PoolError)) throw error
          return explain(error, protocol, timeout, `isuser:${input.username}:${settings.host}`)
        }
      })

      for (const [id, title, password] of [
        ['colon-password', 'password with ":"', COLON_PROBE],
        ['non-ascii-password', 'non-ASCII password', NON_ASCII_PROBE],
      ] as const) {
        await recorder.step(id, title, async () => {
          try {
            const accepted = await backend.ask(['auth', PROBE_USER, settings.host, password], [password])
            return accepted
              ? fail(`the program accepted the wrong password ${JSON.stringify(password)} for a user that does not exist`, 'it mishandles such passwords', 'check how it splits and decodes the request')
              : ok(`a wrong password ${JSON.stringify(password)} was answered 0, as it should`)
          } catch (error) {
            if (!(error instanceof PoolError)) throw error
            const result = explain(error, protocol, timeout, `a password ${id === 'colon-password' ? 'containing ":"' : 'with non-ASCII characters'}`)
            if (id === 'colon-password') {
              return {...result, cause: 'it splits the request on every ":"; a password may contain ":"', fix: 'split into at most 4 fields (Python: line.split(":", 3); Perl: split(/:/, $line, 4))'}
            }

            if (error.detail.kind === 'timeout' && protocol === 'ejabberd') {
              return {...result, cause: 'it counts the length in characters instead of UTF-8 bytes, so it waits for bytes that never come', fix: 'read the request as bytes (binary mode) and decode UTF-8 after reading the announced number of bytes'}
            }

            return {...result, cause: 'it mishandles non-ASCII (UTF-8) passwords', fix: 'read the request as bytes and decode it as UTF-8'}
          }
        })
      }
    }
  } finally {
    const stderr = backend.processes().recentStderr()
    await backend.close()
    recorder.add(
      'stderr',
      'stderr',
      stderr.length > 0
        ? warn(`the program wrote on stderr: ${stderr.slice(-3).join(' | ')}`, 'the server logs these lines', 'keep stderr for real problems; never print passwords')
        : ok('nothing written on stderr'),
    )
  }

  return finish(verdict)
}
