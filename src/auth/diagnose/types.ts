import type {Configuration} from '../../config/index.js'
import type {AccountStore} from '../../store/index.js'

export interface DiagnoseInput {
  config: Configuration
  host: string
  store: AccountStore
  /** Relative paths in the configuration are relative to this directory. */
  baseDir: string
  /** The normalised localpart of the test account, if one was given. */
  username?: string
  password?: string
  /** A JWT for the jwt backend. */
  token?: string
  secret: Buffer
  pamHelper?: string
}
