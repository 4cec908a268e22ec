import {BaseCommand} from '../src/cli/base-command.js'

export interface ReloadResult {
  certificates: string[]
  listenersChanged: boolean
}

export default class Reload extends BaseCommand<ReloadResult> {
  static description = `Make the running server re-read its configuration and certificates

Sessions stay connected. Changes to "listen" take effect on restart.`

  static examples = ['<%= config.bin %> <%= command.id %>']

  async run(): Promise<ReloadResult> {
    const config = await this.loadConfiguration()
    const {controlRequest} = await import('../src/server/control.js')
    const result = (await controlRequest(config, {command: 'reload'})) as ReloadResult
    this.log(`reloaded; certificates: ${result.certificates.join(', ')}`)
    if (result.listenersChanged) this.note('listener changes take effect on "xmppctl restart"')
    return result
  }
}
