import {BaseCommand} from '../src/cli/base-command.js'
import {flags} from '../src/cli/flags.js'

export interface StopResult {
  stopped: boolean
  pid?: number
  /** With --node: the node stopped. */
  node?: string
  /** The workers a supervisor stopped with it (cluster.workers). */
  workers?: Array<{node: string; pid: number}>
}

export default class Stop extends BaseCommand<StopResult> {
  static description = `Stop the running server gracefully

Clients get a system-shutdown stream error, then the server exits. Stopping
when no server runs is not an error. With cluster.workers, the supervisor
stops every worker, then itself; --node NAME-k stops that worker only, and
the supervisor leaves it stopped (its clients reconnect to the other workers
on the same ports) until "xmppctl restart --node NAME-k" or a restart of all.
A node that runs on another machine is stopped there.`

  static examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --node xmpp-2',
    '<%= config.bin %> <%= command.id %> --json',
  ]

  static flags = {node: flags.node('stop only this node of the cluster (a worker of this machine\'s supervisor)')}

  async run(): Promise<StopResult> {
    const {flags: f} = await this.parse(Stop)
    const config = await this.loadConfiguration()
    const {ServerNotRunningError, controlRequest} = await import('../src/server/control.js')
    const {waitForExit} = await import('../src/server/process.js')
    let reply: {pid?: number; stopped?: boolean; node?: string; workers?: Array<{node: string; pid: number}>}
    try {
      reply = (await controlRequest(config, f.node === undefined ? {command: 'stop'} : {command: 'stop', node: f.node}, 30_000)) as typeof reply
    } catch (error) {
      if (!(error instanceof ServerNotRunningError)) throw error
      this.log('no server is running')
      return {stopped: false}
    }

    if (reply.node !== undefined) {
      // A worker: the supervisor answers once it has exited.
      this.log(reply.stopped ? `stopped node ${reply.node} (pid ${reply.pid}); "xmppctl restart --node ${reply.node}" starts it again` : `node ${reply.node} was not running`)
      return {stopped: reply.stopped ?? false, node: reply.node, ...(reply.pid === undefined ? {} : {pid: reply.pid})}
    }

    const pid = reply.pid!
    // A supervisor exits after its workers, each given 10 s to stop gracefully.
    if (!(await waitForExit(pid, reply.workers ? 25_000 : 15_000))) {
      const {UnavailableError} = await import('../src/errors.js')
      throw new UnavailableError(`the server (pid ${pid}) is still running after ${reply.workers ? 25 : 15} s`, `check server.log in the data directory; "kill ${pid}" ends it`)
    }

    this.log(`stopped xmppctl server (pid ${pid}${reply.workers ? `, workers ${reply.workers.map((worker) => `${worker.node} pid ${worker.pid}`).join(', ')}` : ''})`)
    return {stopped: true, pid, ...(reply.workers ? {workers: reply.workers} : {})}
  }
}
