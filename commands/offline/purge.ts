import {Flags} from '@oclif/core'

import {type OfflinePurgeResult, purgeOfflineMessages} from '../../src/accounts/data.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {parseDuration} from '../../src/cli/duration.js'
import {flags} from '../../src/cli/flags.js'
import {UsageError} from '../../src/errors.js'

export default class OfflinePurge extends BaseCommand<OfflinePurgeResult> {
  static description = `Delete stored offline messages, as ejabberdctl delete_old_messages

Removes the messages waiting for accounts to log in that were stored longer ago than --older-than, of one account (--user) or of all. Give at least one of the two; "--older-than 0s" selects every message. Works with the server running: it deletes in batches, so the server waits for one batch at most. --dry-run counts what would go.`

  static examples = [
    '<%= config.bin %> <%= command.id %> --older-than 30d',
    '<%= config.bin %> <%= command.id %> --user alice@example.org --dry-run --json',
  ]

  static flags = {
    'older-than': flags.olderThan('only messages stored longer ago than this (90s, 15m, 12h, 30d, 2w)'),
    user: Flags.string({description: 'only the messages of this account (bare JID)', helpValue: 'JID'}),
    'dry-run': Flags.boolean({description: 'count the messages that would be deleted, delete nothing'}),
  }

  async run(): Promise<OfflinePurgeResult> {
    const {flags: f} = await this.parse(OfflinePurge)
    if (f['older-than'] === undefined && f.user === undefined) {
      throw new UsageError('say which offline messages to delete: --older-than, --user, or both', 'use "--older-than 0s" to delete every stored offline message')
    }

    const before = f['older-than'] === undefined ? undefined : new Date(Date.now() - parseDuration(f['older-than']))
    const result = await purgeOfflineMessages(await this.accountData(), {before, user: f.user, dryRun: f['dry-run']})
    const which = `offline message${result.removed === 1 ? '' : 's'}${result.jid ? ` of ${result.jid}` : ''}${result.before ? ` stored before ${result.before}` : ''}`
    this.log(result.dryRun ? `would delete ${result.removed} ${which}` : `deleted ${result.removed} ${which}`)
    return result
  }
}
