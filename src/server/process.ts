/**
 * Running the server as a process: the server itself, the control socket,
 * the pid file, signals; and starting it in the background from the CLI,
 * waiting until it listens or reporting why it could not.
 */
import {spawn} from 'node:child_process'
import {closeSync, openSync, readFileSync, rmSync} from 'node:fs'
import path from 'node:path'

import {type Configuration, loadConfig} from '../config/index.js'
import {DataDirectoryError, ExitCode, UnavailableError, XmppctlError, osErrorText} from '../errors.js'
import {processUserName} from '../process-user.js'
import {CONTROL_SOCKET, LOG_FILE, type ControlHandler, type ControlRequest, controlRequest, foreignNodeError, serveControl, writePidFile} from './control.js'
import type {LogLevelName} from '../config/schema.js'
import {JEMALLOC_CONF, activeAllocator, allocatorEnvironment, findJemalloc} from './allocator.js'
import {prepareDataDirectory} from './data-dir.js'
import {LogFile, type Logger, createLogger, logLevel} from './log.js'
import {type ServerOptions, type ServerStatus, XmppServer} from './server.js'

/** What a background child reports to the parent over IPC. */
export type ReadyMessage = {type: 'ready'; status: ServerStatus} | {type: 'error'; error: {code: string; message: string; hint?: string; exitCode: number}}

export interface RunningServer {
  server: XmppServer
  status: ServerStatus
  /** Resolves when the server has stopped (stop request or signal). */
  stopped: Promise<void>
  stop(): Promise<void>
}

/**
 * Starts the server with its control socket and pid file. `configFile` is
 * what reload re-reads (undefined: the built-in defaults, or ./xmppctl.yml).
 */
export async function runServer(config: Configuration, options: ServerOptions & {logger: Logger; configFile?: string}): Promise<RunningServer> {
  for (const warning of prepareDataDirectory(config.dataDir)) options.logger.warn(warning)
  const server = new XmppServer(config, options)
  await server.start()
  allocatorNote(config, options.logger)
  let resolveStopped!: () => void
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve))
  let pidFile: string | undefined
  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      control.close()
      await server.stop()
      rmSync(path.join(config.dataDir, CONTROL_SOCKET), {force: true})
      if (pidFile) rmSync(pidFile, {force: true})
      resolveStopped()
    })())

  const handle = serverControlHandler(server, {logger: options.logger, configFile: options.configFile, stop})

  let control: Awaited<ReturnType<typeof serveControl>>
  try {
    control = await serveControl(config, handle)
    pidFile = writePidFile(config.dataDir)
  } catch (error) {
    await server.stop()
    throw error
  }

  return {server, status: server.status(), stopped, stop}
}

export interface ServerControlOptions {
  logger: Logger
  /** What reload re-reads (undefined: the built-in defaults, or ./xmppctl.yml). */
  configFile?: string
  /** Stops the server and what runs it (control socket, pid file); called after the reply is sent. */
  stop: () => Promise<void>
  /** The configuration a reload applies, made from the file's (a worker keeps its node name). */
  reconfigure?: (config: Configuration) => Configuration
}

/**
 * What a server does with control requests: on its own control socket, or,
 * as a worker of a supervisor (cluster.workers), with those the supervisor
 * passes on.
 */
export function serverControlHandler(server: XmppServer, options: ServerControlOptions): ControlHandler {
  // `--node NAME`: this server is that node, or the request is not for it.
  const requireNode = async (node: string | undefined) => {
    if (node === undefined) return
    const cluster = await server.clusterStatus()
    if (cluster?.node === node) return
    throw foreignNodeError(node, cluster ? [cluster.node] : [], cluster?.nodes)
  }

  return async (request: ControlRequest): Promise<unknown> => {
    switch (request.command) {
      case 'status': {
        const cluster = await server.clusterStatus()
        return {...server.status(), ...(cluster ? {cluster} : {})}
      }

      case 'stop':
        await requireNode(request.node)
        setImmediate(() => void options.stop())
        return {stopping: true, pid: process.pid}
      case 'reload': {
        await requireNode(request.node)
        options.logger.info('reload requested')
        // The plugins loaded at start serve the new configuration too: a reload does not load code.
        const config = loadConfig(options.configFile, process.env, server.config.plugins)
        return server.reload(options.reconfigure ? options.reconfigure(config) : config)
      }

      case 'restart':
        throw new XmppctlError('not-supervisor', 'this server runs no workers: it restarts as a whole', {hint: 'use "xmppctl restart"'})
      case 'notify':
        return server.notify(request.event)
      case 'roster-changed':
        return server.rosterChanged(request.jid, request.contact)
      case 'muc':
        return server.roomAdmin(request.request)
      case 's2s-list':
        return server.s2sConnections()
      case 's2s-close':
        return server.s2sClose(request.domain)
      default:
        throw new XmppctlError('bad-request', `unknown control command ${JSON.stringify((request as {command: unknown}).command)}`)
    }
  }
}

/** Where the server logs: stderr in the foreground; in the background (`daemon`), data_dir/server.log, rotated by `log_rotate_size` and `log_rotate_count`. */
export function serverLogSink(config: Configuration, options: {daemon: boolean}): (line: string) => void {
  if (!options.daemon) return (line) => process.stderr.write(line)
  const {log_rotate_size: size, log_rotate_count: count} = config.settings
  const file = new LogFile(path.join(config.dataDir, LOG_FILE), {rotateSize: size === 'infinity' ? 0 : size, rotateCount: count})
  return (line) => file.write(line)
}

/** Says which allocator runs, and why not jemalloc when it was wanted (in the foreground, only the command line can preload it). */
function allocatorNote(config: Configuration, logger: Logger): void {
  const setting = config.settings.memory_allocator
  const active = activeAllocator()
  if (active === 'jemalloc' || setting === 'system') return logger.info(`memory allocator: ${active}`)
  const library = findJemalloc()
  if (library === undefined) return logger[setting === 'jemalloc' ? 'warn' : 'info']('memory allocator: system (libjemalloc2 is not installed)')
  if (setting === 'auto') return logger.info('memory allocator: system (the background server runs on jemalloc; see memory_allocator)')
  logger.warn(`memory allocator: system, not jemalloc: in the foreground, start with LD_PRELOAD=${library} MALLOC_CONF=${JEMALLOC_CONF}`)
}

/**
 * The server's logger at `loglevel`, or `level` (`--log-level`) when given:
 * on stderr in the foreground; in the background (`daemon`), in
 * data_dir/server.log, rotated by `log_rotate_size` and `log_rotate_count`.
 */
export function serverLogger(config: Configuration, options: {daemon: boolean; level?: LogLevelName; tag?: string}): Logger {
  return createLogger(logLevel(options.level ?? config.settings.loglevel), serverLogSink(config, options), options.tag === undefined ? {} : {tag: options.tag})
}

export interface BackgroundStart {
  pid: number
  status: ServerStatus
  log: string
  /** What is unsafe in the setup, served anyway (the server's log has them too). */
  warnings: string[]
}

/**
 * Starts `bin/run.js start --foreground` detached, and waits for it to
 * listen (or to say why not). The child writes and rotates
 * `data_dir/server.log` itself (serverLogger); its stdout and stderr are
 * appended there too, for what Node itself prints (after a rotation, that
 * lands in server.log.1).
 */
export async function startBackground(config: Configuration, options: {bin: string; configFile?: string; logLevel?: LogLevelName; timeoutMs?: number}): Promise<BackgroundStart> {
  try {
    await controlRequest(config, {command: 'status'}, 3000)
    throw new XmppctlError('server-running', `a server is already running for data directory ${config.dataDir}`, {hint: 'stop it with "xmppctl stop", or use "xmppctl restart"'})
  } catch (error) {
    if (error instanceof XmppctlError && error.code === 'server-running') throw error
  }

  // memory_allocator: jemalloc without the library is refused before anything is created.
  const {env} = allocatorEnvironment(config.settings.memory_allocator, process.env, findJemalloc())
  const warnings = prepareDataDirectory(config.dataDir)
  const log = path.join(config.dataDir, LOG_FILE)
  let fd: number
  try {
    fd = openSync(log, 'a', 0o600)
  } catch (error) {
    const user = processUserName()
    throw new DataDirectoryError('data-dir-unwritable', `cannot write server log ${log} as user ${user}: ${osErrorText(error)}`, `run xmppctl as the user that owns it, or give the data directory to ${user}: chown -R ${user} ${config.dataDir}`, error)
  }

  const args = [options.bin, 'start', '--foreground', ...(options.configFile ? ['--config', options.configFile] : []), ...(options.logLevel ? ['--log-level', options.logLevel] : [])]
  const child = spawn(process.execPath, args, {detached: true, stdio: ['ignore', fd, fd, 'ipc'], env: {...env, XMPPCTL_DAEMON: '1'}})
  closeSync(fd)
  try {
    const message = await new Promise<ReadyMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new UnavailableError(`the server did not start listening within ${(options.timeoutMs ?? 60_000) / 1000} s`, `see ${log}`)), options.timeoutMs ?? 60_000)
      child.once('message', (received) => {
        clearTimeout(timer)
        resolve(received as ReadyMessage)
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new UnavailableError(`the server exited (status ${code}) before listening: ${lastLines(log)}`, `see ${log}`))
      })
      child.once('error', (error) => {
        clearTimeout(timer)
        reject(new UnavailableError(`cannot start the server: ${osErrorText(error)}`, undefined, error))
      })
    })
    if (message.type === 'error') {
      throw new XmppctlError(message.error.code, message.error.message, {hint: message.error.hint, exitCode: message.error.exitCode as 0 | 1 | 2 | 3})
    }

    return {pid: child.pid!, status: message.status, log, warnings}
  } finally {
    child.removeAllListeners()
    if (child.connected) child.disconnect()
    child.unref()
  }
}

function lastLines(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ')
  } catch {
    return '(no log)'
  }
}

/** Waits until process `pid` has exited. */
export async function waitForExit(pid: number, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0)
    } catch {
      return true
    }

    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  return false
}

export {ExitCode}
