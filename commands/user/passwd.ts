import {Args} from '@oclif/core'

import {type PasswordChange, changePassword, resolveAccount} from '../../src/accounts/index.js'
import type {ServerNotice} from '../../src/running-server.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {flags} from '../../src/cli/flags.js'
import {describeStorage} from './add.js'

type PasswdResult = PasswordChange & {server?: ServerNotice}

export default class UserPasswd extends BaseCommand<PasswdResult> {
  static description = `Change an account's password

All stored credentials are replaced in one transaction. A running server is told, and closes the account's sessions so they log in again. The iteration count is kept if it is higher than auth_scram_iterations, otherwise raised to it.`

  static examples = [
    '<%= config.bin %> <%= command.id %> alice@example.org',
    "printf '%s\\n' \"$NEW_PASSWORD\" | <%= config.bin %> <%= command.id %> alice@example.org --password-stdin",
  ]

  static args = {jid: Args.string({required: true, description: 'bare JID of the account'})}
  static flags = {'password-stdin': flags.passwordStdin()}

  async run(): Promise<PasswdResult> {
    const {args, flags: f} = await this.parse(UserPasswd)
    const context = await this.accounts({create: false})
    resolveAccount(context.config, args.jid) // a bad JID or host fails before the prompt
    const password = await this.password({stdin: f['password-stdin'], confirm: true, prompt: 'New password'})
    const result = await changePassword(context, args.jid, password)
    this.log(`changed the password of ${result.jid} (${describeStorage(result)})`)
    const server = await this.tellServer({type: 'password-changed', jid: result.jid})
    return server ? {...result, server} : result
  }
}
