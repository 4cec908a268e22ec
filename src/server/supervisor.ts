/**
 * Several nodes on one machine (`cluster: {node: NAME, workers: N | auto}`,
 * DESIGN.md "Beyond one machine"): the supervisor is the process `xmppctl
 * start` runs, a `node:cluster` primary. It forks N workers (src/server/
 * worker.ts), each the normal server as cluster node NAME-k; on Linux the
 * primary accepts on the listening ports and hands connections to the
 * workers in turn, so they share the ports (Node 20 has no reusePort).
 *
 * The supervisor owns the pid file, the control socket and the log file:
 * the CLI talks to it, it passes requests on to its workers over IPC, and
 * workers send it their log lines, which only it writes (and rotates). A
 * worker that exits without being asked is started again, after a delay
 * that doubles at each failure up to WORKER_BACKOFF_MAX_MS; one stopped with
 * `xmppctl stop --node` stays stopped until `xmppctl restart` (with --node,
 * or without: a rolling restart starts it too), as an ejabberd node does.
 *
 * The supervisor needs no Redis of its own: what it shows of the cluster
 * comes from a worker's view of it.
 */
import cluster, {type Worker} from 'node:cluster'
import {rmSync} from 'node:fs'
import type net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {type Configuration, type Settings, loadConfig} from '../config/index.js'
import {ExitCode, UnavailableError, XmppctlError} from '../errors.js'
import {activeAllocator, allocatorEnvironment, findJemalloc} from './allocator.js'
import type {ClusterNodeStatus, ClusterStatus} from './cluster.js'
import {CONTROL_SOCKET, type ControlReply, type ControlRequest, foreignNodeError, serveControl, writePidFile} from './control.js'
import {prepareDataDirectory} from './data-dir.js'
import type {Logger} from './log.js'
import type {ListenerStatus, ServerStatus} from './server.js'

/** The worker's cluster node name, set by the supervisor when it forks the worker. */
export const WORKER_NODE_ENV = 'XMPPCTL_WORKER_NODE'
/** Set when the supervisor saw the previous process of this node exit: the worker takes its name over in Redis. */
export const WORKER_TAKEOVER_ENV = 'XMPPCTL_WORKER_TAKEOVER'

/** How long a worker may take to listen. */
const WORKER_START_MS = 60_000
/** How long a worker may take to stop gracefully before it is killed. */
const WORKER_STOP_MS = 10_000
/** The first delay before a worker that exited is started again; it doubles at each failure, up to the maximum. */
const WORKER_BACKOFF_MS = 500
const WORKER_BACKOFF_MAX_MS = 30_000
/** A worker that ran this long before it exited starts again after the first delay. */
const WORKER_STABLE_MS = 30_000

/** Keys a rolling restart cannot apply worker by worker: where the supervisor keeps its files, the ports it holds, its workers. */
const SUPERVISOR_KEYS: ReadonlyArray<keyof Settings> = ['data_dir', 'listen', 'cluster']

/** What a worker tells its supervisor. */
export type WorkerMessage =
  | {type: 'log'; line: string}
  | {type: 'ready'; status: ServerStatus}
  | {type: 'error'; error: WorkerError}
  | {type: 'reply'; id: number; reply: ControlReply}
  /** Stopped as asked: it exits now. */
  | {type: 'stopped'}

/** What the supervisor tells a worker: a control request to answer. */
export type SupervisorMessage = {type: 'request'; id: number; request: ControlRequest}

export interface WorkerError {
  code: string
  message: string
  hint?: string
  exitCode: number
}

/** This process's node name when it is a worker of a supervisor; undefined otherwise. */
export function workerNode(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return cluster.isWorker ? env[WORKER_NODE_ENV] || undefined : undefined
}

/** How many workers the configuration asks for on this machine: undefined for one process and no supervisor (workers: 1). */
export function workerCount(config: Configuration, cores = os.availableParallelism()): number | undefined {
  const workers = config.settings.cluster?.workers ?? 1
  if (workers === 'auto') return cores
  return workers > 1 ? workers : undefined
}

export type WorkerState = 'starting' | 'running' | 'stopping' | 'stopped' | 'waiting'

export interface WorkerStatus {
  node: string
  /** waiting: exited without being asked, started again after a delay; stopped: by `xmppctl stop --node`. */
  state: WorkerState
  pid?: number
  startedAt?: string
  /** Times it exited without being asked since the supervisor started. */
  restarts: number
  sessions?: number
  connections?: number
}

/** `xmppctl status` of a supervisor: the server's fields over all its workers, and each worker. */
export interface SupervisorStatus extends Omit<ServerStatus, 'cluster'> {
  supervisor: true
  workers: WorkerStatus[]
  /** Every node Redis knows, those of this machine marked `here`. */
  cluster?: Omit<ClusterStatus, 'nodes'> & {nodes: Array<ClusterNodeStatus & {here?: true}>}
}

export interface ReloadResult {
  certificates: string[]
  listenersChanged: boolean
  restartNeeded: string[]
  /** The nodes reloaded. */
  nodes?: string[]
}

export interface WorkerRestart {
  node: string
  previousPid?: number
  pid: number
}

export interface SupervisorOptions {
  count: number
  logger: Logger
  /** Where worker log lines go, as they come (tagged with their node). */
  sink: (line: string) => void
  /** The CLI entry point (bin/run.js) and its arguments: a worker runs `start --foreground` as the supervisor did. */
  exec: string
  args: string[]
  configFile?: string
}

interface Slot {
  node: string
  worker?: Worker
  pid?: number
  state: WorkerState
  startedAt: number
  restarts: number
  /** Failures in a row, for the delay before the next start. */
  failures: number
  /** Forked once already: the next one takes the name over. */
  forked: boolean
  /** Stopped by `xmppctl stop --node`: not started again until restarted. */
  held: boolean
  /** Counts forks, so that an old start's outcome does not act on a newer one. */
  generation: number
  timer?: NodeJS.Timeout
  exited: Promise<void>
  status?: ServerStatus
}

interface PendingRequest {
  worker: Worker
  resolve(value: unknown): void
  reject(error: Error): void
  timer: NodeJS.Timeout
}

function exitText(code: number | null, signal: string | null): string {
  return signal ? `killed by ${signal}` : `status ${code}`
}

function errorOf(error: {code: string; message: string; hint?: string; exitCode?: number}): XmppctlError {
  if (error.exitCode !== undefined && error.code !== 'internal') return new XmppctlError(error.code, error.message, {hint: error.hint, exitCode: error.exitCode as 0 | 1 | 2 | 3})
  return new UnavailableError(error.message, error.hint)
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

export class Supervisor {
  private readonly slots: Slot[]
  private readonly logger: Logger
  private readonly pending = new Map<number, PendingRequest>()
  private nextId = 0
  private readonly startedAt = Date.now()
  private listeners: ListenerStatus[] = []
  private control: net.Server | undefined
  private pidFile: string | undefined
  private ready = false
  private stopping: Promise<void> | undefined
  /** stop --node, reload and restart run one at a time. */
  private queue: Promise<unknown> = Promise.resolve()
  private resolveStopped!: () => void
  /** Resolves when the supervisor and its workers have stopped. */
  readonly stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve))

  constructor(
    private readonly config: Configuration,
    private readonly options: SupervisorOptions,
  ) {
    this.logger = options.logger
    const base = config.settings.cluster!.node!
    this.slots = Array.from({length: options.count}, (_, index) => ({node: `${base}-${index + 1}`, state: 'stopped', startedAt: 0, restarts: 0, failures: 0, forked: false, held: false, generation: 0, exited: Promise.resolve()}))
    cluster.setupPrimary({exec: options.exec, args: options.args})
  }

  get nodes(): string[] {
    return this.slots.map((slot) => slot.node)
  }

  /**
   * Takes the control socket (refused if another server runs on this data
   * directory), starts the first worker, then the others together (the
   * first creates what the others then find: a self-signed certificate, the
   * store's schema), and writes the pid file once every worker listens. A
   * worker that cannot start fails the whole start with its error.
   */
  async start(): Promise<SupervisorStatus> {
    for (const warning of prepareDataDirectory(this.config.dataDir)) this.logger.warn(warning)
    this.control = await serveControl(this.config, (request) => this.handle(request))
    this.logger.info(`supervisor of ${this.slots.length} workers (${this.nodes.join(', ')}), pid ${process.pid}`)
    try {
      const [first, ...others] = this.slots
      this.listeners = (await this.fork(first)).listeners
      const started = await Promise.allSettled(others.map((slot) => this.fork(slot)))
      const failed = started.find((result) => result.status === 'rejected')
      if (failed) throw failed.reason
    } catch (error) {
      await this.stop()
      throw error
    }

    if (this.stopping) throw new UnavailableError('stopped while starting', 'see server.log')
    this.pidFile = writePidFile(this.config.dataDir)
    this.ready = true
    return this.status()
  }

  /** Stops every worker gracefully (killing those that take longer than WORKER_STOP_MS), then the control socket and pid file go. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.ready) this.logger.info('stopping every worker')
      await Promise.all(this.slots.map((slot) => this.stopWorker(slot)))
      this.control?.close()
      rmSync(path.join(this.config.dataDir, CONTROL_SOCKET), {force: true})
      if (this.pidFile) rmSync(this.pidFile, {force: true})
      this.logger.info('stopped')
      this.logger.flush?.()
      this.resolveStopped()
    })()
    return this.stopping
  }

  // ---- workers ------------------------------------------------------------

  /** Forks the worker of `slot`; settles when it listens, or with the error that stopped it. */
  private fork(slot: Slot): Promise<ServerStatus> {
    // Workers get the allocator a background server gets, in the foreground too: they are forked, so it can be chosen here.
    const {LD_PRELOAD, MALLOC_CONF} = allocatorEnvironment(this.config.settings.memory_allocator, process.env, findJemalloc()).env
    const allocator = LD_PRELOAD === undefined ? {} : {LD_PRELOAD, ...(MALLOC_CONF === undefined ? {} : {MALLOC_CONF})}
    const worker = cluster.fork({...allocator, [WORKER_NODE_ENV]: slot.node, [WORKER_TAKEOVER_ENV]: slot.forked ? '1' : '', XMPPCTL_DAEMON: ''})
    slot.forked = true
    slot.worker = worker
    slot.pid = worker.process.pid
    slot.state = 'starting'
    slot.status = undefined
    slot.generation++
    let exited!: () => void
    slot.exited = new Promise((resolve) => (exited = resolve))
    return new Promise((resolve, reject) => {
      let listening = false
      let failure: Error | undefined
      const timer = setTimeout(() => {
        failure = new UnavailableError(`worker ${slot.node} did not start listening within ${WORKER_START_MS / 1000} s`, 'see server.log in the data directory')
        worker.kill('SIGKILL')
      }, WORKER_START_MS)
      worker.on('message', (received: WorkerMessage) => {
        switch (received?.type) {
          case 'log': {
            this.options.sink(received.line)
            return
          }

          case 'ready': {
            listening = true
            clearTimeout(timer)
            slot.state = 'running'
            slot.startedAt = Date.now()
            slot.status = received.status
            resolve(received.status)
            return
          }

          case 'error': {
            // It exits next: the start fails then.
            failure = errorOf(received.error)
            return
          }

          case 'reply': {
            this.replied(received)
          }
        }
      })
      worker.on('error', () => {})
      worker.on('exit', (code: number | null, signal: string | null) => {
        clearTimeout(timer)
        for (const [id, request] of this.pending) {
          if (request.worker !== worker) continue
          this.pending.delete(id)
          clearTimeout(request.timer)
          request.reject(new UnavailableError(`worker ${slot.node} exited (${exitText(code, signal)}) before it answered`, 'see server.log in the data directory'))
        }

        exited()
        if (slot.worker !== worker) return
        slot.worker = undefined
        const asked = slot.state === 'stopping' || this.stopping !== undefined
        slot.state = 'stopped'
        if (!listening) {
          reject(failure ?? new UnavailableError(`worker ${slot.node} exited (${exitText(code, signal)}) before listening`, 'see server.log in the data directory'))
          return
        }

        if (!asked) this.crashed(slot, code, signal)
      })
    })
  }

  /** A worker exited without being asked: it starts again after the backoff delay. */
  private crashed(slot: Slot, code: number | null, signal: string | null): void {
    slot.restarts++
    if (Date.now() - slot.startedAt >= WORKER_STABLE_MS) slot.failures = 0
    this.startLater(slot, `worker ${slot.node} (pid ${slot.pid}) exited unexpectedly (${exitText(code, signal)})`)
  }

  private startLater(slot: Slot, why: string): void {
    if (this.stopping || slot.held) return
    const delay = Math.min(WORKER_BACKOFF_MS * 2 ** slot.failures, WORKER_BACKOFF_MAX_MS)
    slot.failures++
    slot.state = 'waiting'
    this.logger.error(`${why}; starting it again in ${delay / 1000} s`)
    slot.timer = setTimeout(() => {
      slot.timer = undefined
      if (this.stopping || slot.held || slot.state !== 'waiting') return
      const generation = slot.generation + 1
      this.fork(slot).then(
        (status) => this.logger.info(`worker ${slot.node} started again (pid ${status.pid})`),
        (error: unknown) => {
          if (slot.generation === generation && slot.state === 'stopped') this.startLater(slot, `worker ${slot.node} could not start: ${message(error)}`)
        },
      )
    }, delay)
  }

  /** Stops the worker of `slot` (a start in progress too); returns the pid it had. */
  private async stopWorker(slot: Slot): Promise<number | undefined> {
    clearTimeout(slot.timer)
    slot.timer = undefined
    const {worker} = slot
    if (!worker) {
      slot.state = 'stopped'
      return undefined
    }

    const pid = slot.pid
    const starting = slot.state === 'starting'
    slot.state = 'stopping'
    const kill = setTimeout(() => worker.kill('SIGKILL'), WORKER_STOP_MS)
    // A worker still starting answers no request yet; SIGTERM ends it.
    if (starting) worker.kill('SIGTERM')
    else this.send(worker, slot.node, {command: 'stop'}, WORKER_STOP_MS).catch(() => worker.kill('SIGTERM'))
    await slot.exited
    clearTimeout(kill)
    return pid
  }

  /** Stops the worker of `slot` if it runs, starts a new one, and waits until it listens (it registered in Redis before). */
  private async restartWorker(slot: Slot): Promise<WorkerRestart> {
    slot.held = false
    const previousPid = await this.stopWorker(slot)
    if (this.stopping) throw new UnavailableError('the server is stopping', 'start it again with "xmppctl start"')
    const generation = slot.generation + 1
    try {
      const status = await this.fork(slot)
      slot.failures = 0
      this.logger.info(`worker ${slot.node} restarted (pid ${previousPid ?? '-'} → ${status.pid})`)
      return {node: slot.node, ...(previousPid === undefined ? {} : {previousPid}), pid: status.pid}
    } catch (error) {
      if (slot.generation === generation && slot.state === 'stopped') this.startLater(slot, `worker ${slot.node} could not start: ${message(error)}`)
      const failure = error instanceof XmppctlError ? error : new UnavailableError(message(error))
      throw new XmppctlError(failure.code, `worker ${slot.node} did not start: ${failure.message}`, {hint: `the supervisor tries again by itself; see server.log in the data directory${failure.hint ? `; ${failure.hint}` : ''}`, exitCode: failure.exitCode})
    }
  }

  private send(worker: Worker, node: string, request: ControlRequest, timeoutMs = 15_000): Promise<unknown> {
    const id = ++this.nextId
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new UnavailableError(`worker ${node} did not answer within ${timeoutMs / 1000} s`, 'see server.log in the data directory'))
      }, timeoutMs)
      this.pending.set(id, {worker, resolve, reject, timer})
      worker.send({type: 'request', id, request} satisfies SupervisorMessage)
    })
  }

  private replied(received: {id: number; reply: ControlReply}): void {
    const request = this.pending.get(received.id)
    if (!request) return
    this.pending.delete(received.id)
    clearTimeout(request.timer)
    if (received.reply.ok) request.resolve(received.reply.result)
    else request.reject(errorOf(received.reply.error))
  }

  /** A control request to the worker of `slot`, which must be running. */
  private request(slot: Slot, request: ControlRequest, timeoutMs?: number): Promise<unknown> {
    if (!slot.worker || slot.state !== 'running') return Promise.reject(new UnavailableError(`worker ${slot.node} is ${slot.state}`, `"xmppctl restart --node ${slot.node}" starts it`))
    return this.send(slot.worker, slot.node, request, timeoutMs)
  }

  private running(): Slot[] {
    return this.slots.filter((slot) => slot.state === 'running')
  }

  /** A running worker, for requests any of them can answer for the cluster (account events go to every node through Redis). */
  private anyRunning(): Slot {
    const slot = this.running()[0]
    if (!slot) throw new UnavailableError(`none of the workers (${this.nodes.join(', ')}) is running`, 'see "xmppctl status" and server.log; "xmppctl restart" starts them')
    return slot
  }

  /** The worker named `node`, or an error saying where that node runs. */
  private async local(node: string): Promise<Slot> {
    const slot = this.slots.find((candidate) => candidate.node === node)
    if (slot) return slot
    const status = this.running()[0] ? ((await this.request(this.running()[0], {command: 'status'}, 5000).catch(() => undefined)) as ServerStatus | undefined) : undefined
    throw foreignNodeError(node, this.nodes, status?.cluster?.nodes)
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task)
    this.queue = run.catch(() => {})
    return run
  }

  // ---- control requests ---------------------------------------------------

  private async handle(request: ControlRequest): Promise<unknown> {
    if (request.command === 'status') return this.status()
    if (request.command === 'stop' && request.node === undefined) {
      setImmediate(() => void this.stop())
      return {stopping: true, pid: process.pid, workers: this.slots.filter((slot) => slot.pid !== undefined && slot.worker).map((slot) => ({node: slot.node, pid: slot.pid}))}
    }

    if (this.stopping) throw new UnavailableError('the server is stopping', 'start it again with "xmppctl start"')
    if (!this.ready) throw new UnavailableError('the server is still starting', 'try again in a moment')
    switch (request.command) {
      case 'stop': {
        const slot = await this.local(request.node!)
        return this.serial(() => this.stopNode(slot))
      }

      case 'reload': {
        const slots = request.node === undefined ? undefined : [await this.local(request.node)]
        return this.serial(() => this.reload(slots))
      }

      case 'restart': {
        const slot = request.node === undefined ? undefined : await this.local(request.node)
        return this.serial<unknown>(async () => {
          if (!slot) return this.rolling()
          // A file with problems would stop a worker that then cannot start: it stops none.
          loadConfig(this.options.configFile, process.env, this.config.plugins)
          return this.restartWorker(slot)
        })
      }

      case 's2s-list': {
        const lists = await Promise.all(this.running().map((slot) => this.request(slot, request) as Promise<unknown[]>))
        return lists.flat()
      }

      case 's2s-close': {
        const replies = await Promise.all(this.running().map((slot) => this.request(slot, request) as Promise<{closed: number}>))
        return {closed: replies.reduce((sum, reply) => sum + reply.closed, 0)}
      }

      default:
        // notify, roster-changed, muc: one node acts for the cluster.
        return this.request(this.anyRunning(), request)
    }
  }

  private async stopNode(slot: Slot): Promise<{stopped: boolean; node: string; pid?: number}> {
    if (!slot.worker && slot.state !== 'waiting') return {stopped: false, node: slot.node}
    if (this.slots.every((other) => other === slot || other.held || (!other.worker && other.state !== 'waiting'))) {
      throw new XmppctlError('last-worker', `worker ${slot.node} is the last one running on this machine`, {hint: '"xmppctl stop" stops the server'})
    }

    slot.held = true
    const pid = await this.stopWorker(slot)
    this.logger.info(`worker ${slot.node} stopped; "xmppctl restart --node ${slot.node}" starts it again`)
    return {stopped: true, node: slot.node, ...(pid === undefined ? {} : {pid})}
  }

  /** Every running worker (or those of `only`) re-reads the configuration; a file with problems reloads none. */
  private async reload(only?: Slot[]): Promise<ReloadResult> {
    loadConfig(this.options.configFile, process.env, this.config.plugins)
    const slots = only ?? this.running()
    this.logger.info(`reload of ${slots.map((slot) => slot.node).join(', ')} requested`)
    const results: ReloadResult[] = []
    for (const settled of await Promise.allSettled(slots.map((slot) => this.request(slot, {command: 'reload'}, 60_000) as Promise<ReloadResult>))) {
      if (settled.status === 'rejected') throw settled.reason
      results.push(settled.value)
    }

    return {
      certificates: results[0]?.certificates ?? [],
      listenersChanged: results.some((result) => result.listenersChanged),
      restartNeeded: [...new Set(results.flatMap((result) => result.restartNeeded))],
      nodes: slots.map((slot) => slot.node),
    }
  }

  /**
   * A rolling restart: one worker at a time, the next once the new one
   * listens; the others keep the ports open meanwhile. The configuration is
   * checked first; changes to what the supervisor itself holds (ports, data
   * directory, workers) cannot roll, and are refused with
   * `restart-stop-needed`: the CLI then stops and starts everything.
   */
  private async rolling(): Promise<{rolling: true; pid: number; workers: WorkerRestart[]}> {
    const fresh = loadConfig(this.options.configFile, process.env, this.config.plugins)
    const changed = SUPERVISOR_KEYS.filter((key) => JSON.stringify(this.config.settings[key]) !== JSON.stringify(fresh.settings[key]))
    if (changed.length > 0 || fresh.settings.sm_db_type !== 'redis') {
      throw new XmppctlError('restart-stop-needed', `changes to ${changed.join(', ') || 'sm_db_type'} cannot be applied one worker at a time`, {hint: 'stop the server and start it again', exitCode: ExitCode.usage})
    }

    this.logger.info(`rolling restart of ${this.nodes.join(', ')}`)
    const restarted: WorkerRestart[] = []
    for (const slot of this.slots) {
      try {
        restarted.push(await this.restartWorker(slot))
      } catch (error) {
        const failure = error instanceof XmppctlError ? error : new UnavailableError(message(error))
        throw new XmppctlError(failure.code, `rolling restart stopped after ${restarted.length} of ${this.slots.length} workers: ${failure.message}`, {hint: failure.hint, exitCode: failure.exitCode})
      }
    }

    this.logger.info('rolling restart done')
    return {rolling: true, pid: process.pid, workers: restarted}
  }

  /** The supervisor's status: the server's fields summed over the running workers, each worker, and the cluster as Redis sees it. */
  async status(): Promise<SupervisorStatus> {
    const answers = await Promise.all(
      this.slots.map(async (slot) => (slot.state === 'running' ? ((await this.request(slot, {command: 'status'}, 5000).catch(() => undefined)) as ServerStatus | undefined) : undefined)),
    )
    const statuses = answers.filter((status): status is ServerStatus => status !== undefined)
    const sessions: Record<string, number> = Object.fromEntries(this.config.hosts.map((host) => [host, 0]))
    for (const status of statuses) for (const [host, count] of Object.entries(status.sessions)) sessions[host] = (sessions[host] ?? 0) + count
    const latest = <T extends {until: string}>(entries: T[], key: (entry: T) => string) => [...new Map(entries.sort((a, b) => a.until.localeCompare(b.until)).map((entry) => [key(entry), entry])).values()].reverse().slice(0, 50)
    const here = new Set(this.nodes)
    const cluster = statuses.find((status) => status.cluster)?.cluster
    const own = process.memoryUsage()
    const kib = (bytes: number) => Math.round(bytes / 1024)
    const sum = (key: 'rssKiB' | 'heapTotalKiB' | 'heapUsedKiB' | 'externalKiB', mine: number) => statuses.reduce((total, status) => total + (status.memory?.[key] ?? 0), kib(mine))
    return {
      running: true,
      supervisor: true,
      pid: process.pid,
      uptime: Math.round((Date.now() - this.startedAt) / 1000),
      startedAt: new Date(this.startedAt).toISOString(),
      config: this.config.file ?? null,
      dataDir: this.config.dataDir,
      listeners: this.listeners,
      sessions,
      connections: statuses.reduce((sum, status) => sum + status.connections, 0),
      s2s: statuses.reduce((sum, status) => sum + status.s2s, 0),
      bans: latest(statuses.flatMap((status) => status.bans ?? []), (ban) => ban.address),
      restrictedAccounts: latest(statuses.flatMap((status) => status.restrictedAccounts ?? []), (entry) => entry.account),
      // The supervisor's and its workers' together; the allocator is the workers'.
      memory: {
        allocator: statuses[0]?.memory?.allocator ?? activeAllocator(),
        rssKiB: sum('rssKiB', own.rss),
        heapTotalKiB: sum('heapTotalKiB', own.heapTotal),
        heapUsedKiB: sum('heapUsedKiB', own.heapUsed),
        externalKiB: sum('externalKiB', own.external),
      },
      workers: this.slots.map((slot, index) => {
        const status = answers[index]
        return {
          node: slot.node,
          state: slot.state,
          ...(slot.worker && slot.pid !== undefined ? {pid: slot.pid} : {}),
          ...(slot.state === 'running' ? {startedAt: new Date(slot.startedAt).toISOString()} : {}),
          restarts: slot.restarts,
          ...(status ? {sessions: Object.values(status.sessions).reduce((sum, count) => sum + count, 0), connections: status.connections} : {}),
        }
      }),
      ...(cluster ? {cluster: {...cluster, node: this.config.settings.cluster!.node!, nodes: cluster.nodes.map((node) => (here.has(node.node) ? {...node, here: true as const} : node))}} : {}),
    }
  }
}
