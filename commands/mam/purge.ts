import {Flags} from '@oclif/core'

import type {PurgeArchiveResult} from '../../src/archive/index.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {createProgress} from '../../src/cli/progress.js'

export default class MamPurge extends BaseCommand<PurgeArchiveResult> {
  static description = `Delete archived messages (XEP-0313) older than a given age

Every account's, or one account's with --user; ejabberdctl's delete_old_mam_messages. Works with the server running or stopped: it deletes in batches of a transaction each, with a pause between, so that a running server's writes are not held up, and shows its progress on a terminal. Stopped part way, it has deleted only messages past the age; run it again for the rest. Asks nothing, so that it can run from cron: try --dry-run first to see how many messages would go.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> --older-than 30d --dry-run', description: 'Count the messages older than 30 days, delete nothing'},
    {command: '<%= config.bin %> <%= command.id %> --older-than 30d', description: 'Delete every account\'s messages older than 30 days'},
    '<%= config.bin %> <%= command.id %> --older-than 12h --user alice@example.org --json',
  ]

  static flags = {
    'older-than': Flags.string({description: 'the age past which messages go: a number and s, m, h, d or w', required: true, helpValue: 'DURATION'}),
    user: Flags.string({description: 'only this account\'s archive (bare JID)', helpValue: 'JID'}),
    'dry-run': Flags.boolean({description: 'count the messages that would be deleted; delete nothing'}),
  }

  async run(): Promise<PurgeArchiveResult> {
    const {flags: f} = await this.parse(MamPurge)
    const {purgeArchive} = await import('../../src/archive/index.js')
    const progress = createProgress('purging')
    let result: PurgeArchiveResult
    try {
      result = await purgeArchive(await this.accounts({create: false}), {olderThan: f['older-than'], user: f.user, dryRun: f['dry-run'], onProgress: (removed, total) => progress.update(removed, total)})
    } finally {
      progress.done()
    }

    const whose = result.user ? ` of ${result.user}` : ''
    const what = `${result.messages} archived message${result.messages === 1 ? '' : 's'}${whose} older than ${result.olderThan} (before ${result.before})`
    this.log(result.dryRun ? `would delete ${what}` : `deleted ${what}`)
    return result
  }
}
