/**
 * The contract between the server core and its modules (DESIGN.md "The
 * server engine"). A module serves one protocol area: it declares its disco
 * features, its iq handlers by namespace and element, and the hooks it takes
 * part in; it keeps its per-user data through the store interfaces. Modules
 * never import one another: what one needs of another's area goes through a
 * hook the core calls on every module.
 */
import type {ModuleName} from '../../config/modules.js'
import type {AccountStore} from '../../store/account-store.js'
import type {ArchiveStore} from '../../store/archive-store.js'
import type {RosterStore} from '../../store/roster-store.js'
import type {C2sSession} from '../c2s.js'
import type {Account, Jid} from '../jid.js'
import type {Logger} from '../log.js'
import type {Router} from '../router.js'
import type {Element} from '../xml/element.js'

export type {Account} from '../jid.js'

export interface IqRequest {
  /** The sender's session. */
  session: C2sSession
  stanza: Element
  /** The iq's one child element. */
  query: Element
  /** The account whose bare JID the iq was sent to; undefined for the server's domain. */
  account: Account | undefined
  /** The sender addressed its own account, or gave no `to` at all. */
  own: boolean
  /** The domain the iq was addressed to. */
  domain: string
}

export interface IqHandler {
  ns: string
  name: string
  types: ReadonlyArray<'get' | 'set'>
  /**
   * Where the handler answers: `server` the domain's JID, `own` the
   * sender's own bare JID (or no `to`), `account` any local account's bare
   * JID, the sender's own included.
   */
  to: ReadonlyArray<'server' | 'own' | 'account'>
  handle(request: IqRequest): Promise<void> | void
}

export interface ServerModule {
  readonly name: ModuleName
  /** disco#info features of the server's JID. */
  readonly features?: readonly string[]
  /** disco#info features of an account's bare JID. */
  readonly accountFeatures?: readonly string[]
  readonly iq?: readonly IqHandler[]

  /**
   * Any stanza a session sends, before the core routes it (`to` parsed, or
   * undefined for the account itself); true when this module answered or
   * dropped it, and the core must do nothing more (XEP-0191 blocking, say).
   */
  outbound?(session: C2sSession, stanza: Element, to: Jid | undefined): Promise<boolean>
  /**
   * A stanza from `from` about to reach the local account `to` (a message,
   * presence, a probe, or an iq to one of its resources or to its bare JID);
   * true when this module stopped it. The module answers the sender itself
   * if it should.
   */
  inbound?(stanza: Element, to: Account, from: Jid): Promise<boolean>
  /**
   * A message from `sender` on its way to the local account of `to`, any type,
   * once the inbound hooks let it through and before it is delivered, live
   * or offline: the module may change its children (XEP-0359 stanza ids,
   * XEP-0313 archiving). Returns a promise only when it has to wait.
   */
  messageRouting?(stanza: Element, sender: C2sSession, to: Jid): Promise<void> | void
  /** A message was delivered to `recipients`, live sessions of `to` (XEP-0280 carbons copy it from here). */
  messageDelivered?(stanza: Element, sender: C2sSession, to: Jid, recipients: readonly C2sSession[]): void
  /** A message for an account none of whose resources can take it; true when this module took charge of it. */
  messageUndelivered?(stanza: Element, to: Account, sender: C2sSession): Promise<boolean>
  /** The session sent its initial presence (RFC 6121 §4.2). */
  initialPresence?(session: C2sSession, account: Account): Promise<void>
  /** Contacts the account's presence is broadcast to (RFC 6121 §4.2.2, §4.4.2). */
  presenceSubscribers?(account: Account): Promise<readonly string[]>
  /** Whether `contact` may see the account's presence, for probes (RFC 6121 §4.3.2). */
  presenceAllowed?(account: Account, contact: string): Promise<boolean>
  /** A subscription presence (subscribe, subscribed, unsubscribe, unsubscribed) the session sent. */
  outboundSubscription?(session: C2sSession, stanza: Element, to: Jid): Promise<void>
  /** An available session became unavailable: by an unavailable presence, or because it ended. */
  becameUnavailable?(session: C2sSession, account: Account, presence: Element): Promise<void>
  /** The account was deleted (its stored data went with it): forget what is cached of it. */
  accountDeleted?(account: Account): void
}

/** What the core lends its modules: sessions, stores, and delivery that applies the core's rules. */
export interface ModuleContext {
  readonly router: Router
  readonly accounts: AccountStore
  readonly rosters: RosterStore
  readonly archives: ArchiveStore
  readonly logger: Logger
  readonly softwareVersion: string
  /** When the server started (ms since the epoch). */
  readonly startedAt: () => number
  hosts(): readonly string[]
  isLocalHost(domain: string): boolean
  /** The disco features every enabled module declares for the server or for accounts. */
  features(of: 'server' | 'account'): string[]
  /** Whether `contact` may see `account`'s presence (and what is shared with subscribers): asks every module. */
  presenceAllowed(account: Account, contact: string): Promise<boolean>
  /** `stanza`, one copy per available resource of `contactBare` (a local account), addressed to each. */
  deliverPresence(stanza: Element, contactBare: string): void
  /** The current presence of `from` to `to`, from `from`'s full JID, unless a module's inbound hook stops it. */
  sendPresenceOf(from: C2sSession, to: C2sSession): Promise<void>
}

export type ModuleFactory = (context: ModuleContext, options: Record<string, unknown>) => ServerModule
