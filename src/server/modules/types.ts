/**
 * The contract between the server core and its modules (DESIGN.md "The
 * server engine"). A module serves one protocol area: it declares its disco
 * features, its iq handlers by namespace and element, and the hooks it takes
 * part in; it keeps its per-user data through the store interfaces. Modules
 * never import one another: what one needs of another's area goes through a
 * hook the core calls on every module.
 */
import type {HostSettings} from '../../config/index.js'
import type {ModuleName} from '../../config/modules.js'
import type {AccountStore} from '../../store/account-store.js'
import type {PepStore} from '../../store/pep-store.js'
import type {RoomStore} from '../../store/room-store.js'
import type {ArchiveStore} from '../../store/archive-store.js'
import type {BlocklistStore} from '../../store/blocklist-store.js'
import type {LastActivityStore} from '../../store/last-activity-store.js'
import type {OfflineStore} from '../../store/offline-store.js'
import type {PrivateStore} from '../../store/private-store.js'
import type {RosterStore} from '../../store/roster-store.js'
import type {VcardStore} from '../../store/vcard-store.js'
import type {C2sSession} from '../c2s.js'
import type {Account, Jid} from '../jid.js'
import type {Logger} from '../log.js'
import type {Router} from '../router.js'
import type {Element} from '../../xml/element.js'

export type {Account} from '../jid.js'

/**
 * Who sent a stanza the core routes: a local session, or an entity the
 * server vouches for without a session of its own (a service on this server
 * such as a room; a remote server's user, once its stream authenticated the
 * domain). Replies and errors for the sender go through `send`.
 */
export interface Sender {
  /** The full JID the sender is known by, authenticated (RFC 6120 §8.1.2.1): never a `from` a client claimed. */
  readonly jid: Readonly<Jid> | undefined
  readonly bareJid: string
  readonly fullJid: string
  /** The sender's session when it is a client of this server; undefined for a service or a remote entity. */
  readonly localSession: C2sSession | undefined
  send(stanza: Element): void
}

/** Who sent a stanza that reaches a hosted service through another node of a cluster: a client of a node, another server's entity (by s2s), or a service. */
export type ServiceSenderKind = 'client' | 'remote' | 'service'

/**
 * A service this server hosts on a domain of its own, beside its accounts'
 * domains (XEP-0045 rooms on conference.HOST, say). The core hands it every
 * stanza addressed to that domain or to a JID on it.
 */
export interface HostedService {
  /** The service's domain for `host`, or undefined if it serves none there. */
  domain(host: string): string | undefined
  /** A stanza from `sender` to the service's domain or a JID on it (`to`, parsed). */
  handle(stanza: Element, sender: Sender, to: Jid): Promise<void> | void
}

/**
 * Delivery to other servers (src/server/s2s.ts), when federation is on:
 * `stanza` (from and to set) goes to the server of its `to` domain, and
 * `bounce` is called once if it cannot be delivered (RFC 6120 §8.3.3.16-18).
 */
export interface RemoteDelivery {
  send(stanza: Element, bounce: (condition: 'remote-server-not-found' | 'remote-server-timeout' | 'resource-constraint') => void): void
}

export interface IqRequest {
  /**
   * The sender's session. Only a handler with `remote: true` is asked for
   * senders on other servers, and it reads `sender`, never this.
   */
  session: C2sSession
  /** Who sent the iq: the session, or a user or server of another domain (authenticated by its s2s stream). */
  sender: Sender
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
  /** Also answers senders on other servers (federation): handle() reads request.sender only. */
  remote?: boolean
  handle(request: IqRequest): Promise<void> | void
}

export interface ServerModule {
  readonly name: ModuleName
  /** disco#info features of the server's JID. */
  readonly features?: readonly string[]
  /** disco#info features of an account's bare JID. */
  readonly accountFeatures?: readonly string[]
  /** disco#info identities of an account's bare JID, besides account/registered (XEP-0163 §6.1: pubsub/pep). */
  readonly accountIdentities?: ReadonlyArray<{category: string; type: string}>
  readonly iq?: readonly IqHandler[]
  /**
   * What this module adds to <stream:features/> once the client has
   * authenticated, announcing what it serves that disco cannot announce in
   * time (RFC 6121 §2.6.1 roster versioning: the client needs it before its
   * first roster get; XEP-0352's <csi/>). Asked on first use, once every
   * module has declared its features.
   */
  streamFeatures?(): readonly Element[]
  /**
   * Client State Indication (XEP-0352): whether `stanza` may wait while the
   * recipient's client says it is inactive. The session holds what a module
   * says may wait; a module with this hook enables the feature.
   */
  canWait?(stanza: Element): boolean
  /**
   * Stream management (XEP-0198): a module that sets this lets sessions
   * enable it; the sessions do the counting and resumption themselves.
   */
  readonly streamManagement?: boolean
  /** A service this module serves on a domain of its own. */
  readonly service?: HostedService

  /**
   * Any stanza a session sends, before the core routes it (`to` parsed, or
   * undefined for the account itself); true when this module answered or
   * dropped it, and the core must do nothing more (XEP-0191 blocking, say).
   * A plain boolean when the module can tell at once: it runs on every
   * stanza, and an await per module per stanza is measurable.
   */
  outbound?(session: C2sSession, stanza: Element, to: Jid | undefined): boolean | Promise<boolean>
  /**
   * A stanza from `from` about to reach the local account `to` (a message,
   * presence, a probe, or an iq to one of its resources or to its bare JID);
   * true when this module stopped it. The module answers the sender itself
   * if it should.
   */
  inbound?(stanza: Element, to: Account, from: Jid): boolean | Promise<boolean>
  /**
   * A message from `sender` on its way to the local account of `to`, any type,
   * once the inbound hooks let it through and before it is delivered, live
   * or offline: the module may change its children (XEP-0359 stanza ids,
   * XEP-0313 archiving). Returns a promise only when it has to wait.
   */
  messageRouting?(stanza: Element, sender: Sender, to: Jid): Promise<void> | void
  /** A message was delivered to `recipients`, live sessions of `to` (XEP-0280 carbons copy it from here). */
  messageDelivered?(stanza: Element, sender: Sender, to: Jid, recipients: readonly C2sSession[]): void
  /**
   * A message for an account none of whose resources can take it; true when
   * this module took charge of it. `redirected`: it was delivered to a
   * session before, which ended without acknowledging it (XEP-0198 §5), or
   * whose cluster node died, so messageDelivered() ran for it then.
   */
  messageUndelivered?(stanza: Element, to: Account, sender: Sender, redirected: boolean): Promise<boolean>
  /** The session sent its initial presence (RFC 6121 §4.2). */
  initialPresence?(session: C2sSession, account: Account): Promise<void>
  /** The session broadcast an available presence, its initial one or a later one (after initialPresence for the initial one). */
  availablePresence?(session: C2sSession, account: Account, presence: Element): Promise<void>
  /** Contacts the account's presence is broadcast to (RFC 6121 §4.2.2, §4.4.2). */
  presenceSubscribers?(account: Account): Promise<readonly string[]>
  /** Whether `contact` may see the account's presence, for probes (RFC 6121 §4.3.2). */
  presenceAllowed?(account: Account, contact: string): Promise<boolean>
  /**
   * A subscription presence from another server's user `from` (a bare JID
   * its stream authenticated) to the local account `to`, once the inbound
   * hooks let it through (RFC 6121 §3.1.3, §3.1.6, §3.2.3, §3.3.3).
   */
  inboundSubscription?(stanza: Element, to: Account, from: Jid): Promise<void>
  /** A subscription presence (subscribe, subscribed, unsubscribe, unsubscribed) the session sent. */
  outboundSubscription?(session: C2sSession, stanza: Element, to: Jid): Promise<void>
  /**
   * The session ended, available or not (a client may have sent presence only
   * to a room): what the module holds for its full JID goes.
   */
  sessionEnded?(session: C2sSession): void
  /** An available session became unavailable: by an unavailable presence, or because it ended. */
  becameUnavailable?(session: C2sSession, account: Account, presence: Element): Promise<void>
  /**
   * The session moves to another node of the cluster, whose client resumes
   * it there (XEP-0198 §5): what the module keeps of it in memory, as JSON,
   * for importSession there; undefined for nothing.
   */
  exportSession?(session: C2sSession): unknown
  /** A session came from another node of the cluster with what exportSession gave there. */
  importSession?(session: C2sSession, state: unknown): void
  /** A session bound to another node of the cluster ended or became unavailable (RFC 6121 §4.6.3: what it joined here, such as a room, hears it). */
  remoteSessionGone?(fullJid: string): void
  /** The roster item of `contact` was changed in the store from outside (`xmppctl roster add`): tell the account's sessions; returns how many were told. */
  rosterChanged?(account: Account, contact: string): Promise<number>
  /** The account was deleted (its stored data went with it): forget what is cached of it. */
  accountDeleted?(account: Account): void
  /** Another node of the cluster changed what the store keeps of the account: drop what is cached of it. */
  accountDataChanged?(account: Account): void
  /** disco#items of the account's bare JID that `requester` (a bare JID) may see (XEP-0030 §4). */
  accountItems?(account: Account, requester: string): Promise<Element[]>
  /** The disco#info children (identities, features, forms) of `node` on the account's bare JID, if this module serves the node and `requester` may see it (XEP-0030 §3.2, XEP-0060 §5.3). */
  accountNodeInfo?(account: Account, node: string, requester: string): Promise<Element[] | undefined>
}

/** What the core lends its modules: sessions, stores, and delivery that applies the core's rules. */
export interface ModuleContext {
  readonly router: Router
  readonly accounts: AccountStore
  /** Per-account data, one store per concept; a module uses those of the data it keeps. */
  readonly rosters: RosterStore
  readonly offline: OfflineStore
  readonly vcards: VcardStore
  readonly privateStorage: PrivateStore
  readonly blocklists: BlocklistStore
  readonly lastActivity: LastActivityStore
  readonly pep: PepStore
  readonly rooms: RoomStore
  readonly archives: ArchiveStore
  readonly logger: Logger
  readonly softwareVersion: string
  /** The data directory, for modules that keep files (XEP-0363 uploads). */
  readonly dataDir: string
  /** The base URL an http listener serves `handler` at for `host` (https://HOST:PORT/path), if one does. */
  listenerUrl(handler: 'mod_http_upload', host: string): string | undefined
  /** When the server started (ms since the epoch). */
  readonly startedAt: () => number
  hosts(): readonly string[]
  isLocalHost(domain: string): boolean
  /** The disco features every enabled module declares for the server or for accounts. */
  features(of: 'server' | 'account'): string[]
  /** The disco identities modules declare for accounts, besides account/registered. */
  accountIdentities(): Array<{category: string; type: string}>
  /** The disco#items of the account's bare JID that every module lets `requester` see. */
  accountItems(account: Account, requester: string): Promise<Element[]>
  /** The disco#info of `node` on the account's bare JID from the module that serves it, if one does and lets `requester` see it. */
  accountNodeInfo(account: Account, node: string, requester: string): Promise<Element[] | undefined>
  /** Whether a module's inbound hook (XEP-0191 blocking, say) stops `stanza` from `from` on its way to the local account `to`. */
  inboundStopped(stanza: Element, to: Account, from: Jid): boolean | Promise<boolean>
  /** Whether `contact` may see `account`'s presence (and what is shared with subscribers): asks every module. */
  presenceAllowed(account: Account, contact: string): Promise<boolean>
  /** `stanza`, one copy per available resource of `contactBare` (a local account), addressed to each; to a contact on another server, one copy to its bare JID. */
  deliverPresence(stanza: Element, contactBare: string): void
  /**
   * Sends a stanza (from a local account, `to` on another domain) to that
   * domain's server. What cannot be delivered comes back to the account's
   * resources as an error; without federation, at once.
   */
  sendRemote(stanza: Element): void
  /** The current presence of `from` to `to`, from `from`'s full JID, unless a module's inbound hook stops it. */
  sendPresenceOf(from: C2sSession, to: C2sSession): Promise<void>
  /** The host's effective settings (credential derivation, for one). */
  hostSettings(host: string): HostSettings
  /**
   * The account's password changed or the account was deleted: cached
   * authentication answers drop and the account's sessions end, all but
   * `except`; modules forget a deleted account. Returns the sessions closed.
   */
  accountChanged(event: {type: 'password-changed' | 'user-deleted'; jid: string}, except?: C2sSession): number
  /**
   * A module changed what the store keeps of `account` that modules cache
   * (a blocklist, archiving preferences): in a cluster the other nodes drop
   * their copies (ServerModule.accountDataChanged), and the promise settles
   * once they were told; nothing outside a cluster.
   */
  cachedDataChanged(account: Account): Promise<void> | undefined
  /** The domains of the services modules host for `host` (disco#items of the server, XEP-0030 §4). */
  serviceDomains(host: string): string[]
  /**
   * Routes a stanza a service sends on its own behalf, from `from` (a JID on
   * the service's domain), to its `to`: a local account's resource or bare
   * JID under the same rules as a client's stanza (RFC 6121 §8.5, §4.6), or
   * another hosted service. What cannot be delivered comes back to the
   * service as an error stanza, through its own handle().
   */
  routeFromService(stanza: Element, from: Jid): Promise<void>
  /**
   * Returns `error`, an error the server answers on an account's behalf, to
   * the sender of the stanza it answers, wherever that sender is: a client of
   * this node or another of the cluster, a hosted service, another server.
   */
  returnError(error: Element, sender: Jid): void
}

export type ModuleFactory = (context: ModuleContext, options: Record<string, unknown>) => ServerModule
