import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import type {ExportResult} from '../../src/migrate/export.js'
import {EXPORT_FORMATS, type ExportFormat} from '../../src/migrate/types.js'

export default class UserExport extends BaseCommand<ExportResult> {
  static description = `Export accounts to XEP-0227 or CSV

xep0227 writes every account (SCRAM credentials, and plaintext where stored) with all its data: roster (groups, subscription, pending requests both ways, pre-approval), vCard, offline messages with their delay stamps, private XML, PEP nodes (their configuration as a pubsub#owner form) and items, and the message archive (in Prosody's urn:xmpp:pie:0#mam extension: XEP-0227 has no archive). It writes one file, or one <host>.xml per host when DEST is a directory. With --ejabberd it is what "ejabberdctl import_piefxis" reads: roster, vCard, offline messages and private XML (ejabberd 23.01 imports neither PEP nor archives). With --prosody, DEST is a directory of one <user>@<host>.xml per account, the files Prosody's mod_storage_xep0227 reads (accounts with SCRAM-SHA-1, roster, pending requests, vCard, private XML, PEP, archive; not offline messages), e.g. with prosody-migrator. "xmppctl user import --from xep0227" reads all of it back. csv writes jid,password rows for the accounts whose password is stored in plaintext only. Files are created 0600: they hold secrets.`

  static aliases = ['export']
  static examples = [
    '<%= config.bin %> <%= command.id %> backup.xml --to xep0227',
    {command: 'mkdir out && <%= config.bin %> <%= command.id %> out --to xep0227 --ejabberd && ejabberdctl import_piefxis out/example.org.xml', description: 'One file per host, for ejabberd'},
    {command: 'mkdir users && <%= config.bin %> <%= command.id %> users --to xep0227 --prosody', description: "One file per account, as Prosody's mod_storage_xep0227 reads them"},
    '<%= config.bin %> <%= command.id %> plain.csv --to csv --host example.org',
  ]

  static args = {dest: Args.string({required: true, description: 'file to write, or (xep0227) an existing directory for one file per host'})}
  static flags = {
    to: Flags.string({description: 'format to write', options: [...EXPORT_FORMATS], required: true}),
    host: Flags.string({description: 'only this host (repeatable)', multiple: true}),
    force: Flags.boolean({char: 'f', description: 'replace files that exist'}),
    ejabberd: Flags.boolean({
      description: "xep0227: for ejabberdctl import_piefxis: one <scram-credentials> element per account (SHA-1 preferred, as ejabberd keeps one hash), its keys base64-encoded twice as ejabberd 23.01 reads them; no PEP or archive, which it does not import",
      exclusive: ['prosody'],
    }),
    prosody: Flags.boolean({description: "xep0227: DEST is a directory: one <user>@<host>.xml per account, as Prosody's mod_storage_xep0227 reads them"}),
    'accounts-only': Flags.boolean({description: 'xep0227: the accounts and their credentials only, without roster, vCard, offline messages, private XML, PEP and archive'}),
  }

  async run(): Promise<ExportResult> {
    const {args, flags: f} = await this.parse(UserExport)
    const context = await this.accounts({create: false})
    const {exportAccounts} = await import('../../src/migrate/export.js')
    const {DATA_KINDS, DATA_LABELS} = await import('../../src/migrate/user-data.js')
    const result = await exportAccounts(context, {
      format: f.to as ExportFormat,
      dest: args.dest,
      hosts: f.host,
      force: f.force,
      ejabberd: f.ejabberd,
      perUser: f.prosody,
      accountsOnly: f['accounts-only'],
    })
    const where = f.prosody ? `${args.dest} (one file per account)` : result.files.join(', ')
    this.log(`exported ${result.accounts} account${result.accounts === 1 ? '' : 's'} to ${where}`)
    const data = DATA_KINDS.filter((kind) => result.data[kind] > 0).map((kind) => `${DATA_LABELS[kind]} ${result.data[kind]}`)
    if (data.length > 0) this.log(`data: ${data.join(', ')}`)
    if (result.unreadable > 0) this.note(`${result.unreadable} stored entries are not well-formed XML and were left out (a damaged store: see "xmppctl audit")`)
    if (result.format === 'csv') {
      if (result.skipped > 0) this.note(`${result.skipped} accounts store only SCRAM credentials and are not in the CSV (export them --to xep0227)`)
      this.note(`${args.dest} contains plaintext passwords: it was created readable by you alone (0600); move it safely and delete it after use`)
    }

    return result
  }
}
