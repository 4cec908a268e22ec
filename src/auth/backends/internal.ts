/**
 * The internal backend: accounts in the xmppctl store, as SCRAM credentials or
 * plaintext per `auth_password_format` (DESIGN.md "Authentication").
 */
import {createHmac} from 'node:crypto'

import {deriveSecrets, verifyAccountPassword} from '../../accounts/index.js'
import type {HostSettings} from '../../config/index.js'
import {AccountAbsentError, PasswordError} from '../../errors.js'
import {SCRAM_HASHES, SCRAM_SALT_BYTES, type ScramCredentials, type ScramHash, deriveScramCredentials, verifyScramPassword} from '../../sasl/scram.js'
import type {AccountStore} from '../../store/index.js'
import {scramCoverage} from '../coverage.js'
import type {AuthOutcome} from '../../sasl/session.js'
import type {AuthBackend, BackendCapabilities} from '../types.js'

export class InternalBackend implements AuthBackend {
  readonly method = 'internal' as const
  readonly cacheable = false
  private decoy: Promise<ScramCredentials> | undefined

  constructor(
    private readonly settings: HostSettings,
    private readonly store: AccountStore,
    private readonly secret: Buffer,
  ) {}

  private get host(): string {
    return this.settings.host
  }

  async capabilities(): Promise<BackendCapabilities> {
    const {scram, missing} = await scramCoverage(this.store, this.settings)
    return {plain: true, scram, anonymous: false, scramMissing: missing}
  }

  async checkPassword(username: string, password: string): Promise<AuthOutcome> {
    const account = await this.store.getAccount(this.host, username)
    if (!account) {
      // Same work as for a real account, so the time does not tell absence.
      await verifyScramPassword(password, await this.decoyCredentials())
      return {result: 'rejected', reason: `${username}@${this.host} does not exist in the internal store`}
    }

    let valid = false
    try {
      valid = await verifyAccountPassword(account, password)
    } catch (error) {
      if (!(error instanceof PasswordError)) throw error
    }

    if (!valid) return {result: 'rejected', reason: 'wrong password'}
    if (account.state === 'disabled') return {result: 'disabled', reason: account.disabledReason ?? 'the account is disabled'}
    return {result: 'accepted'}
  }

  async getScramCredentials(username: string, hash: ScramHash): Promise<{credentials: ScramCredentials; disabled?: string} | undefined> {
    const account = await this.store.getLoginSecrets(this.host, username, hash)
    if (!account) return undefined
    let {credentials} = account
    if (!credentials && account.plaintext !== undefined) {
      // Derived from plaintext with a salt fixed per account, so two attempts
      // show the same salt, as stored credentials (and fake ones) do.
      const salt = createHmac('sha256', this.secret).update(`xmppctl plaintext salt\0${this.host}\0${username}\0${hash}`).digest().subarray(0, SCRAM_SALT_BYTES)
      try {
        credentials = await deriveScramCredentials(account.plaintext, hash, {iterations: this.settings.auth_scram_iterations, salt})
      } catch (error) {
        if (!(error instanceof PasswordError)) throw error
        return undefined
      }
    }

    if (!credentials) return undefined
    return account.state === 'disabled' ? {credentials, disabled: account.disabledReason ?? 'the account is disabled'} : {credentials}
  }

  async userExists(username: string): Promise<boolean> {
    return this.store.accountExists(this.host, username)
  }

  async setPassword(username: string, password: string): Promise<void> {
    const existing = await this.store.getAccount(this.host, username)
    if (!existing) throw new AccountAbsentError(`${username}@${this.host}`)
    const iterations = existing.credentials.length === 0 ? 0 : Math.max(...existing.credentials.map((credential) => credential.iterations))
    const secrets = await deriveSecrets(this.settings, password, iterations)
    if (!(await this.store.replaceSecrets(this.host, username, secrets))) throw new AccountAbsentError(`${username}@${this.host}`)
  }

  async createUser(username: string, password: string): Promise<void> {
    await this.store.createAccount(this.host, username, await deriveSecrets(this.settings, password))
  }

  async removeUser(username: string): Promise<void> {
    if (!(await this.store.deleteAccount(this.host, username))) throw new AccountAbsentError(`${username}@${this.host}`)
  }

  async close(): Promise<void> {
    // The store belongs to whoever created the authenticators.
  }

  private decoyCredentials(): Promise<ScramCredentials> {
    const hash = [...this.settings.auth_scram_hash].sort((a, b) => SCRAM_HASHES.indexOf(b) - SCRAM_HASHES.indexOf(a))[0] ?? 'sha256'
    this.decoy ??= deriveScramCredentials('decoy password', hash, {iterations: this.settings.auth_scram_iterations})
    return this.decoy
  }
}
