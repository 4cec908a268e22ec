/**
 * The contract between authentication (src/auth) and its two users: the
 * bundled server and `xmppctl test-auth`. Both call exactly this, so what
 * test-auth says works is what the server does (DESIGN.md "Authentication").
 */
import type {AuthMethod, AuthOutcome, ChannelBindingType, ConnectionSecurity, SaslSession} from '../sasl/session.js'
import type {ScramCredentials, ScramHash} from '../sasl/scram.js'

/** What a backend can serve right now; the offered SASL mechanisms are computed from this. */
export interface BackendCapabilities {
  /** It can check a plaintext password (PLAIN). */
  plain: boolean
  /** Hashes for which it holds SCRAM credentials for every account (SCRAM-SHA-x). */
  scram: ScramHash[]
  /** It accepts anonymous logins. */
  anonymous: boolean
  /** Why a hash is absent from `scram` ("3 accounts lack SHA-512 credentials"), for diagnostics. */
  scramMissing?: Partial<Record<ScramHash, string>>
  /** Why the backend can serve nothing right now (it is unavailable), for diagnostics. */
  unavailable?: string
  /** SASL GSSAPI (RFC 4752): whether the keytab and the acceptor can serve it, and why (the gssapi backend only). */
  gssapi?: {ready: boolean; why: string}
}

/** One authentication backend for one host. */
export interface AuthBackend {
  readonly method: AuthMethod
  /** Slow to ask (a process, a socket, PAM): its answers may be cached (`auth_use_cache`). */
  readonly cacheable: boolean
  capabilities(): Promise<BackendCapabilities>
  checkPassword(username: string, password: string): Promise<AuthOutcome>
  /**
   * Stored credentials for SCRAM; `undefined` when the user is absent or lacks
   * this hash. Backends without stored credentials throw UnsupportedError.
   */
  getScramCredentials(username: string, hash: ScramHash): Promise<{credentials: ScramCredentials; disabled?: string} | undefined>
  userExists(username: string): Promise<boolean>
  setPassword(username: string, password: string): Promise<void>
  /** Creates an account (in-band registration); throws UnsupportedError where the backend cannot. */
  createUser(username: string, password: string): Promise<void>
  removeUser(username: string): Promise<void>
  close(): Promise<void>
}

/** Authentication of one host: the mechanisms it offers and their sessions. */
export interface HostAuthenticator {
  readonly host: string
  /** The mechanisms that can really be served on this connection, best first. */
  mechanisms(connection: ConnectionSecurity): Promise<readonly string[]>
  /** The channel-binding types to announce (XEP-0440) on this connection. */
  channelBindingTypes(connection: ConnectionSecurity): ChannelBindingType[]
  /** `undefined` when the mechanism is not offered on this connection (`invalid-mechanism`). */
  start(mechanism: string, connection: ConnectionSecurity): Promise<SaslSession | undefined>
  /**
   * Drops what is cached about `username` (auth cache, mechanism coverage):
   * call it when a password changes or an account is deleted or disabled.
   */
  invalidate(username: string): void
  close(): Promise<void>
}
