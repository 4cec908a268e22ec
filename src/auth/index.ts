/**
 * Authentication for the bundled server and `xmppctl test-auth` (DESIGN.md
 * "Authentication"): both call this, so what test-auth says works is what the
 * server does.
 *
 * The server: `const auth = createHostAuthenticators(config, store, {log})`,
 * then per connection `auth.get(host).mechanisms(connection)`,
 * `.channelBindingTypes(connection)`, `.start(mechanism, connection)`; when a
 * password changes or an account is deleted or disabled,
 * `auth.invalidate(host, username)`; at shutdown `auth.close()`.
 */
import path from 'node:path'

import type {Configuration} from '../config/index.js'
import type {AccountStore} from '../store/index.js'
import {createBackend} from './backends/index.js'
import {AuthCache} from './cache.js'
import {AuthChain, type AuthLog, silentAuthLog} from './chain.js'
import {HostAuth} from './host.js'
import {loadServerSecret} from './secret.js'

export type * from './types.js'
export {AuthCache} from './cache.js'
export {AuthChain, type Attempt, type AuthLog, type ChainOutcome, silentAuthLog} from './chain.js'
export {HostAuth} from './host.js'
export {type BackendOffer, type MechanismDecision, channelBindingTypes, decideMechanisms, offerMechanisms} from './offer.js'
export {scramCoverage} from './coverage.js'
export {loadServerSecret} from './secret.js'
export {randomLocalpart} from './backends/anonymous.js'

export interface AuthOptions {
  /** Where backends log (the external program's stderr, unavailable backends); silent by default. */
  log?: AuthLog
  /** Keys fake SCRAM salts; default: `auth-secret` in the data directory, created 0600 on first use. */
  secret?: Buffer
  /** The PAM helper program; default: the one built with xmppctl. */
  pamHelper?: string
  /** Milliseconds the backends' capabilities are reused (default 5000). */
  capabilitiesTtl?: number
  now?: () => number
}

/** Every configured host's authenticator; `invalidate` and `close` act on the right one(s). */
export class HostAuthenticators extends Map<string, HostAuth> {
  /** Drops cached answers about `username` on `host` (password changed, account deleted or disabled). */
  invalidate(host: string, username: string): void {
    this.get(host)?.invalidate(username)
  }

  /** Stops external programs and helpers of every host. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.values()].map((authenticator) => authenticator.close()))
  }
}

/** The authenticator of one configured host (throws UnknownHostError for others). */
export function createHostAuthenticator(config: Configuration, host: string, store: AccountStore, options: AuthOptions = {}): HostAuth {
  const settings = config.forHost(host)
  const secret = options.secret ?? loadServerSecret(config.dataDir).secret
  const log = options.log ?? silentAuthLog
  const baseDir = config.file ? path.dirname(config.file) : process.cwd()
  const backends = settings.auth_method.map((method) => createBackend(method, {settings, store, secret, log, baseDir, pamHelper: options.pamHelper, plugins: config.plugins}))
  const cache = new AuthCache({
    enabled: settings.auth_use_cache,
    size: settings.auth_cache_size,
    lifeTime: settings.auth_cache_life_time,
    missed: settings.auth_cache_missed,
    now: options.now,
  })
  const disabledReason = async (username: string) => {
    const account = await store.getAccount(settings.host, username)
    return account?.state === 'disabled' ? (account.disabledReason ?? 'the account is disabled') : undefined
  }
  const chain = new AuthChain(settings.host, backends, cache, log, disabledReason)
  return new HostAuth(settings, chain, {secret, capabilitiesTtl: options.capabilitiesTtl, now: options.now})
}

/** One authenticator per configured host, each with its own chain and cache. */
export function createHostAuthenticators(config: Configuration, store: AccountStore, options: AuthOptions = {}): HostAuthenticators {
  const secret = options.secret ?? loadServerSecret(config.dataDir).secret
  const authenticators = new HostAuthenticators()
  for (const host of config.hosts) authenticators.set(host, createHostAuthenticator(config, host, store, {...options, secret}))
  return authenticators
}
