import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import type {ExportResult} from '../../src/migrate/export.js'
import {EXPORT_FORMATS, type ExportFormat} from '../../src/migrate/types.js'

export default class UserExport extends BaseCommand<ExportResult> {
  static description = `Export accounts to XEP-0227 or CSV

xep0227 writes every account (SCRAM credentials, and plaintext where stored) to one file, or one <host>.xml per host when DEST is a directory; Prosody's mod_storage_xep0227 reads it, and with --ejabberd so does "ejabberdctl import_piefxis". csv writes jid,password rows for the accounts whose password is stored in plaintext only. Files are created 0600: they hold secrets.`

  static aliases = ['export']
  static examples = [
    '<%= config.bin %> <%= command.id %> backup.xml --to xep0227',
    {command: 'mkdir out && <%= config.bin %> <%= command.id %> out --to xep0227 --ejabberd && ejabberdctl import_piefxis out/example.org.xml', description: 'One file per host, for ejabberd'},
    '<%= config.bin %> <%= command.id %> plain.csv --to csv --host example.org',
  ]

  static args = {dest: Args.string({required: true, description: 'file to write, or (xep0227) an existing directory for one file per host'})}
  static flags = {
    to: Flags.string({description: 'format to write', options: [...EXPORT_FORMATS], required: true}),
    host: Flags.string({description: 'only this host (repeatable)', multiple: true}),
    force: Flags.boolean({char: 'f', description: 'replace files that exist'}),
    ejabberd: Flags.boolean({
      description: "xep0227: for ejabberdctl import_piefxis: one <scram-credentials> element per account (SHA-1 preferred, as ejabberd keeps one hash), its keys base64-encoded twice as ejabberd 23.01 reads them",
    }),
  }

  async run(): Promise<ExportResult> {
    const {args, flags: f} = await this.parse(UserExport)
    const context = await this.accounts({create: false})
    const {exportAccounts} = await import('../../src/migrate/export.js')
    const result = await exportAccounts(context, {format: f.to as ExportFormat, dest: args.dest, hosts: f.host, force: f.force, ejabberd: f.ejabberd})
    this.log(`exported ${result.accounts} account${result.accounts === 1 ? '' : 's'} to ${result.files.join(', ')}`)
    if (result.format === 'csv') {
      if (result.skipped > 0) this.note(`${result.skipped} accounts store only SCRAM credentials and are not in the CSV (export them --to xep0227)`)
      this.note(`${args.dest} contains plaintext passwords: it was created readable by you alone (0600); move it safely and delete it after use`)
    }

    return result
  }
}
