/**
 * The control socket of a running server: a unix socket in the data
 * directory (mode 0600, created so from the start) speaking one JSON request
 * and one JSON reply per connection. The CLI uses it for stop, status,
 * reload and restart, to tell the server that an account changed
 * (`notifyServer`), so that caches drop and the account's sessions end, and
 * that a roster changed, so that its online sessions get a roster push.
 */
import net from 'node:net'
import path from 'node:path'
import {rmSync, unlinkSync, writeFileSync} from 'node:fs'

import type {Configuration} from '../config/index.js'
import type {RoomAdminRequest} from './muc/admin.js'
import {type ExitStatus, UnavailableError, XmppctlError, osErrorText} from '../errors.js'

export const CONTROL_SOCKET = 'control.sock'
export const PID_FILE = 'xmppctl.pid'
export const LOG_FILE = 'server.log'

export type ControlRequest =
  | {command: 'status'}
  /** `node`: one node of this machine's (xmppctl stop --node); without it, everything the control socket runs. */
  | {command: 'stop'; node?: string}
  | {command: 'reload'; node?: string}
  /** A supervisor of workers (cluster.workers) only: restarts one worker, or all of them one at a time (rolling). */
  | {command: 'restart'; node?: string}
  | {command: 'notify'; event: {type: 'user-deleted' | 'user-disabled' | 'password-changed'; jid: string}}
  /** The roster item of `contact` in `jid`'s roster was changed in the store: the server pushes it to online sessions. */
  | {command: 'roster-changed'; jid: string; contact: string}
  /** `xmppctl muc …`: room administration on the live rooms of mod_muc. */
  | {command: 'muc'; request: RoomAdminRequest}
  /** Federation's streams (xmppctl s2s list). */
  | {command: 's2s-list'}
  /** Closes the streams to and from a domain (xmppctl s2s close). */
  | {command: 's2s-close'; domain: string}

export type ControlReply = {ok: true; result: unknown} | {ok: false; error: {code: string; message: string; hint?: string; exitCode?: ExitStatus}}

/** Requests are tiny; anything bigger is not from our CLI. */
const MAX_REQUEST_BYTES = 64 * 1024

/** Writes this process's pid to data_dir/xmppctl.pid (0600), replacing a stale one; returns its path. */
export function writePidFile(dataDir: string): string {
  const file = path.join(dataDir, PID_FILE)
  rmSync(file, {force: true})
  writeFileSync(file, `${process.pid}\n`, {mode: 0o600, flag: 'wx'})
  return file
}

export function controlSocketPath(config: Configuration): string {
  return path.join(config.dataDir, CONTROL_SOCKET)
}

export class ServerNotRunningError extends UnavailableError {
  constructor(dataDir: string) {
    super(`no server is running for data directory ${dataDir}`, 'start it with "xmppctl start"')
    Object.assign(this, {code: 'server-not-running'})
  }
}

/** Sends one request to the running server; throws ServerNotRunningError when none listens. */
export async function controlRequest(config: Configuration, request: ControlRequest, timeoutMs = 15_000): Promise<unknown> {
  const file = controlSocketPath(config)
  const reply = await new Promise<ControlReply>((resolve, reject) => {
    const socket = net.connect(file)
    let data = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new UnavailableError(`the server did not answer on ${file} within ${timeoutMs / 1000} s`, 'check the server log (server.log in the data directory)'))
    }, timeoutMs)
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`))
    socket.on('data', (chunk: string) => (data += chunk))
    socket.on('end', () => {
      clearTimeout(timer)
      try {
        resolve(JSON.parse(data) as ControlReply)
      } catch {
        reject(new UnavailableError(`the server sent an unreadable answer on ${file}`, 'check the server log'))
      }
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') reject(new ServerNotRunningError(config.dataDir))
      else reject(new UnavailableError(`cannot reach the server on ${file}: ${osErrorText(error)}`, 'check the permissions of the data directory', error))
    })
  })
  if (!reply.ok) {
    if (reply.error.exitCode !== undefined && reply.error.code !== 'internal') throw new XmppctlError(reply.error.code, reply.error.message, {hint: reply.error.hint, exitCode: reply.error.exitCode})
    throw new UnavailableError(reply.error.message, reply.error.hint)
  }
  return reply.result
}

/**
 * Tells a running server that an account changed. A no-op (`notified:
 * false`) when no server runs for this data directory.
 */
export async function notifyServer(
  config: Configuration,
  event: {type: 'user-deleted' | 'user-disabled' | 'password-changed'; jid: string},
): Promise<{notified: boolean; closed?: number}> {
  try {
    const result = (await controlRequest(config, {command: 'notify', event}, 5000)) as {closed: number}
    return {notified: true, closed: result.closed}
  } catch (error) {
    if (error instanceof ServerNotRunningError) return {notified: false}
    throw error
  }
}

export type ControlHandler = (request: ControlRequest) => Promise<unknown>

/**
 * Listens on the control socket. A socket file left by a crashed server is
 * replaced; one that answers means another server runs on this data directory.
 */
export async function serveControl(config: Configuration, handler: ControlHandler): Promise<net.Server> {
  const file = controlSocketPath(config)
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(file)
    probe.on('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.on('error', () => resolve(false))
  })
  if (alive) throw new UnavailableError(`another server already runs for data directory ${config.dataDir}`, 'stop it with "xmppctl stop", or use another data_dir')
  try {
    unlinkSync(file)
  } catch {}

  const server = net.createServer((socket) => {
    let data = ''
    socket.setEncoding('utf8')
    socket.setTimeout(10_000, () => socket.destroy())
    socket.on('error', () => {})
    socket.on('data', (chunk: string) => {
      data += chunk
      if (data.length > MAX_REQUEST_BYTES) return socket.destroy()
      const newline = data.indexOf('\n')
      if (newline === -1) return
      let request: ControlRequest
      // The request is in: what it asks for (a rolling restart) may take longer than a client may take to ask.
      socket.setTimeout(0)
      try {
        request = JSON.parse(data.slice(0, newline)) as ControlRequest
      } catch {
        socket.end(`${JSON.stringify({ok: false, error: {code: 'bad-request', message: 'not JSON'}})}\n`)
        return
      }

      handler(request).then(
        (result) => socket.end(`${JSON.stringify({ok: true, result: result ?? null})}\n`),
        (error: unknown) => {
          const body = error && typeof error === 'object' && 'code' in error ? (error as {code: string; message: string; hint?: string; exitCode?: number}) : undefined
          // A refusal keeps its exit status (a room that does not exist is a usage error, not an unreachable server).
          const exitCode = error instanceof XmppctlError ? error.exitCode : undefined
          socket.end(`${JSON.stringify({ok: false, error: {code: body?.code ?? 'internal', message: body?.message ?? String(error), hint: body?.hint, exitCode}})}\n`)
        },
      )
    })
  })
  // The socket file is created 0600 by the umask in force at bind time.
  const previous = process.umask(0o177)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(file, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } finally {
    process.umask(previous)
  }

  return server
}

/**
 * `--node NAME` names a node this control socket does not run: a usage
 * error saying where it runs (Redis knows every node: `nodes`), or that the
 * cluster has no such node. `local`: the nodes it runs.
 */
export function foreignNodeError(name: string, local: readonly string[], nodes: ReadonlyArray<{node: string; health: string; pid?: number}> | undefined): XmppctlError {
  if (local.length === 0) return new XmppctlError('node-unknown', `--node ${name}: this server is not a node of a cluster (sm_db_type: internal)`, {hint: 'drop --node'})
  const here = `this machine runs ${local.join(', ')}`
  const known = nodes?.find((node) => node.node === name)
  if (known) {
    return new XmppctlError('node-elsewhere', `node ${name} runs elsewhere (${known.health}${known.pid === undefined ? '' : `, pid ${known.pid}`} on its own machine); ${here}`, {hint: `run the command on the machine of ${name}, with its configuration`})
  }

  const others = nodes?.map((node) => node.node)
  return new XmppctlError('node-unknown', `no node ${name} in the cluster${others && others.length > 0 ? ` (nodes: ${others.join(', ')})` : ''}; ${here}`, {hint: `name one of ${local.join(', ')}`})
}
