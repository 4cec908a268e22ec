import {BaseCommand} from '../src/cli/base-command.js'
import {ExitCode} from '../src/errors.js'
import type {ServerStatus} from '../src/server/server.js'
import type {SupervisorStatus} from '../src/server/supervisor.js'

export type StatusResult = ServerStatus | SupervisorStatus | {running: false}

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86_400)
  const h = Math.floor((seconds % 86_400) / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  return [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', `${seconds % 60}s`].filter(Boolean).join(' ')
}

export default class Status extends BaseCommand<StatusResult> {
  static description = `Show whether the server runs: uptime, listeners, sessions per host, banned addresses, and in a cluster every node with its health and sessions

With cluster.workers, the supervisor answers: sessions summed over its
workers, each worker (node, state, pid, sessions, restarts), and every node
of the cluster as Redis sees it, this machine's marked "here".
Exits 3 when no server is running.`

  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  async run(): Promise<StatusResult> {
    const config = await this.loadConfiguration()
    const {ServerNotRunningError, controlRequest} = await import('../src/server/control.js')
    let status: ServerStatus | SupervisorStatus
    try {
      status = (await controlRequest(config, {command: 'status'})) as ServerStatus | SupervisorStatus
    } catch (error) {
      if (!(error instanceof ServerNotRunningError)) throw error
      this.log(`not running (data directory ${config.dataDir})`)
      this.setExitStatus(ExitCode.unavailable)
      return {running: false}
    }

    const workers = 'workers' in status ? status.workers : undefined
    const runningWorkers = workers?.filter((worker) => worker.state === 'running').length
    this.log(`running (pid ${status.pid}, up ${duration(status.uptime)}${workers ? `; supervisor of ${workers.length} workers, ${runningWorkers} running` : ''})`)
    for (const listener of status.listeners) this.log(`  listening on ${listener.ip}:${listener.port} (${listener.tls ? 'direct TLS' : `STARTTLS ${listener.starttls}`})`)
    for (const [host, count] of Object.entries(status.sessions)) this.log(`  ${host}: ${count} session${count === 1 ? '' : 's'}`)
    const {memory} = status
    const mib = (kib: number) => (kib / 1024).toFixed(1)
    // An older server does not report it.
    if (memory) this.log(`  memory: ${mib(memory.rssKiB)} MiB resident, JavaScript heap ${mib(memory.heapUsedKiB)} of ${mib(memory.heapTotalKiB)} MiB, allocator ${memory.allocator}`)
    // An older server reports neither.
    for (const ban of status.bans ?? []) this.log(`  banned ${ban.address}: ${ban.failures} failed logins, until ${ban.until}`)
    for (const {account, failures, until} of status.restrictedAccounts ?? []) {
      this.log(`  ${account}: ${failures} failed logins from all addresses; until ${until} only addresses it logged in from may try`)
    }

    if (workers) {
      this.log('  workers:')
      for (const worker of workers) {
        const state = worker.state === 'stopped' ? `stopped ("xmppctl restart --node ${worker.node}" starts it)` : worker.state === 'waiting' ? 'exited, starting again shortly' : worker.state
        const sessions = worker.sessions === undefined ? '' : `, ${worker.sessions} session${worker.sessions === 1 ? '' : 's'}`
        this.log(`    ${worker.node}: ${state}${worker.pid === undefined ? '' : `, pid ${worker.pid}`}${sessions}${worker.restarts > 0 ? `, restarted ${worker.restarts} time${worker.restarts === 1 ? '' : 's'} after exiting` : ''}`)
      }
    }

    if (status.cluster) {
      this.log(workers ? `  cluster nodes (${status.cluster.node}-1 … ${status.cluster.node}-${workers.length} here), Redis ${status.cluster.redis}:` : `  cluster node ${status.cluster.node}, Redis ${status.cluster.redis}:`)
      for (const node of status.cluster.nodes as Array<(typeof status.cluster.nodes)[number] & {here?: true}>) {
        this.log(`    ${node.node}: ${node.health}, ${node.sessions} session${node.sessions === 1 ? '' : 's'}${node.pid === undefined ? '' : `, pid ${node.pid}`}${node.here ? ' (here)' : ''}`)
      }
    }

    return status
  }
}
