import {Args, Flags} from '@oclif/core'

import {setAccountState} from '../../src/accounts/index.js'
import type {ServerNotice} from '../../src/running-server.js'
import {BaseCommand} from '../../src/cli/base-command.js'

type DisableResult = {jid: string; state: string; reason?: string; server?: ServerNotice}

export default class UserDisable extends BaseCommand<DisableResult> {
  static description = `Disable an account: its credentials stay, but it cannot log in

A running server is told, and closes the account's sessions. Undo with "user enable". The reason is shown by "user info" and "user list --long".`

  static examples = ['<%= config.bin %> <%= command.id %> mallory@example.org --reason "spam, ticket #4711"']
  static args = {jid: Args.string({required: true, description: 'bare JID of the account'})}
  static flags = {reason: Flags.string({char: 'r', description: 'why the account is disabled'})}

  async run(): Promise<DisableResult> {
    const {args, flags: f} = await this.parse(UserDisable)
    const result = await setAccountState(await this.accounts({create: false}), args.jid, 'disabled', f.reason)
    this.log(`disabled ${result.jid}${result.reason ? ` (${result.reason})` : ''}`)
    const server = await this.tellServer({type: 'user-disabled', jid: result.jid})
    return server ? {...result, server} : result
  }
}
