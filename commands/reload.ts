import {BaseCommand} from '../src/cli/base-command.js'
import {flags} from '../src/cli/flags.js'

export interface ReloadResult {
  certificates: string[]
  listenersChanged: boolean
  /** Changed keys that are read only at start. */
  restartNeeded: string[]
  /** With cluster.workers: the nodes reloaded. */
  nodes?: string[]
}

export default class Reload extends BaseCommand<ReloadResult> {
  static description = `Make the running server re-read its configuration and certificates

Sessions stay connected. Changes to what is read only at start (listen, data_dir, the store's sql_* keys, sm_db_type, the redis_* keys and cluster) take effect on "xmppctl restart"; reload names them.
With cluster.workers, every worker reloads (a file with problems reloads none); --node NAME-k reloads one.`

  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --node xmpp-1', '<%= config.bin %> <%= command.id %> --json']

  static flags = {node: flags.node('reload only this node of the cluster (a worker of this machine\'s supervisor)')}

  async run(): Promise<ReloadResult> {
    const {flags: f} = await this.parse(Reload)
    const config = await this.loadConfiguration()
    const {controlRequest} = await import('../src/server/control.js')
    const result = (await controlRequest(config, f.node === undefined ? {command: 'reload'} : {command: 'reload', node: f.node}, 90_000)) as ReloadResult
    this.log(`reloaded${result.nodes ? ` ${result.nodes.join(', ')}` : ''}; certificates: ${result.certificates.join(', ')}`)
    if (result.restartNeeded.length > 0) this.note(`changes to ${result.restartNeeded.join(', ')} take effect on "xmppctl restart"`)
    return result
  }
}
