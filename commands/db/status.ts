import {BaseCommand} from '../../src/cli/base-command.js'
import {ExitCode} from '../../src/errors.js'
import {displayPath} from '../../src/paths.js'
import type {SchemaStatus} from '../../src/store/index.js'

export default class DbStatus extends BaseCommand<SchemaStatus> {
  static description = `Show the store's schema version and the migrations this xmppctl would run

Reads the store without changing it: the engine and file, the schema version it holds, the one this xmppctl needs, and each pending migration with the tables it creates. With update_sql_schema: true (the default, ejabberd's name) any command that opens the store runs them; with false, only "xmppctl db migrate" does.

Exit status: 0 current, 1 migrations pending or no store yet, 2 a store from a newer xmppctl.`

  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  async run(): Promise<SchemaStatus> {
    await this.parse(DbStatus)
    const {schemaStatus} = await import('../../src/store/index.js')
    const status = await schemaStatus(await this.loadConfiguration())
    const where = `${status.engine} ${displayPath(status.location)}`
    if (status.state === 'absent') this.log(`${where}: no store yet (the first "xmppctl user add" or "xmppctl start" creates it at schema ${status.expected})`)
    else if (status.state === 'current') this.log(`${where}: schema ${status.version}, current`)
    else if (status.state === 'newer') this.log(`${where}: schema ${status.version}, newer than this xmppctl understands (${status.expected}): upgrade xmppctl`)
    else {
      this.log(`${where}: schema ${status.version}, this xmppctl needs ${status.expected}; pending:`)
      for (const migration of status.pending) this.log(`  ${migration.version}${migration.creates.length > 0 ? `: creates ${migration.creates.join(', ')}` : ': changes existing tables'}`)
      this.log(status.migratesOnOpen ? 'they run when the store is next opened (update_sql_schema: true), or now with "xmppctl db migrate"' : 'update_sql_schema is false: run "xmppctl db migrate" (after a backup)')
    }

    this.setExitStatus(status.state === 'current' ? ExitCode.ok : status.state === 'newer' ? ExitCode.usage : ExitCode.false)
    return status
  }
}
