import type {Configuration} from '../../config/index.js'
import type {AccountStore} from '../../store/index.js'
import type {AuditFinding} from '../findings.js'
import type {SystemUser} from '../system.js'

export interface AuditContext {
  config: Configuration
  /** The user the server runs as (`--as`), whose access the checks judge. */
  user: SystemUser
  /** Whether this process may chown (it runs as root). */
  root: boolean
  now: Date
  /** The account store, or undefined when none exists yet (opening it must not create it). */
  store(): Promise<AccountStore | undefined>
}

export interface Check {
  id: string
  description: string
  /** The finding ids this check can produce, so `--only` may name one of them. */
  findings: readonly string[]
  run(context: AuditContext): Promise<AuditFinding[]>
}
