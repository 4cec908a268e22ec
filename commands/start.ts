import {Flags} from '@oclif/core'
import path from 'node:path'

import {BaseCommand} from '../src/cli/base-command.js'
import {renderError} from '../src/cli/base-command.js'
import {LOG_LEVEL_NAMES, type LogLevelName} from '../src/config/schema.js'
import type {ServerStatus} from '../src/server/server.js'
import type {WorkerStatus} from '../src/server/supervisor.js'

export interface StartResult {
  pid: number
  foreground: boolean
  listeners: ServerStatus['listeners']
  log?: string
  /** With cluster.workers: each worker's node and pid (pid is the supervisor's). */
  workers?: Array<{node: string; pid: number}>
}

function describeListeners(listeners: ServerStatus['listeners']): string {
  return listeners.map((listener) => `${listener.ip}:${listener.port} (${listener.tls ? 'direct TLS' : `STARTTLS ${listener.starttls}`})`).join(', ')
}

function describeWorkers(workers: WorkerStatus[] | undefined): string {
  return workers ? `, supervisor of ${workers.map((worker) => `${worker.node} pid ${worker.pid}`).join(', ')}` : ''
}

export default class Start extends BaseCommand<StartResult> {
  static description = `Start the bundled XMPP server

In the background by default: waits until the server listens (or says why it
could not: port in use, certificate missing, bad configuration), writes
xmppctl.pid in the data directory and returns; logs go to server.log there.
With --foreground it stays attached and logs to stderr; Ctrl-C stops it.
Without a configuration file it serves localhost with SQLite under ./data, a
self-signed certificate generated on first start, and c2s on 5222 (STARTTLS)
and 5223 (direct TLS).

With cluster.workers other than 1 (auto: one per core), it runs a supervisor
that holds the ports, the pid file and the control socket, and one worker
process per node (NAME-1 … NAME-N) sharing the ports; it returns once every
worker listens, and a worker that cannot start fails the start with its
error. A worker that exits is started again (after 0.5 s, doubling up to 30 s).`

  static examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --foreground',
    '<%= config.bin %> <%= command.id %> --config /etc/xmppctl/xmppctl.yml',
    '<%= config.bin %> <%= command.id %> --json',
  ]

  static flags = {
    foreground: Flags.boolean({description: 'stay attached; log to stderr'}),
    'log-level': Flags.string({description: 'what the server logs (default: loglevel in the configuration, info)', options: [...LOG_LEVEL_NAMES]}),
  }

  async run(): Promise<StartResult> {
    const {flags: f} = await this.parse(Start)
    const level = f['log-level'] as LogLevelName | undefined
    const {workerNode} = await import('../src/server/supervisor.js')
    const node = workerNode()
    if (node) return this.runWorker(node, level)
    const config = await this.loadConfiguration()
    const configFile = config.file
    const bin = path.join(this.config.root, 'bin', 'run.js')
    if (!f.foreground) {
      const {startBackground} = await import('../src/server/process.js')
      const started = await startBackground(config, {bin, configFile, logLevel: level})
      for (const warning of started.warnings) this.note(warning)
      const {workers} = started.status as {workers?: WorkerStatus[]}
      this.log(`started xmppctl server (pid ${started.pid}${describeWorkers(workers)}) on ${describeListeners(started.status.listeners)}; log: ${started.log}`)
      return {pid: started.pid, foreground: false, listeners: started.status.listeners, log: started.log, ...(workers ? {workers: workers.map(({node, pid}) => ({node, pid: pid!}))} : {})}
    }

    const {runServer, serverLogSink} = await import('../src/server/process.js')
    const {createLogger, logLevel} = await import('../src/server/log.js')
    const {Supervisor, workerCount} = await import('../src/server/supervisor.js')
    const daemon = process.env.XMPPCTL_DAEMON === '1' && typeof process.send === 'function'
    const count = workerCount(config)
    const sink = serverLogSink(config, {daemon})
    // With workers, the supervisor's own lines are tagged as theirs are (with their node).
    const logger = createLogger(logLevel(level ?? config.settings.loglevel), sink, count === undefined ? {} : {tag: 'supervisor'})
    let running: {status: ServerStatus & {workers?: WorkerStatus[]}; stopped: Promise<void>; stop(): Promise<void>}
    try {
      if (count === undefined) {
        running = await runServer(config, {logger, configFile})
      } else {
        const args = ['start', '--foreground', ...(configFile ? ['--config', configFile] : []), ...(level ? ['--log-level', level] : [])]
        const supervisor = new Supervisor(config, {count, logger, sink, exec: bin, args, configFile})
        const status = await supervisor.start()
        running = {status: status as ServerStatus & {workers: WorkerStatus[]}, stopped: supervisor.stopped, stop: () => supervisor.stop()}
      }
    } catch (error) {
      // In the foreground the error line below says it: a log line too would print it twice.
      if (daemon) {
        logger.error(`cannot start: ${error instanceof Error ? error.message : String(error)}`)
        process.send!({type: 'error', error: renderError(error)})
        process.disconnect?.()
      }

      throw error
    }

    const stopOnSignal = (signal: string) => {
      logger.info(`${signal}: stopping`)
      void running.stop()
    }

    process.once('SIGINT', () => stopOnSignal('SIGINT'))
    process.once('SIGTERM', () => stopOnSignal('SIGTERM'))
    const {workers} = running.status
    if (daemon) {
      process.send!({type: 'ready', status: running.status})
      process.disconnect?.()
    } else {
      process.stderr.write(`xmppctl server (pid ${process.pid}${describeWorkers(workers)}) on ${describeListeners(running.status.listeners)}; Ctrl-C stops it\n`)
    }

    await running.stopped
    return {pid: process.pid, foreground: true, listeners: running.status.listeners, ...(workers ? {workers: workers.map(({node, pid}) => ({node, pid: pid!}))} : {})}
  }

  /**
   * A worker of a supervisor (cluster.workers): the supervisor forked this
   * process as `start --foreground` with its node name in the environment.
   * Whatever stops it from starting goes to the supervisor, which fails the
   * start with it (or tries again later).
   */
  private async runWorker(node: string, level: LogLevelName | undefined): Promise<never> {
    const {runWorker, workerFailed, workerLogger} = await import('../src/server/worker.js')
    const {logLevel} = await import('../src/server/log.js')
    let config: Awaited<ReturnType<typeof this.loadConfiguration>>
    try {
      config = await this.loadConfiguration()
    } catch (error) {
      return workerFailed(renderError(error))
    }

    const logger = workerLogger(logLevel(level ?? config.settings.loglevel), node)
    await runWorker(config, {node, logger, configFile: config.file, render: renderError})
    return new Promise<never>(() => {})
  }
}
