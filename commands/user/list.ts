import {Args, Flags} from '@oclif/core'

import {type AccountInfo, listUsers} from '../../src/accounts/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {writeStdout} from '../../src/cli/output.js'

export default class UserList extends BaseCommand<void> {
  static description = `List accounts, one per line

Streams from the store, so it works the same for ten accounts or a million. With --json, prints a JSON array of objects (jid, state, createdAt, hashes, iterations, plaintext).`

  static examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> example.org --long',
    '<%= config.bin %> <%= command.id %> --json | jq -r \'.[] | select(.state == "disabled") | .jid\'',
  ]

  static args = {host: Args.string({description: 'only accounts of this host'})}
  static flags = {long: Flags.boolean({char: 'l', description: 'also show state, stored hashes, iterations and creation time'})}

  async run(): Promise<void> {
    const {args, flags: f} = await this.parse(UserList)
    const accounts = listUsers(await this.accounts({create: false}), args.host)
    // Written as it streams: --json output is built here rather than from a
    // returned value, which would hold every account in memory.
    if (this.jsonEnabled()) await writeJsonArray(accounts)
    else await writeLines(accounts, f.long ? longLine : (account) => account.jid)
  }
}

function longLine(account: AccountInfo): string {
  const state = account.state === 'disabled' ? `disabled${account.disabledReason ? ` (${account.disabledReason})` : ''}` : 'enabled'
  const storage = [...account.hashes, ...(account.plaintext ? ['plaintext'] : [])].join(',') || 'none'
  return [account.jid, state, storage, account.iterations ?? '-', account.createdAt].join('\t')
}

async function writeLines(accounts: AsyncIterable<AccountInfo>, format: (account: AccountInfo) => string): Promise<void> {
  for await (const account of accounts) if (!(await writeStdout(`${format(account)}\n`))) return
}

async function writeJsonArray(accounts: AsyncIterable<AccountInfo>): Promise<void> {
  let first = true
  for await (const account of accounts) {
    if (!(await writeStdout(`${first ? '[\n' : ',\n'}  ${JSON.stringify(account)}`))) return
    first = false
  }

  await writeStdout(first ? '[]\n' : '\n]\n')
}
