import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {createProgress} from '../../src/cli/progress.js'
import {confirmAction} from '../../src/cli/prompts.js'
import {ExitCode, UsageError, XmppctlError} from '../../src/errors.js'
import type {ConvertResult} from '../../src/migrate/convert.js'
import {type ScramHash, isScramHash, scramMechanismName} from '../../src/sasl/scram.js'

export interface ScramConvertResult extends ConvertResult {
  backup?: string
}

export default class ScramConvert extends BaseCommand<ScramConvertResult> {
  static description = `Convert plaintext passwords to SCRAM credentials

For every account still holding its password in plaintext (all configured hosts, or the HOSTs given), stores SCRAM credentials for every hash in auth_scram_hash (or --hash) with auth_scram_iterations (or --iterations), and removes the plaintext in the same transaction. This cannot be undone: it asks on a terminal, and needs --yes otherwise; --backup writes a XEP-0227 export first.

Work is done in batches of one transaction each, PBKDF2 on every core: a kill at any moment leaves each account with its plaintext or all of its credentials, and a rerun continues. A password SASLprep refuses is left as it is and reported in the "failed" bucket.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> --dry-run', description: 'See how many accounts would be converted, and which cannot be'},
    {command: '<%= config.bin %> <%= command.id %> example.org --backup before-scram.xml --yes', description: 'Convert one host after writing a backup'},
    '<%= config.bin %> <%= command.id %> --hash sha1,sha256,sha512 --iterations 10000 --yes --json',
  ]

  static strict = false
  static args = {host: Args.string({description: 'convert only accounts of these hosts (repeatable; default: every configured host)'})}
  static flags = {
    hash: Flags.string({description: 'hashes to store, comma-separated (default: auth_scram_hash)', helpValue: 'sha1,sha256,sha512'}),
    iterations: Flags.integer({description: 'PBKDF2 iterations (default: auth_scram_iterations)', min: 4096, max: 10_000_000}),
    'dry-run': Flags.boolean({description: 'report what would change (counts per host, passwords that cannot be converted); change nothing'}),
    yes: Flags.boolean({char: 'y', description: 'convert without asking (required when standard input is not a terminal)'}),
    'batch-size': Flags.integer({description: 'accounts per transaction: the most a kill can lose is the batch in flight', default: 500, min: 1, max: 100_000}),
    backup: Flags.string({description: 'first write every account of the selected hosts to this XEP-0227 file (created 0600)', helpValue: 'FILE'}),
  }

  async run(): Promise<ScramConvertResult> {
    const {argv, flags: f} = await this.parse(ScramConvert)
    const hosts = argv as string[]
    const hashes = f.hash === undefined ? undefined : parseHashes(f.hash)
    const context = await this.accounts({create: false})
    const {convertToScram, plaintextCounts} = await import('../../src/migrate/convert.js')
    const counts = await plaintextCounts(context, hosts)
    const total = [...counts.values()].reduce((sum, count) => sum + count, 0)
    let backup: string | undefined
    if (!f['dry-run'] && total > 0) {
      const what = `convert the plaintext passwords of ${total} account${total === 1 ? '' : 's'} to SCRAM (irreversible${f.backup ? '' : ', no --backup'})`
      if (!(await confirmAction(what, f.yes, '--yes'))) {
        throw new XmppctlError('cancelled', 'conversion cancelled; nothing changed', {exitCode: ExitCode.false})
      }

      if (f.backup) {
        const {exportAccounts} = await import('../../src/migrate/export.js')
        const exported = await exportAccounts(context, {format: 'xep0227', dest: f.backup, hosts: [...counts.keys()], force: false})
        this.log(`backup: ${exported.accounts} accounts written to ${f.backup}`)
        backup = f.backup
      }
    }

    const {DerivePool} = await import('../../src/migrate/derive-pool.js')
    const pool = f['dry-run'] ? undefined : new DerivePool()
    const progress = createProgress('converting')
    let result: ConvertResult
    try {
      result = await convertToScram(context, {hosts, hashes, iterations: f.iterations, dryRun: f['dry-run'], pool, batchSize: f['batch-size'], onProgress: (done, all) => progress.update(done, all)})
    } finally {
      progress.done()
      await pool?.close()
    }

    const verb = result.dryRun ? 'would convert' : 'converted'
    for (const host of result.hosts) {
      const storage = `${host.hashes.map((hash) => scramMechanismName(hash)).join(', ')}, ${host.iterations} iterations`
      this.log(`${host.host}: ${verb} ${host.converted}, already SCRAM ${host.already}, failed ${host.failed} (${storage})`)
    }

    this.log(`${result.dryRun ? 'dry run: ' : ''}${verb} ${result.converted}, already ${result.already}, failed ${result.failedCount}`)
    for (const failure of result.failed) this.log(`failed: ${failure.jid}: ${failure.reason}`)
    if (result.failedCount > result.failed.length) this.log(`failed: … and ${result.failedCount - result.failed.length} more`)
    if (result.failedCount > 0) this.note(`${result.failedCount} account${result.failedCount === 1 ? ' keeps its' : 's keep their'} plaintext: set a new password with "xmppctl user passwd JID"`)
    return {...result, ...(backup ? {backup} : {})}
  }
}

function parseHashes(text: string): ScramHash[] {
  const hashes = text.split(',').map((hash) => hash.trim().toLowerCase().replace(/^sha-/, 'sha'))
  const bad = hashes.find((hash) => !isScramHash(hash))
  if (bad !== undefined || hashes.length === 0) throw new UsageError(`--hash ${JSON.stringify(text)} names an unknown hash${bad ? ` (${bad})` : ''}`, 'use a comma-separated list of sha1, sha256 and sha512')
  return [...new Set(hashes as ScramHash[])]
}
