import {Args} from '@oclif/core'

import {userExists} from '../../src/accounts/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {ExitCode} from '../../src/errors.js'

export default class UserExists extends BaseCommand<{jid: string; exists: boolean}> {
  static description = 'Tell whether an account exists (exit 0 if it does, 1 if not)'
  static examples = ['<%= config.bin %> <%= command.id %> alice@example.org && echo "alice is registered"']
  static args = {jid: Args.string({required: true, description: 'bare JID of the account'})}

  async run(): Promise<{jid: string; exists: boolean}> {
    const {args} = await this.parse(UserExists)
    const result = await userExists(await this.accounts({create: false}), args.jid)
    this.log(result.exists ? `${result.jid} exists` : `${result.jid} does not exist`)
    if (!result.exists) this.setExitStatus(ExitCode.false)
    return result
  }
}
