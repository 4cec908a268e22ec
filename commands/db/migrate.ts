import {BaseCommand} from '../../src/cli/base-command.js'
import {displayPath} from '../../src/paths.js'
import type {SchemaStatus} from '../../src/store/index.js'

export interface DbMigrateResult {
  location: string
  from: number | null
  to: number | null
  applied: SchemaStatus['pending']
}

export default class DbMigrate extends BaseCommand<DbMigrateResult> {
  static description = `Bring the store's schema up to date

Runs the pending migrations (see "xmppctl db status") in one transaction: a store is either migrated whole or left as it was. Refuses a store written by a newer xmppctl (exit 2). Creates no SQLite store; an empty PostgreSQL database (sql_type: pgsql) gets its tables. Back the store up first: an older xmppctl cannot open a migrated store. Safe while the server runs; the server itself migrates at start unless update_sql_schema is false.`

  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  async run(): Promise<DbMigrateResult> {
    await this.parse(DbMigrate)
    const {migrateSchema} = await import('../../src/store/index.js')
    const {before, after} = await migrateSchema(await this.loadConfiguration())
    const where = displayPath(after.location)
    if (before.version === null) this.log(`${where}: tables created at schema ${after.version}`)
    else if (before.pending.length === 0) this.log(`${where}: schema ${after.version}, current: nothing to migrate`)
    else this.log(`${where}: migrated from schema ${before.version} to ${after.version} (${before.pending.map((migration) => migration.version).join(', ')})`)
    return {location: after.location, from: before.version, to: after.version, applied: before.pending}
  }
}
