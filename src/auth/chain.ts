/**
 * The chain (`auth_method`): a host's backends tried in order; the first that
 * accepts wins. A backend that could not be asked is *unavailable*, and that is
 * what the chain reports when nobody accepted — never a silent *rejected*,
 * which would tell a user their right password is wrong. The cache sits in
 * front of the backends that are slow to ask.
 */
import {performance} from 'node:perf_hooks'

import {UnavailableError, UnsupportedError, isXmppctlError} from '../errors.js'
import type {ScramCredentials, ScramHash} from '../sasl/scram.js'
import {AnonymousBackend} from './backends/anonymous.js'
import type {AuthCache} from './cache.js'
import type {BackendOffer} from './offer.js'
import type {AuthMethod, AuthOutcome} from '../sasl/session.js'
import type {AuthBackend} from './types.js'

export interface Attempt {
  method: AuthMethod
  outcome: AuthOutcome
  /** Milliseconds spent (≈0 for a cache hit). */
  ms: number
  cached: boolean
}

/** The chain's verdict: the deciding backend (if any) and every attempt, for diagnostics. */
export type ChainOutcome = AuthOutcome & {method?: AuthMethod; attempts: Attempt[]}

export interface AuthLog {
  error(message: string): void
  warn(message: string): void
  info(message: string): void
  debug(message: string): void
}

export const silentAuthLog: AuthLog = {error() {}, warn() {}, info() {}, debug() {}}

/** Why an account is disabled in the account store, or undefined when it is not (or not there). */
export type DisabledLookup = (username: string) => Promise<string | undefined>

export class AuthChain {
  constructor(
    readonly host: string,
    readonly backends: readonly AuthBackend[],
    readonly cache: AuthCache,
    private readonly log: AuthLog = silentAuthLog,
    /**
     * `user disable` marks the account in the store; a password another
     * backend (saslauthd, PAM, a script) accepts must not let it in either.
     */
    readonly disabledReason: DisabledLookup = async () => undefined,
  ) {
    for (const backend of backends) {
      if (backend instanceof AnonymousBackend) {
        backend.existsElsewhere = (username) => this.userExists(username, backend)
      }
    }
  }

  async checkPassword(username: string, password: string): Promise<ChainOutcome> {
    const attempts: Attempt[] = []
    for (const backend of this.backends) {
      const started = performance.now()
      const useCache = backend.cacheable && this.cache.enabled
      const cached = useCache ? this.cache.getPassword(backend.method, username, password) : undefined
      let outcome: AuthOutcome
      if (cached !== undefined) {
        outcome = cached ? {result: 'accepted'} : {result: 'rejected', reason: 'rejected (cached answer)'}
      } else {
        outcome = await guard(backend.method, () => backend.checkPassword(username, password))
        if (useCache && (outcome.result === 'accepted' || outcome.result === 'rejected')) {
          this.cache.setPassword(backend.method, username, password, outcome.result === 'accepted')
        }
      }

      attempts.push({method: backend.method, outcome, ms: performance.now() - started, cached: cached !== undefined})
      if (outcome.result === 'unavailable') this.log.warn(`auth ${this.host}: the ${backend.method} backend is unavailable: ${outcome.reason}`)
      if (outcome.result === 'accepted') {
        const disabled = await guard(backend.method, async () => {
          const reason = await this.disabledReason(username)
          return reason === undefined ? outcome : {result: 'disabled', reason}
        })
        return {...disabled, method: backend.method, attempts}
      }

      if (outcome.result === 'disabled') return {...outcome, method: backend.method, attempts}
    }

    const unavailable = attempts.filter(({outcome}) => outcome.result === 'unavailable')
    if (unavailable.length > 0) {
      return {
        result: 'unavailable',
        reason: unavailable.map(({method, outcome}) => `${method}: ${(outcome as {reason: string}).reason}`).join('; '),
        attempts,
      }
    }

    const rejected = attempts.filter(({outcome}) => outcome.result === 'rejected')
    if (rejected.length > 0) {
      return {result: 'rejected', reason: rejected.map(({method, outcome}) => `${method}: ${(outcome as {reason: string}).reason}`).join('; '), attempts}
    }

    return {result: 'unsupported', reason: 'no backend of this host can check a password', attempts}
  }

  /** The first backend holding credentials for `username` and `hash`; throws UnavailableError if one could not be asked. */
  async getScramCredentials(username: string, hash: ScramHash): Promise<{credentials: ScramCredentials; disabled?: string; method: AuthMethod} | undefined> {
    let unavailable: UnavailableError | undefined
    for (const backend of this.backends) {
      try {
        const found = await backend.getScramCredentials(username, hash)
        if (found) return {...found, method: backend.method}
      } catch (error) {
        if (error instanceof UnsupportedError) continue
        unavailable ??= asUnavailable(backend.method, error)
      }
    }

    if (unavailable) throw unavailable
    return undefined
  }

  /** Whether any backend (other than `except`) knows `username`; throws UnavailableError when unsure. */
  async userExists(username: string, except?: AuthBackend): Promise<boolean> {
    let unavailable: UnavailableError | undefined
    for (const backend of this.backends) {
      if (backend === except) continue
      const useCache = backend.cacheable && this.cache.enabled
      const cached = useCache ? this.cache.getExists(backend.method, username) : undefined
      if (cached === true) return true
      if (cached === false) continue
      try {
        const exists = await backend.userExists(username)
        if (useCache) this.cache.setExists(backend.method, username, exists)
        if (exists) return true
      } catch (error) {
        if (error instanceof UnsupportedError) continue
        unavailable ??= asUnavailable(backend.method, error)
      }
    }

    if (unavailable) throw unavailable
    return false
  }

  /** What each backend can serve now; a backend that fails to answer serves nothing. */
  async capabilities(): Promise<BackendOffer[]> {
    return Promise.all(
      this.backends.map(async (backend) => {
        try {
          return {method: backend.method, capabilities: await backend.capabilities()}
        } catch (error) {
          const reason = asUnavailable(backend.method, error).message
          this.log.warn(`auth ${this.host}: ${reason}`)
          return {method: backend.method, capabilities: {plain: false, scram: [], anonymous: false, unavailable: reason}}
        }
      }),
    )
  }

  invalidate(username: string): void {
    this.cache.invalidate(username)
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.backends.map((backend) => backend.close()))
  }
}

/** A backend call whose errors become outcomes: unsupported, or unavailable. */
async function guard(method: AuthMethod, call: () => Promise<AuthOutcome>): Promise<AuthOutcome> {
  try {
    return await call()
  } catch (error) {
    if (error instanceof UnsupportedError) return {result: 'unsupported', reason: error.message}
    return {result: 'unavailable', reason: asUnavailable(method, error).message}
  }
}

function asUnavailable(method: AuthMethod, error: unknown): UnavailableError {
  if (error instanceof UnavailableError) return error
  const message = isXmppctlError(error) || error instanceof Error ? error.message : String(error)
  return new UnavailableError(`the ${method} backend failed: ${message}`, undefined, error)
}
