import {Args, Flags} from '@oclif/core'

import {type OfflineEntry, listOfflineMessages} from '../../src/accounts/data.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {formatTable} from '../../src/cli/output.js'

type OfflineListResult = {jid: string; total: number; messages: OfflineEntry[]}

export default class OfflineList extends BaseCommand<OfflineListResult> {
  static description = `List the offline messages waiting for an account, oldest first

Shows who sent each message, when it was stored, its type and size; never its text. With --json, prints {jid, total, messages: [{id, storedAt, from, type, bytes}]}.`

  static examples = ['<%= config.bin %> <%= command.id %> alice@example.org', '<%= config.bin %> <%= command.id %> alice@example.org --limit 10 --json']
  static args = {jid: Args.string({required: true, description: 'bare JID of the account'})}
  static flags = {limit: Flags.integer({description: 'show at most this many messages', default: 100, min: 1})}

  async run(): Promise<OfflineListResult> {
    const {args, flags: f} = await this.parse(OfflineList)
    const result = await listOfflineMessages(await this.accountData(), args.jid, f.limit)
    if (result.total === 0) {
      this.log(`no offline messages wait for ${result.jid}`)
      return result
    }

    this.log(formatTable(['ID', 'STORED', 'FROM', 'TYPE', 'BYTES'], result.messages.map((message) => [String(message.id), message.storedAt, message.from, message.type, String(message.bytes)])))
    if (result.total > result.messages.length) this.log(`(${result.messages.length} of ${result.total}; see more with --limit)`)
    return result
  }
}
