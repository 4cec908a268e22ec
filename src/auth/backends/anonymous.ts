/**
 * The anonymous backend (`anonymous_protocol`): `sasl_anon` offers SASL
 * ANONYMOUS (RFC 4505) with a random localpart; `login_anon` accepts a PLAIN
 * login with any password for a username no other backend of the host knows
 * (ejabberd's semantics), so it can never shadow a real account.
 */
import {randomBytes} from 'node:crypto'

import type {HostSettings} from '../../config/index.js'
import type {AuthOutcome} from '../../sasl/session.js'
import type {AuthBackend, BackendCapabilities} from '../types.js'
import {unsupported} from './unsupported.js'

/** RFC 4648 base32, lower case: valid in any JID localpart, no case-folding surprises. */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

/** 26 base32 characters: 130 random bits, so a localpart cannot be guessed or collide. */
export function randomLocalpart(): string {
  const bytes = randomBytes(26)
  let name = ''
  for (const byte of bytes) name += ALPHABET[byte & 31]
  return name
}

export class AnonymousBackend implements AuthBackend {
  readonly method = 'anonymous' as const
  readonly cacheable = false
  /** Set by the chain: whether another backend of this host knows `username`. */
  existsElsewhere: (username: string) => Promise<boolean> = async () => false

  constructor(private readonly settings: Pick<HostSettings, 'anonymous_protocol'>) {}

  get saslAnonymous(): boolean {
    return this.settings.anonymous_protocol !== 'login_anon'
  }

  get loginAnonymous(): boolean {
    return this.settings.anonymous_protocol !== 'sasl_anon'
  }

  async capabilities(): Promise<BackendCapabilities> {
    return {plain: this.loginAnonymous, scram: [], anonymous: this.saslAnonymous}
  }

  async checkPassword(username: string): Promise<AuthOutcome> {
    if (!this.loginAnonymous) return {result: 'unsupported', reason: 'anonymous_protocol is sasl_anon, so PLAIN logins are not anonymous'}
    if (await this.existsElsewhere(username)) return {result: 'rejected', reason: `${username} is a registered account, not an anonymous one`}
    return {result: 'accepted'}
  }

  async getScramCredentials(): Promise<never> {
    throw unsupported(this.method, 'serve SCRAM: anonymous users have no stored credentials')
  }

  async userExists(): Promise<boolean> {
    // Anonymous users exist only while connected; the session manager knows them, not the backend.
    return false
  }

  async setPassword(): Promise<never> {
    throw unsupported(this.method, 'set passwords')
  }

  async createUser(): Promise<never> {
    throw unsupported(this.method, 'create accounts')
  }

  async removeUser(): Promise<never> {
    throw unsupported(this.method, 'remove accounts')
  }

  async close(): Promise<void> {}
}
