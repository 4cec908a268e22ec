import {Args} from '@oclif/core'

import {type AccountInfo, userInfo} from '../../src/accounts/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {formatRecord} from '../../src/cli/output.js'

export default class UserInfo extends BaseCommand<AccountInfo> {
  static description = `Show an account: state, stored hashes, iterations, creation time

Never shows secrets: only which kinds of credentials are stored.`

  static examples = ['<%= config.bin %> <%= command.id %> alice@example.org', '<%= config.bin %> <%= command.id %> alice@example.org --json']
  static args = {jid: Args.string({required: true, description: 'bare JID of the account'})}

  async run(): Promise<AccountInfo> {
    const {args} = await this.parse(UserInfo)
    const info = await userInfo(await this.accounts({create: false}), args.jid)
    this.log(
      formatRecord([
        ['jid', info.jid],
        ['state', info.state === 'disabled' && info.disabledReason ? `disabled (${info.disabledReason})` : info.state],
        ['created', info.createdAt],
        ['scram', info.hashes.length > 0 ? info.hashes.join(', ') : 'none'],
        ['iterations', info.iterations === undefined ? '-' : String(info.iterations)],
        ['plaintext', info.plaintext ? 'yes (run "xmppctl scram convert" to replace it)' : 'no'],
      ]),
    )
    return info
  }
}
