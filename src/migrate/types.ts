/**
 * What every source format yields, one record at a time, so that an importer
 * never holds a whole source in memory.
 */
import type {ScramCredentials} from '../sasl/scram.js'
import type {SourceUserData} from './user-data.js'

/** An account as a source holds it: names still raw, secrets as found. */
export interface SourceAccount {
  kind: 'account'
  /** Where it came from, for the summary: `file:line`, `table row N`. */
  where: string
  host: string
  username: string
  /** Plaintext, when the source holds it. */
  password: string | undefined
  credentials: ScramCredentials[]
  /** Per-user data xmppctl cannot store (privacy lists…), as a XEP-0227 `<user>` fragment. */
  extra: string | undefined
  /** Per-user data the server stores (roster, vCard, offline messages, private XML), as the source wrote it. */
  data?: SourceUserData
}

/** A record that cannot be an account: malformed, truncated, unknown encoding. */
export interface SourceProblem {
  kind: 'invalid'
  where: string
  reason: string
  /** The JID, when the record named one. */
  jid?: string
}

export type SourceRecord = SourceAccount | SourceProblem

export type SourceFormat = 'xep0227' | 'prosody' | 'ejabberd-sql' | 'csv'
export const SOURCE_FORMATS: readonly SourceFormat[] = ['xep0227', 'prosody', 'ejabberd-sql', 'csv']

export type ExportFormat = 'xep0227' | 'csv'
export const EXPORT_FORMATS: readonly ExportFormat[] = ['xep0227', 'csv']
