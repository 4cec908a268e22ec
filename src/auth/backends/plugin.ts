/**
 * A plugin's backend as one of ours (src/auth/types.ts). The plugin API is
 * smaller on purpose: a left-out method is an operation the backend cannot
 * do (UnsupportedError), and whatever a plugin throws becomes "unavailable",
 * so a broken plugin degrades one backend and never crashes the server.
 */
import {UnavailableError, UnsupportedError} from '../../errors.js'
import type {AuthLog} from '../chain.js'
import type {AuthOutcome} from '../../sasl/session.js'
import type {AuthBackend, BackendCapabilities} from '../types.js'
import type {HostSettings} from '../../config/index.js'
import type {PluginBackend, PluginBackendContext, PluginOutcome} from '../../plugins/api.js'
import type {RegisteredBackend} from '../../config/plugins.js'

const OUTCOMES = new Set(['accepted', 'rejected', 'disabled', 'unavailable'])

/** The message of whatever a plugin threw, one line, bounded. */
export function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error)
  const line = text.split('\n')[0]
  return line.length > 300 ? `${line.slice(0, 297)}...` : line
}

export function pluginContext(settings: HostSettings, baseDir: string, log: AuthLog): PluginBackendContext {
  return {host: settings.host, settings: Object.freeze({...settings}) as Readonly<Record<string, unknown>>, baseDir, log}
}

export class PluginBackendAdapter implements AuthBackend {
  readonly method: string
  readonly cacheable: boolean
  private readonly backend: PluginBackend | undefined
  /** Why the plugin could not build its backend, if it could not. */
  private readonly failed: string | undefined

  constructor(
    readonly registered: RegisteredBackend,
    context: PluginBackendContext,
  ) {
    this.method = registered.method
    let backend: PluginBackend | undefined
    let failed: string | undefined
    try {
      backend = registered.definition.create(context)
      if (!backend || typeof backend.checkPassword !== 'function') failed = 'its create() did not return a backend with checkPassword'
    } catch (error) {
      failed = errorText(error)
    }

    this.backend = failed ? undefined : backend
    this.failed = failed === undefined ? undefined : `the ${this.method} backend of the plugin ${registered.plugin.name} could not be created: ${failed}`
    this.cacheable = this.backend?.cacheable ?? true
  }

  /** The plugin's own backend (for its diagnostics); undefined when create() failed. */
  get inner(): PluginBackend | undefined {
    return this.backend
  }

  get creationError(): string | undefined {
    return this.failed
  }

  private unsupported(what: string): UnsupportedError {
    return new UnsupportedError(`the ${this.method} backend cannot ${what}`, `manage these accounts where the ${this.method} backend keeps them`)
  }

  private require(): PluginBackend {
    if (!this.backend) throw new UnavailableError(this.failed!, `see "xmppctl test-auth ${this.method}" and "xmppctl plugins list"`)
    return this.backend
  }

  private unavailable(what: string, error: unknown): UnavailableError {
    if (error instanceof UnavailableError || error instanceof UnsupportedError) return error
    return new UnavailableError(`the ${this.method} backend failed to ${what}: ${errorText(error)}`, `run "xmppctl test-auth ${this.method}"`, error)
  }

  async capabilities(): Promise<BackendCapabilities> {
    if (!this.backend) return {plain: false, scram: [], anonymous: false, unavailable: this.failed}
    if (!this.backend.capabilities) return {plain: true, scram: [], anonymous: false}
    try {
      const {plain, unavailable} = await this.backend.capabilities()
      return {plain: Boolean(plain) && !unavailable, scram: [], anonymous: false, ...(unavailable ? {unavailable: String(unavailable)} : {})}
    } catch (error) {
      return {plain: false, scram: [], anonymous: false, unavailable: `the ${this.method} backend failed: ${errorText(error)}`}
    }
  }

  async checkPassword(username: string, password: string): Promise<AuthOutcome> {
    if (!this.backend) return {result: 'unavailable', reason: this.failed!}
    let outcome: PluginOutcome
    try {
      outcome = await this.backend.checkPassword(username, password)
    } catch (error) {
      return {result: 'unavailable', reason: `the ${this.method} backend failed: ${errorText(error)}`}
    }

    if (!outcome || !OUTCOMES.has(outcome.result)) {
      return {result: 'unavailable', reason: `the ${this.method} backend answered something that is not an outcome`}
    }

    if (outcome.result === 'accepted') return {result: 'accepted'}
    return {result: outcome.result, reason: String(outcome.reason ?? outcome.result)}
  }

  async getScramCredentials(): Promise<never> {
    throw this.unsupported('serve SCRAM: an auth plugin checks plaintext passwords')
  }

  async userExists(username: string): Promise<boolean> {
    const backend = this.require()
    if (!backend.userExists) throw this.unsupported('tell whether a user exists')
    try {
      return Boolean(await backend.userExists(username))
    } catch (error) {
      throw this.unavailable('tell whether a user exists', error)
    }
  }

  async setPassword(username: string, password: string): Promise<void> {
    const backend = this.require()
    if (!backend.setPassword) throw this.unsupported('set passwords')
    try {
      await backend.setPassword(username, password)
    } catch (error) {
      throw this.unavailable('set the password', error)
    }
  }

  async createUser(username: string, password: string): Promise<void> {
    const backend = this.require()
    if (!backend.createUser) throw this.unsupported('create accounts')
    try {
      await backend.createUser(username, password)
    } catch (error) {
      throw this.unavailable('create the account', error)
    }
  }

  async removeUser(username: string): Promise<void> {
    const backend = this.require()
    if (!backend.removeUser) throw this.unsupported('remove accounts')
    try {
      await backend.removeUser(username)
    } catch (error) {
      throw this.unavailable('remove the account', error)
    }
  }

  async close(): Promise<void> {
    try {
      await this.backend?.close?.()
    } catch {}
  }
}
