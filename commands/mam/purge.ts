import {Flags} from '@oclif/core'

import {ARCHIVE_TYPES, type ArchiveType, type PurgeArchiveResult} from '../../src/archive/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {createProgress} from '../../src/cli/progress.js'

export default class MamPurge extends BaseCommand<PurgeArchiveResult> {
  static description = `Delete archived messages (XEP-0313) older than a given age

Every account's and every persistent room's (--type chat or groupchat for one kind), or one account's with --user; ejabberdctl's delete_old_mam_messages, whose types these are. Works with the server running or stopped: it deletes in batches of a transaction each, with a pause between, so that a running server's writes are not held up, and shows its progress on a terminal. Stopped part way, it has deleted only messages past the age; run it again for the rest. Asks nothing, so that it can run from cron: try --dry-run first to see how many messages would go.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> --older-than 30d --dry-run', description: 'Count the messages older than 30 days, delete nothing'},
    {command: '<%= config.bin %> <%= command.id %> --older-than 30d', description: 'Delete every account\'s and every room\'s messages older than 30 days'},
    {command: '<%= config.bin %> <%= command.id %> --older-than 90d --type groupchat', description: 'Only the archives of persistent rooms'},
    '<%= config.bin %> <%= command.id %> --older-than 12h --user alice@example.org --json',
  ]

  static flags = {
    'older-than': Flags.string({description: 'the age past which messages go: a number and s, m, h, d or w', required: true, helpValue: 'DURATION'}),
    type: Flags.string({description: 'which archives: accounts\' (chat), persistent rooms\' (groupchat), or both', options: [...ARCHIVE_TYPES], default: 'all'}),
    user: Flags.string({description: 'only this account\'s archive (bare JID)', helpValue: 'JID'}),
    'dry-run': Flags.boolean({description: 'count the messages that would be deleted; delete nothing'}),
  }

  async run(): Promise<PurgeArchiveResult> {
    const {flags: f} = await this.parse(MamPurge)
    const {purgeArchive} = await import('../../src/archive/index.js')
    const progress = createProgress('purging')
    let result: PurgeArchiveResult
    try {
      result = await purgeArchive(await this.accounts({create: false}), {
        olderThan: f['older-than'],
        type: f.type as ArchiveType,
        user: f.user,
        dryRun: f['dry-run'],
        onProgress: (removed, total) => progress.update(removed, total),
      })
    } finally {
      progress.done()
    }

    const count = (n: number, what: string) => `${n} archived message${n === 1 ? '' : 's'} ${what}`
    const parts = [
      ...(result.messages === null ? [] : [count(result.messages, result.user ? `of ${result.user}` : 'of accounts')]),
      ...(result.roomMessages === null ? [] : [count(result.roomMessages, 'of rooms')]),
    ]
    const what = `${parts.join(' and ')} older than ${result.olderThan} (before ${result.before})`
    this.log(result.dryRun ? `would delete ${what}` : `deleted ${what}`)
    return result
  }
}
