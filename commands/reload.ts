import {BaseCommand} from '../src/cli/base-command.js'

export interface ReloadResult {
  certificates: string[]
  listenersChanged: boolean
  /** Changed keys that are read only at start. */
  restartNeeded: string[]
}

export default class Reload extends BaseCommand<ReloadResult> {
  static description = `Make the running server re-read its configuration and certificates

Sessions stay connected. Changes to what is read only at start (listen, data_dir, the store's sql_* keys, sm_db_type, the redis_* keys and cluster) take effect on "xmppctl restart"; reload names them.`

  static examples = ['<%= config.bin %> <%= command.id %>']

  async run(): Promise<ReloadResult> {
    const config = await this.loadConfiguration()
    const {controlRequest} = await import('../src/server/control.js')
    const result = (await controlRequest(config, {command: 'reload'})) as ReloadResult
    this.log(`reloaded; certificates: ${result.certificates.join(', ')}`)
    if (result.restartNeeded.length > 0) this.note(`changes to ${result.restartNeeded.join(', ')} take effect on "xmppctl restart"`)
    return result
  }
}
