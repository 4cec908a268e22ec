import {UnavailableError} from '../../errors.js'
import type {AuthBackend, AuthMethod, AuthOutcome, BackendCapabilities} from '../types.js'

/** A configured method this version does not implement yet (ldap, gssapi): it serves nothing, and says so. */
export class UnimplementedBackend implements AuthBackend {
  readonly cacheable = false

  constructor(readonly method: AuthMethod) {}

  private get reason(): string {
    return `the ${this.method} backend is not implemented in this version of xmppctl`
  }

  async capabilities(): Promise<BackendCapabilities> {
    return {plain: false, scram: [], anonymous: false, unavailable: this.reason}
  }

  async checkPassword(): Promise<AuthOutcome> {
    return {result: 'unavailable', reason: this.reason}
  }

  async getScramCredentials(): Promise<never> {
    throw new UnavailableError(this.reason, `remove ${this.method} from auth_method`)
  }

  async userExists(): Promise<never> {
    throw new UnavailableError(this.reason, `remove ${this.method} from auth_method`)
  }

  async setPassword(): Promise<never> {
    throw new UnavailableError(this.reason, `remove ${this.method} from auth_method`)
  }

  async createUser(): Promise<never> {
    throw new UnavailableError(this.reason, `remove ${this.method} from auth_method`)
  }

  async removeUser(): Promise<never> {
    throw new UnavailableError(this.reason, `remove ${this.method} from auth_method`)
  }

  async close(): Promise<void> {}
}
