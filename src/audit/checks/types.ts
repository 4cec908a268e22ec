import type {Configuration} from '../../config/index.js'
import type {ServerStatus} from '../../server/server.js'
import type {AccountStore} from '../../store/index.js'
import type {PostgresDatabase} from '../../store/postgres/database.js'
import type {AuditFinding} from '../findings.js'
import type {SystemUser} from '../../system.js'

export interface AuditContext {
  config: Configuration
  /** The user the server runs as (`--as`), whose access the checks judge. */
  user: SystemUser
  /** Whether this process may chown (it runs as root). */
  root: boolean
  now: Date
  /** The account store, or undefined when none exists yet (opening it must not create it); throws a typed error when it cannot be opened (a PostgreSQL server out of reach). */
  store(): Promise<AccountStore | undefined>
  /**
   * The PostgreSQL store (sql_type: pgsql), connected to once per audit with the audit's short waits: every check
   * that asks shares the connection, or the error, so that a server out of reach costs one wait, not one per check.
   */
  postgres(): Promise<PostgresDatabase>
  /** The running server's status over its control socket, or why it could not be had (none runs, or it does not answer). */
  server(): Promise<ServerStatus | {notRunning: string}>
  /** The check could not look (no server runs): the audit says so instead of passing it in silence. */
  skip(reason: string): void
}

export interface Check {
  id: string
  description: string
  /** The finding ids this check can produce, so `--only` may name one of them. */
  findings: readonly string[]
  run(context: AuditContext): Promise<AuditFinding[]>
}
