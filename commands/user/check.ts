import {Args} from '@oclif/core'

import {type PasswordCheck, checkPassword, resolveAccount} from '../../src/accounts/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {flags} from '../../src/cli/flags.js'
import {ExitCode} from '../../src/errors.js'

export default class UserCheck extends BaseCommand<PasswordCheck> {
  static description = `Check an account's password against the store

Exits 0 when the password is right, 1 when it is wrong or the account does not exist.`

  static examples = [
    '<%= config.bin %> <%= command.id %> alice@example.org',
    "printf '%s\\n' \"$PASSWORD\" | <%= config.bin %> <%= command.id %> alice@example.org --password-stdin && echo ok",
  ]

  static args = {jid: Args.string({required: true, description: 'bare JID of the account'})}
  static flags = {'password-stdin': flags.passwordStdin()}

  async run(): Promise<PasswordCheck> {
    const {args, flags: f} = await this.parse(UserCheck)
    const context = await this.accounts({create: false})
    resolveAccount(context.config, args.jid) // a bad JID or host fails before the prompt
    const password = await this.password({stdin: f['password-stdin'], confirm: false})
    const result = await checkPassword(context, args.jid, password)
    if (result.valid) {
      this.log(`password of ${result.jid} is correct${result.state === 'disabled' ? ' (but the account is disabled)' : ''}`)
    } else {
      this.log(result.reason === 'absent' ? `${result.jid} does not exist` : `password of ${result.jid} is wrong`)
      this.setExitStatus(ExitCode.false)
    }

    return result
  }
}
