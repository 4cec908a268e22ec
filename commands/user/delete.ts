import {Args} from '@oclif/core'

import {deleteUser, resolveAccount} from '../../src/accounts/index.js'
import type {ServerNotice} from '../../src/running-server.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {flags} from '../../src/cli/flags.js'
import {confirmAction} from '../../src/cli/prompts.js'

type DeleteResult = {jid: string; deleted: boolean; server?: ServerNotice}

export default class UserDelete extends BaseCommand<DeleteResult> {
  static description = `Delete an account, its credentials and all its server data

Its roster, pending subscription requests, offline messages, vCard, private XML, blocklist and last activity go in the same transaction. Asks for confirmation on a terminal; without a terminal, --force is required.
A running server is told, and closes the account's sessions.`

  static examples = ['<%= config.bin %> <%= command.id %> alice@example.org', '<%= config.bin %> <%= command.id %> alice@example.org --force']
  static args = {jid: Args.string({required: true, description: 'bare JID of the account'})}
  static flags = {force: flags.force('delete without asking')}

  async run(): Promise<DeleteResult> {
    const {args, flags: f} = await this.parse(UserDelete)
    const context = await this.accounts({create: false})
    const {jid} = resolveAccount(context.config, args.jid)
    if (!(await confirmAction(`delete ${jid} and its credentials`, f.force))) {
      this.log(`kept ${jid}`)
      return {jid, deleted: false}
    }

    const result = await deleteUser(context, args.jid)
    this.log(`deleted ${result.jid}`)
    const server = await this.tellServer({type: 'user-deleted', jid: result.jid})
    return server ? {...result, server} : result
  }
}
