import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {createProgress} from '../../src/cli/progress.js'
import {ExitCode} from '../../src/errors.js'
import type {ImportResult} from '../../src/migrate/import.js'
import {SOURCE_FORMATS, type SourceFormat} from '../../src/migrate/types.js'

export default class UserImport extends BaseCommand<ImportResult> {
  static description = `Import accounts from another server or a spreadsheet

Formats (--from):
  xep0227       XEP-0227 file or directory (ejabberdctl export_piefxis, Prosody's mod_storage_xep0227)
  prosody       Prosody's data directory (internal_hashed or internal_plain; with each account's roster, vcard, private, offline, archive, pep and pep_<node> stores; .dat and .list files read as data, never run)
  ejabberd-sql  ejabberd's SQL database: a SQLite file or a postgresql:// URL (--host for the single-host schema): users, with rosterusers, rostergroups, vcard, spool, private_storage, archive and PEP's pubsub_node, pubsub_node_option, pubsub_item
  csv           jid,password rows (RFC 4180 quoting), e.g. from a spreadsheet

SCRAM credentials are kept as they are; plaintext is hashed on the way in unless the host's auth_password_format is plain. Nothing existing is changed unless --on-conflict overwrite; with fail nothing is written if any account exists. Work is done in batches of one transaction each; after a kill, rerun the same command: what was imported is skipped (counted unchanged). When fewer accounts are imported than SOURCE holds (invalid records, existing accounts with another password, unknown hosts, or none at all), the summary says so and the exit status is 1, unless --allow-partial. From XEP-0227, Prosody and ejabberd SQL, each new account's roster (groups, subscriptions, pending requests both ways), vCard, offline messages, private XML, PEP nodes and items, and archive (Prosody's urn:xmpp:pie:0#mam extension) are written with it, in the same transaction, within max_roster_items, max_roster_bytes, max_user_offline_messages and mod_pep's limits; an existing account's data is left alone. Other per-user data (privacy lists…) is kept in a XEP-0227 side file under data_dir/imported-user-data/.`

  static aliases = ['import']
  static examples = [
    {command: '<%= config.bin %> <%= command.id %> /var/lib/prosody --from prosody --dry-run', description: "See what a Prosody data directory holds"},
    '<%= config.bin %> <%= command.id %> /tmp/piefxis --from xep0227 --add-hosts',
    '<%= config.bin %> <%= command.id %> postgresql://ejabberd@db/ejabberd --from ejabberd-sql',
    '<%= config.bin %> <%= command.id %> ejabberd.db --from ejabberd-sql --host example.org',
    '<%= config.bin %> <%= command.id %> people.csv --from csv --on-conflict overwrite --json',
  ]

  static args = {source: Args.string({required: true, description: 'file, directory or (ejabberd-sql) postgresql:// URL to read'})}
  static flags = {
    from: Flags.string({description: 'format of SOURCE', options: [...SOURCE_FORMATS], required: true}),
    'on-conflict': Flags.string({description: 'what to do with an account that already exists', options: ['skip', 'overwrite', 'fail'], default: 'skip'}),
    'dry-run': Flags.boolean({description: 'read and check everything, report what would happen; write nothing'}),
    'add-hosts': Flags.boolean({description: 'add hosts found in SOURCE to the configuration file instead of reporting them'}),
    host: Flags.string({description: "ejabberd-sql: the host of a single-host schema's accounts, or the only host to read"}),
    'allow-partial': Flags.boolean({description: 'exit 0 even when some accounts of SOURCE are not imported (invalid, conflicting, unknown host, or none found)'}),
  }

  async run(): Promise<ImportResult> {
    const {args, flags: f} = await this.parse(UserImport)
    const format = f.from as SourceFormat
    const {checkSource} = await import('../../src/migrate/sources.js')
    await checkSource(format, args.source)
    const context = await this.accounts()
    const {importAccounts, IMPORT_BUCKETS} = await import('../../src/migrate/import.js')
    const {DATA_KINDS, DATA_LABELS} = await import('../../src/migrate/user-data.js')
    const {DerivePool} = await import('../../src/migrate/derive-pool.js')
    const {redactUrl, isPostgresUrl} = await import('../../src/migrate/ejabberd-sql.js')
    const pool = new DerivePool()
    const progress = createProgress('importing')
    let result: ImportResult
    try {
      result = await importAccounts(context, {
        format,
        source: args.source,
        host: f.host,
        onConflict: f['on-conflict'] as 'skip' | 'overwrite' | 'fail',
        dryRun: f['dry-run'],
        addHosts: f['add-hosts'],
        pool,
        onProgress: (records) => progress.update(records),
      })
    } finally {
      progress.done()
      await pool.close()
    }

    if (isPostgresUrl(result.source)) result.source = redactUrl(result.source)
    const counts = IMPORT_BUCKETS.filter((bucket) => result.counts[bucket] > 0 || bucket === 'created').map((bucket) => `${bucket} ${result.counts[bucket]}`)
    this.log(`${result.dryRun ? 'dry run: ' : ''}${counts.join(', ')}`)
    const data = DATA_KINDS.filter((kind) => result.data[kind] > 0).map((kind) => `${DATA_LABELS[kind]} ${result.data[kind]}`)
    if (data.length > 0) this.log(`${result.dryRun ? 'data that would come in' : 'data'}: ${data.join(', ')}`)
    for (const problem of result.dataProblems.slice(0, 50)) this.note(`${problem.jid}: ${problem.reason}, not imported`)
    for (const problem of result.problems.slice(0, 50)) this.log(`${problem.bucket}: ${problem.jid ? `${problem.jid}: ` : ''}${problem.reason} (${problem.where})`)
    if (result.problems.length > 50) this.log(`… ${result.problems.length - 50} more problems (see --json)`)
    if (result.addedHosts.length > 0) this.log(`${result.dryRun ? 'would add' : 'added'} hosts to the configuration: ${result.addedHosts.join(', ')}`)
    if (result.unknownHosts.length > 0) this.note(`hosts not configured, their accounts skipped: ${result.unknownHosts.join(', ')} (add them to hosts, or rerun with --add-hosts)`)
    if (result.notImported > 0 || result.sourceAccounts === 0) {
      const lost = IMPORT_BUCKETS.filter((bucket) => !['created', 'overwritten', 'unchanged'].includes(bucket) && result.counts[bucket] > 0).map((bucket) => `${bucket} ${result.counts[bucket]}`)
      const what = result.sourceAccounts === 0 ? `${result.source} holds no account` : `${result.notImported} of ${result.sourceAccounts} accounts in the source ${result.dryRun ? 'would not be' : 'were not'} imported (${lost.join(', ')})`
      if (f['allow-partial']) this.note(what)
      else {
        this.note(`${what}; rerun with --allow-partial to accept this`)
        this.setExitStatus(ExitCode.false)
      }
    }

    if (result.sideFile) this.log(`kept other data (privacy lists…) of ${result.sideFileUsers} users in ${result.sideFile}: xmppctl cannot store it`)
    return result
  }
}
