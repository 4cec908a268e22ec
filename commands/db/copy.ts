import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {createProgress} from '../../src/cli/progress.js'
import {UsageError} from '../../src/errors.js'
import {displayPath} from '../../src/paths.js'
import type {CopyResult} from '../../src/store/copy.js'

export default class DbCopy extends BaseCommand<CopyResult> {
  static description = `Copy every row of one store into another: SQLite to PostgreSQL, or back

Moves a site between the engines with nothing lost: accounts and credentials, rosters, offline messages, vCards, private XML, blocking lists, PEP, rooms and the archive, table by table, in batches of one transaction each. The source is read as one snapshot and left unchanged; the copy ends by comparing every table's row count with the source's. The target must be empty (a new data directory, or a new database: its tables are created). Killed part way, rerun the same command: it goes on from the last batch; until it finishes, the target refuses to open.

A store is sqlite:DATA_DIR (the directory holding accounts.sqlite) or postgresql://USER@HOST:PORT/DATABASE (?sslmode=require or verify-full; a Unix socket directory percent-encoded as the host). Its password comes from PGPASSWORD or ~/.pgpass, never the command line. Left out, --from or --to is the store this configuration names.

Stop the server first ("xmppctl stop"): what it writes after the copy starts would not be copied. --live copies a running server's store as it was when the copy started. Afterwards, point the configuration at the new store (sql_type and the sql_* keys, or data_dir) and start the server.`

  static examples = [
    '<%= config.bin %> <%= command.id %> --from sqlite:./data',
    'PGPASSWORD=… <%= config.bin %> <%= command.id %> --from sqlite:/var/lib/xmppctl --to postgresql://xmppctl@db.example.org/xmppctl?sslmode=verify-full',
    '<%= config.bin %> <%= command.id %> --to sqlite:/var/backups/xmppctl --json',
  ]

  static flags = {
    from: Flags.string({description: 'store to read (default: the configuration\'s)', helpValue: 'STORE'}),
    to: Flags.string({description: 'empty store to write (default: the configuration\'s)', helpValue: 'STORE'}),
    live: Flags.boolean({description: 'copy although the configuration\'s server runs on the source (later changes are not copied)', default: false}),
  }

  async run(): Promise<CopyResult> {
    const {flags} = await this.parse(DbCopy)
    if (flags.from === undefined && flags.to === undefined) throw new UsageError('db copy needs --from or --to', 'the other side is the configuration\'s store; for example: xmppctl db copy --from sqlite:./data')
    const config = await this.loadConfiguration()
    const {configuredStoreAddress, copyStore, parseStoreAddress, refuseServedStore} = await import('../../src/store/copy.js')
    const configured = await configuredStoreAddress(config)
    const from = flags.from === undefined ? configured : parseStoreAddress(flags.from)
    const to = flags.to === undefined ? configured : parseStoreAddress(flags.to)
    const {serverRunning} = await import('../../src/running-server.js')
    await refuseServedStore(config, from, to, {live: flags.live, serverRunning: () => serverRunning(config)})
    const progress = createProgress('copying')
    let result: CopyResult
    try {
      result = await copyStore(from, to, {onProgress: (done, total) => progress.update(done, total)})
    } finally {
      progress.done()
    }

    for (const {table, rows} of result.tables) if (rows > 0) this.log(`${table} ${rows}`)
    this.log(`${result.resumed ? 'finished the copy' : 'copied'} ${result.rows} rows from ${displayPath(result.from)} to ${displayPath(result.to)}; every table's row count matches`)
    return result
  }
}
