import {Args} from '@oclif/core'

import {type PasswordChange, addUser, resolveAccount} from '../../src/accounts/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {flags} from '../../src/cli/flags.js'

export default class UserAdd extends BaseCommand<PasswordChange> {
  static description = `Create an account and store its SCRAM credentials

The password is asked twice on a terminal (masked), or read from the first line of standard input with --password-stdin; it is never taken from the command line. Credentials are stored for every hash in auth_scram_hash, with auth_scram_iterations (plaintext only when auth_password_format is plain).`

  static examples = [
    '<%= config.bin %> <%= command.id %> alice@example.org',
    {command: "printf '%s\\n' \"$PASSWORD\" | <%= config.bin %> <%= command.id %> alice@example.org --password-stdin", description: 'Non-interactively, from a script'},
  ]

  static args = {jid: Args.string({required: true, description: 'bare JID of the new account (user@host)'})}
  static flags = {'password-stdin': flags.passwordStdin()}

  async run(): Promise<PasswordChange> {
    const {args, flags: f} = await this.parse(UserAdd)
    const context = await this.accounts()
    resolveAccount(context.config, args.jid) // a bad JID or host fails before the prompt
    const password = await this.password({stdin: f['password-stdin'], confirm: true})
    const result = await addUser(context, args.jid, password)
    this.log(`created ${result.jid} (${describeStorage(result)})`)
    return result
  }
}

export function describeStorage(change: PasswordChange): string {
  const parts = change.hashes.map((hash) => `SCRAM-${hash.toUpperCase().replace('SHA', 'SHA-')}`)
  if (change.iterations !== undefined) parts.push(`${change.iterations} iterations`)
  if (change.plaintext) parts.push('plaintext')
  return parts.join(', ')
}
