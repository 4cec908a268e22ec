import {Args} from '@oclif/core'

import {deleteUser, resolveAccount} from '../../src/accounts/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {flags} from '../../src/cli/flags.js'
import {confirmAction} from '../../src/cli/prompts.js'

export default class UserDelete extends BaseCommand<{jid: string; deleted: boolean}> {
  static description = `Delete an account and its credentials

Asks for confirmation on a terminal; without a terminal, --force is required.`

  static examples = ['<%= config.bin %> <%= command.id %> alice@example.org', '<%= config.bin %> <%= command.id %> alice@example.org --force']
  static args = {jid: Args.string({required: true, description: 'bare JID of the account'})}
  static flags = {force: flags.force('delete without asking')}

  async run(): Promise<{jid: string; deleted: boolean}> {
    const {args, flags: f} = await this.parse(UserDelete)
    const context = await this.accounts()
    const {jid} = resolveAccount(context.config, args.jid)
    if (!(await confirmAction(`delete ${jid} and its credentials`, f.force))) {
      this.log(`kept ${jid}`)
      return {jid, deleted: false}
    }

    const result = await deleteUser(context, args.jid)
    this.log(`deleted ${result.jid}`)
    return result
  }
}
