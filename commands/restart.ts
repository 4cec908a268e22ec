import path from 'node:path'

import {BaseCommand} from '../src/cli/base-command.js'
import {flags} from '../src/cli/flags.js'
import type {ServerStatus} from '../src/server/server.js'
import type {SupervisorStatus, WorkerRestart} from '../src/server/supervisor.js'

export interface RestartResult {
  previousPid?: number
  /** The server's pid (with cluster.workers, the supervisor's; with --node, the new worker's). */
  pid: number
  listeners?: ServerStatus['listeners']
  /** With --node: the node restarted. */
  node?: string
  /** A rolling restart of a supervisor's workers: each worker's pids. */
  rolling?: boolean
  workers?: WorkerRestart[]
}

export default class Restart extends BaseCommand<RestartResult> {
  static description = `Stop the running server (if any) and start it again in the background

Use it for changes that reload cannot apply, such as listeners.

With cluster.workers it is a rolling restart: one worker at a time, the next
once the new one listens and is registered in Redis. The other workers keep
the ports open meanwhile, so new clients can always log in; the sessions of
the worker restarting are closed and their clients reconnect (to any
worker). Changes to listen, data_dir or cluster cannot roll: then the whole
server stops and starts again, and restart says so. --node NAME-k restarts
one worker, and starts one stopped with "xmppctl stop --node".`

  static examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --node xmpp-2',
    '<%= config.bin %> <%= command.id %> --json',
  ]

  static flags = {node: flags.node('restart only this node of the cluster (a worker of this machine\'s supervisor)')}

  async run(): Promise<RestartResult> {
    const {flags: f} = await this.parse(Restart)
    const config = await this.loadConfiguration()
    const {ServerNotRunningError, controlRequest, foreignNodeError} = await import('../src/server/control.js')
    const {startBackground, waitForExit} = await import('../src/server/process.js')
    const {UnavailableError, XmppctlError} = await import('../src/errors.js')
    let status: ServerStatus | SupervisorStatus | undefined
    try {
      status = (await controlRequest(config, {command: 'status'})) as ServerStatus | SupervisorStatus
    } catch (error) {
      if (!(error instanceof ServerNotRunningError) || f.node !== undefined) throw error
    }

    if (status && 'workers' in status) {
      // Each worker may take its 10 s to stop and its time to start.
      const timeout = 30_000 + (f.node === undefined ? status.workers.length : 1) * 60_000
      try {
        if (f.node !== undefined) {
          const reply = (await controlRequest(config, {command: 'restart', node: f.node}, timeout)) as WorkerRestart
          this.log(`restarted node ${reply.node} (${reply.previousPid === undefined ? `was stopped; pid ${reply.pid}` : `pid ${reply.previousPid} → ${reply.pid}`})`)
          return {node: reply.node, ...(reply.previousPid === undefined ? {} : {previousPid: reply.previousPid}), pid: reply.pid}
        }

        const reply = (await controlRequest(config, {command: 'restart'}, timeout)) as {pid: number; workers: WorkerRestart[]}
        this.log(`rolling restart done: ${reply.workers.map((worker) => `${worker.node} pid ${worker.previousPid ?? '-'} → ${worker.pid}`).join(', ')}`)
        return {rolling: true, pid: reply.pid, listeners: status.listeners, workers: reply.workers}
      } catch (error) {
        if (!(error instanceof XmppctlError && error.code === 'restart-stop-needed' && f.node === undefined)) throw error
        this.note(`${error.message}: stopping every worker and starting again (their sessions close)`)
      }
    } else if (status && f.node !== undefined && status.cluster?.node !== f.node) {
      throw foreignNodeError(f.node, status.cluster ? [status.cluster.node] : [], status.cluster?.nodes)
    }

    let previousPid: number | undefined
    try {
      const reply = (await controlRequest(config, {command: 'stop'})) as {pid: number; workers?: unknown[]}
      previousPid = reply.pid
      if (!(await waitForExit(previousPid, reply.workers ? 25_000 : 15_000))) throw new UnavailableError(`the server (pid ${previousPid}) did not stop within ${reply.workers ? 25 : 15} s`, 'check server.log in the data directory')
    } catch (error) {
      if (!(error instanceof ServerNotRunningError)) throw error
    }

    const started = await startBackground(config, {bin: path.join(this.config.root, 'bin', 'run.js'), configFile: config.file})
    this.log(`${previousPid ? `restarted (pid ${previousPid} → ${started.pid})` : `started (pid ${started.pid})`}; log: ${started.log}`)
    return {...(previousPid ? {previousPid} : {}), pid: started.pid, listeners: started.status.listeners}
  }
}
