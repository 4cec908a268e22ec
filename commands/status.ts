import {BaseCommand} from '../src/cli/base-command.js'
import {ExitCode} from '../src/errors.js'
import type {ServerStatus} from '../src/server/server.js'

export type StatusResult = ServerStatus | {running: false}

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86_400)
  const h = Math.floor((seconds % 86_400) / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  return [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', `${seconds % 60}s`].filter(Boolean).join(' ')
}

export default class Status extends BaseCommand<StatusResult> {
  static description = `Show whether the server runs: uptime, listeners, sessions per host, banned addresses, and in a cluster every node with its health and sessions

Exits 3 when no server is running.`

  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  async run(): Promise<StatusResult> {
    const config = await this.loadConfiguration()
    const {ServerNotRunningError, controlRequest} = await import('../src/server/control.js')
    let status: ServerStatus
    try {
      status = (await controlRequest(config, {command: 'status'})) as ServerStatus
    } catch (error) {
      if (!(error instanceof ServerNotRunningError)) throw error
      this.log(`not running (data directory ${config.dataDir})`)
      this.setExitStatus(ExitCode.unavailable)
      return {running: false}
    }

    this.log(`running (pid ${status.pid}, up ${duration(status.uptime)})`)
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

    if (status.cluster) {
      this.log(`  cluster node ${status.cluster.node}, Redis ${status.cluster.redis}:`)
      for (const node of status.cluster.nodes) this.log(`    ${node.node}: ${node.health}, ${node.sessions} session${node.sessions === 1 ? '' : 's'}${node.pid === undefined ? '' : `, pid ${node.pid}`}`)
    }

    return status
  }
}
