import {Args} from '@oclif/core'

import {setAccountState} from '../../src/accounts/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'

export default class UserEnable extends BaseCommand<{jid: string; state: string}> {
  static description = 'Enable a disabled account again'
  static examples = ['<%= config.bin %> <%= command.id %> mallory@example.org']
  static args = {jid: Args.string({required: true, description: 'bare JID of the account'})}

  async run(): Promise<{jid: string; state: string}> {
    const {args} = await this.parse(UserEnable)
    const result = await setAccountState(await this.accounts({create: false}), args.jid, 'enabled')
    this.log(`enabled ${result.jid}`)
    return result
  }
}
