/**
 * Authentication of one host: its chain of backends, its own cache, the
 * mechanism offer for a connection, and SASL sessions. This is what the
 * server calls (HostAuthenticator) and what `test-auth` runs.
 */
import type {HostSettings} from '../config/index.js'
import {normalizeLocalpart} from '../jid/index.js'
import {findMechanism} from '../sasl/mechanisms/index.js'
import type {GssapiService, MechanismContext} from '../sasl/mechanisms/types.js'
import {GssapiBackend} from './backends/gssapi.js'
import {randomLocalpart} from './backends/anonymous.js'
import type {AuthChain, ChainOutcome} from './chain.js'
import {type BackendOffer, type MechanismDecision, acceptedChannelBindingTypes, channelBindingTypes, decideMechanisms, offerMechanisms} from './offer.js'
import type {ChannelBindingType, ConnectionSecurity, SaslSession} from '../sasl/session.js'
import type {HostAuthenticator} from './types.js'

export interface HostAuthOptions {
  /** Keys fake salts of unknown users; stable across restarts (src/auth/secret.ts). */
  secret: Buffer
  /**
   * How long the backends' capabilities (a count over the store per hash) are
   * reused, in milliseconds; `invalidate` also drops them. Default 5000.
   */
  capabilitiesTtl?: number
  now?: () => number
}

export class HostAuth implements HostAuthenticator {
  readonly settings: HostSettings
  readonly chain: AuthChain
  private readonly options: HostAuthOptions
  /**
   * The backends' capabilities while they are fresh, with the mechanism lists
   * already computed from them per kind of connection: the offer is worked out
   * for the stream features and again when SASL starts, on every login.
   */
  private offers: {expires: number; value: Promise<BackendOffer[]>; mechanisms: Map<string, Promise<readonly string[]>>} | undefined

  constructor(settings: HostSettings, chain: AuthChain, options: HostAuthOptions) {
    this.settings = settings
    this.chain = chain
    this.options = options
  }

  get host(): string {
    return this.settings.host
  }

  /** What each backend can serve now (memoised for `capabilitiesTtl`). */
  async capabilities(): Promise<BackendOffer[]> {
    return this.currentOffers().value
  }

  /** Every candidate mechanism with whether it is offered on `connection` and why. */
  async decisions(connection: ConnectionSecurity): Promise<MechanismDecision[]> {
    return decideMechanisms(await this.capabilities(), connection, this.settings)
  }

  async mechanisms(connection: ConnectionSecurity): Promise<readonly string[]> {
    const offers = this.currentOffers()
    // What the offer depends on besides the capabilities (src/auth/offer.ts).
    const key = `${connection.encrypted} ${connection.tlsVersion ?? ''} ${channelBindingTypes(connection).join(',')}`
    let mechanisms = offers.mechanisms.get(key)
    if (!mechanisms) {
      mechanisms = offers.value.then((backends) => Object.freeze(offerMechanisms(backends, connection, this.settings)))
      offers.mechanisms.set(key, mechanisms)
    }

    return mechanisms
  }

  channelBindingTypes(connection: ConnectionSecurity): ChannelBindingType[] {
    return channelBindingTypes(connection)
  }

  async start(mechanism: string, connection: ConnectionSecurity): Promise<SaslSession | undefined> {
    const offered = await this.mechanisms(connection)
    const definition = findMechanism(mechanism)
    if (!definition || !offered.includes(mechanism)) return undefined
    const {chain} = this
    const context: MechanismContext = {
      auth: {
        host: this.host,
        checkPassword: (username, password) => chain.checkPassword(username, password),
        getScramCredentials: (username, hash) => chain.getScramCredentials(username, hash),
        anonymousUsername: randomLocalpart,
        ...(definition.needs.kind === 'gssapi' ? {gssapi: await this.gssapiService()} : {}),
        accountStatus: async (username) => {
          if (!(await chain.userExists(username))) return {exists: false}
          const disabled = await chain.disabledReason(username)
          return disabled === undefined ? {exists: true} : {exists: true, disabled}
        },
      },
      connection,
      // Read only when the client binds: the server computes the data on first use.
      channelBindings: acceptedChannelBindingTypes(connection).map((type) => ({
        type,
        get data() {
          return connection.channelBindings[type]!
        },
      })),
      advertisedPlus: offered.some((name) => name.endsWith('-PLUS')),
      unknownUser: {secret: this.options.secret, iterations: this.settings.auth_scram_iterations},
      normalizeUsername: normalizeLocalpart,
    }
    return definition.create(context)
  }

  /** The gssapi backend's acceptor and principal rule, when it is ready (src/auth/backends/gssapi.ts). */
  private async gssapiService(): Promise<GssapiService | undefined> {
    const backend = this.chain.backends.find((candidate): candidate is GssapiBackend => candidate instanceof GssapiBackend)
    if (!backend) return undefined
    const readiness = await backend.ready()
    const acceptor = backend.acceptor
    if (!readiness.ready || !acceptor) return undefined
    return {acceptor, map: (principal) => backend.map(principal, readiness)}
  }

  /** The chain's verdict on a plaintext password, with every attempt (test-auth, `user check`). */
  async checkPassword(username: string, password: string): Promise<ChainOutcome> {
    return this.chain.checkPassword(username, password)
  }

  private currentOffers(): NonNullable<HostAuth['offers']> {
    const now = (this.options.now ?? Date.now)()
    if (!this.offers || this.offers.expires <= now) {
      const value = this.chain.capabilities()
      const offers = {expires: now + (this.options.capabilitiesTtl ?? 5000), value, mechanisms: new Map()}
      this.offers = offers
      value.catch(() => {
        if (this.offers === offers) this.offers = undefined
      })
    }

    return this.offers
  }

  invalidate(username: string): void {
    this.chain.invalidate(username)
    this.offers = undefined
  }

  async close(): Promise<void> {
    await this.chain.close()
  }
}
