import {Args, Flags} from '@oclif/core'

import {setAccountState} from '../../src/accounts/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'

export default class UserDisable extends BaseCommand<{jid: string; state: string; reason?: string}> {
  static description = `Disable an account: its credentials stay, but it cannot log in

Undo with "user enable". The reason is shown by "user info" and "user list --long".`

  static examples = ['<%= config.bin %> <%= command.id %> mallory@example.org --reason "spam, ticket #4711"']
  static args = {jid: Args.string({required: true, description: 'bare JID of the account'})}
  static flags = {reason: Flags.string({char: 'r', description: 'why the account is disabled'})}

  async run(): Promise<{jid: string; state: string; reason?: string}> {
    const {args, flags: f} = await this.parse(UserDisable)
    const result = await setAccountState(await this.accounts(), args.jid, 'disabled', f.reason)
    this.log(`disabled ${result.jid}${result.reason ? ` (${result.reason})` : ''}`)
    return result
  }
}
