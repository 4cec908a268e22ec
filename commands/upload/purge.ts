import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import type {PurgeUploadsResult} from '../../src/upload/index.js'

export default class UploadPurge extends BaseCommand<PurgeUploadsResult> {
  static description = `Delete uploaded files (XEP-0363) older than mod_http_upload's max_days, and slots never used

ejabberd's mod_http_upload_quota max_days, run by hand or from cron; the running server also purges hourly. Works with the server running or stopped.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> --dry-run', description: 'Count what max_days would remove, remove nothing'},
    {command: '<%= config.bin %> <%= command.id %> --older-than 7d', description: 'Remove files older than a week, whatever max_days says'},
    '<%= config.bin %> <%= command.id %> --json',
  ]

  static flags = {
    'older-than': Flags.string({description: 'the age past which files go, instead of max_days: a number and s, m, h, d or w', helpValue: 'DURATION'}),
    'dry-run': Flags.boolean({description: 'count the files that would be removed; remove nothing'}),
  }

  async run(): Promise<PurgeUploadsResult> {
    const {flags: f} = await this.parse(UploadPurge)
    const {purgeUploads} = await import('../../src/upload/index.js')
    const result = await purgeUploads(await this.loadConfiguration(), {olderThan: f['older-than'], dryRun: f['dry-run']})
    const what = `${result.files} file${result.files === 1 ? '' : 's'} (${result.bytes} bytes) older than ${result.maxDays} days and ${result.slots} unused slot${result.slots === 1 ? '' : 's'}`
    this.log(result.dryRun ? `would remove ${what}` : `removed ${what}`)
    return result
  }
}
