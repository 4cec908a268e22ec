/**
 * Failed-authentication throttling (hardening issue). Three counts, each a
 * sliding window of failure times:
 * - per address (`c2s_max_auth_failures` in `c2s_auth_ban_lifetime`, as
 *   ejabberd's mod_fail2ban; networks in `c2s_auth_ban_exempt` are not
 *   counted): one host guessing at many accounts;
 * - per account and address: one host guessing at one account. Only that
 *   address is held back, so a stranger cannot lock the owner out;
 * - per account from all addresses together: a guess spread over many
 *   hosts. Past this ceiling only addresses that logged in to the account
 *   recently may still try, so the owner keeps logging in from home while
 *   a botnet is refused.
 * An attempt reserves its place in every count before a backend is asked
 * (`begin`, then `claim` once the account is known) and is settled by the
 * verdict: attempts in flight count, so parallel ones cannot race past a
 * limit. A success takes back its own reservation and clears only the
 * (account, address) count: logging in to one's own account must not buy
 * new guesses at others'. An attempt abandoned before its verdict stays
 * counted. Memory is bounded: each count keeps at most `maxKeys` keys,
 * the least recently counted go first.
 */
import net from 'node:net'

export interface ThrottleLimits {
  /** Failures per address in the window. */
  addressFailures: number
  /** Failures per account from one address in the window. */
  pairFailures: number
  /** Failures per account from all addresses in the window, past which only known addresses may try. */
  accountFailures: number
  windowMs: number
  /** How long an address that logged in to an account stays known to it. */
  knownForMs: number
  /** Networks (CIDR) whose addresses are not counted per address. */
  exempt: readonly string[]
}

export const DEFAULT_THROTTLE_LIMITS: ThrottleLimits = {
  addressFailures: 30,
  pairFailures: 10,
  accountFailures: 100,
  windowMs: 5 * 60_000,
  knownForMs: 30 * 86_400_000,
  exempt: [],
}

/** Which count refused an attempt. */
export type Refusal = 'address' | 'account from this address' | 'account'

/** An address or account at or past its limit, for `xmppctl status`. */
export interface ThrottleEntry {
  key: string
  failures: number
  /** When the count falls below the limit again (ms since the epoch). */
  until: number
}

/**
 * The key an address is counted under: IPv4 as is (also when mapped into
 * IPv6), IPv6 by its /64, the smallest network one subscriber is given, so
 * that one subscriber's addresses are one key.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1]
  if (!net.isIPv6(address)) return address
  return `${ipv6Groups(address).slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`
}

/** The eight 16-bit groups of a valid IPv6 address. */
function ipv6Groups(address: string): number[] {
  let text = address.replace(/%.*$/, '')
  const ipv4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (ipv4) {
    const [a, b, c, d] = ipv4.slice(1).map(Number)
    text = `${text.slice(0, ipv4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }

  const [head, tail] = text.split('::')
  const groups = (part: string | undefined) => (part ? part.split(':').map((group) => Number.parseInt(group, 16)) : [])
  if (tail === undefined) return groups(head)
  const [first, last] = [groups(head), groups(tail)]
  return [...first, ...Array<number>(8 - first.length - last.length).fill(0), ...last]
}

/** Failure times per key in a sliding window, oldest first, at most `limit()` kept per key. */
class FailureWindow {
  private readonly times = new Map<string, number[]>()

  constructor(
    private readonly limit: () => number,
    private readonly windowMs: () => number,
    private readonly maxKeys: number,
    private readonly now: () => number,
  ) {}

  count(key: string): number {
    return this.recent(key)?.length ?? 0
  }

  full(key: string): boolean {
    return this.count(key) >= this.limit()
  }

  add(key: string, time: number): void {
    const list = this.recent(key) ?? []
    list.push(time)
    while (list.length > this.limit()) list.shift()
    // Re-inserted, so the map's order is least recently counted first.
    this.times.delete(key)
    this.times.set(key, list)
    if (this.times.size > this.maxKeys) this.times.delete(this.times.keys().next().value as string)
  }

  /** Takes back one entry made at `time`, if it is still there. */
  remove(key: string, time: number): void {
    const list = this.times.get(key)
    const index = list?.lastIndexOf(time) ?? -1
    if (index === -1) return
    list!.splice(index, 1)
    if (list!.length === 0) this.times.delete(key)
  }

  clear(key: string): void {
    this.times.delete(key)
  }

  /** Keys at or past the limit, latest first. */
  fullKeys(): ThrottleEntry[] {
    const entries: ThrottleEntry[] = []
    for (const key of [...this.times.keys()].reverse()) {
      const list = this.recent(key)
      if (!list || list.length < this.limit()) continue
      entries.push({key, failures: list.length, until: list[list.length - this.limit()] + this.windowMs()})
    }

    return entries
  }

  private recent(key: string): number[] | undefined {
    const list = this.times.get(key)
    if (!list) return undefined
    const since = this.now() - this.windowMs()
    let expired = 0
    while (expired < list.length && list[expired] <= since) expired++
    if (expired === 0) return list
    list.splice(0, expired)
    if (list.length > 0) return list
    this.times.delete(key)
    return undefined
  }
}

/** Most recent success per `account address`, bounded like the counts. */
class KnownAddresses {
  private readonly seen = new Map<string, number>()

  constructor(
    private readonly forMs: () => number,
    private readonly maxKeys: number,
    private readonly now: () => number,
  ) {}

  add(account: string, address: string): void {
    const key = `${account} ${address}`
    this.seen.delete(key)
    this.seen.set(key, this.now())
    if (this.seen.size > this.maxKeys) this.seen.delete(this.seen.keys().next().value as string)
  }

  has(account: string, address: string): boolean {
    const time = this.seen.get(`${account} ${address}`)
    return time !== undefined && time > this.now() - this.forMs()
  }
}

export class AuthThrottle {
  private limits: ThrottleLimits
  private exempt: net.BlockList
  readonly now: () => number
  readonly addresses: FailureWindow
  readonly pairs: FailureWindow
  readonly accounts: FailureWindow
  readonly known: KnownAddresses
  /** Attempts per address key that have no verdict yet. */
  private readonly inFlight = new Map<string, number>()

  constructor(limits: Partial<ThrottleLimits> = {}, options: {maxKeys?: number; now?: () => number} = {}) {
    this.limits = {...DEFAULT_THROTTLE_LIMITS, ...limits}
    this.exempt = networks(this.limits.exempt)
    this.now = options.now ?? Date.now
    const maxKeys = options.maxKeys ?? 100_000
    const window = () => this.limits.windowMs
    this.addresses = new FailureWindow(() => this.limits.addressFailures, window, maxKeys, this.now)
    this.pairs = new FailureWindow(() => this.limits.pairFailures, window, maxKeys, this.now)
    this.accounts = new FailureWindow(() => this.limits.accountFailures, window, maxKeys, this.now)
    this.known = new KnownAddresses(() => this.limits.knownForMs, maxKeys, this.now)
  }

  /** New limits (a reload); the counts so far are kept, but those of addresses now exempt go: their ban is lifted. */
  configure(limits: Partial<ThrottleLimits>): void {
    this.limits = {...DEFAULT_THROTTLE_LIMITS, ...limits}
    this.exempt = networks(this.limits.exempt)
    for (const {key} of this.addresses.fullKeys()) if (isExempt(this.exempt, key)) this.addresses.clear(key)
  }

  /** Reserves an attempt from `address`, or says which limit refuses it. */
  begin(address: string): AuthAttempt | Refusal {
    const key = addressKey(address)
    const counted = !this.exempt.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4')
    if (counted && this.addresses.full(key)) return 'address'
    return new AuthAttempt(this, key, counted)
  }

  /**
   * Whether attempts from `address` are still waiting for their verdicts: a
   * refusal for the address may then be only their reservations, and goes
   * away if they succeed (many clients behind one NAT logging in at once).
   */
  pending(address: string): boolean {
    return (this.inFlight.get(addressKey(address)) ?? 0) > 0
  }

  /** Counts an attempt of `key` in (+1) or out (-1) of flight. */
  flight(key: string, change: 1 | -1): void {
    const count = (this.inFlight.get(key) ?? 0) + change
    if (count > 0) this.inFlight.set(key, count)
    else this.inFlight.delete(key)
  }

  /** Addresses at their limit: ejabberd's "banned" addresses. */
  bannedAddresses(): ThrottleEntry[] {
    return this.addresses.fullKeys()
  }

  /** Accounts past the all-addresses ceiling: only known addresses may try. */
  restrictedAccounts(): ThrottleEntry[] {
    return this.accounts.fullKeys()
  }
}

/** One authentication attempt's reservations; settled once, by the first of succeed, fail or cancel. */
export class AuthAttempt {
  /** When the reservations were made: what a failure counts from, and what cancel takes back. */
  private readonly time: number
  private account: string | undefined
  private accountCounted = false
  private settled = false

  constructor(
    private readonly throttle: AuthThrottle,
    private readonly address: string,
    private readonly counted: boolean,
  ) {
    this.time = throttle.now()
    if (counted) {
      throttle.addresses.add(address, this.time)
      throttle.flight(address, 1)
    }
  }

  /** The attempt is for `account` (normalised `local@host`): reserves its counts, or says which refuses it and takes the attempt back. */
  claim(account: string): Refusal | undefined {
    if (this.settled || this.account !== undefined) return undefined
    const {pairs, accounts, known} = this.throttle
    const pair = `${account} ${this.address}`
    // Past the ceiling a known address may still try; the count is full already and is not added to.
    const ceiling = accounts.full(account)
    const refusal = pairs.full(pair) ? 'account from this address' : ceiling && !known.has(account, this.address) ? 'account' : undefined
    if (refusal) {
      this.cancel()
      return refusal
    }

    this.account = account
    this.accountCounted = !ceiling
    pairs.add(pair, this.time)
    if (this.accountCounted) accounts.add(account, this.time)
    return undefined
  }

  succeed(): void {
    if (!this.settle()) return
    const {addresses, pairs, accounts, known} = this.throttle
    if (this.counted) addresses.remove(this.address, this.time)
    if (this.account === undefined) return
    pairs.clear(`${this.account} ${this.address}`)
    if (this.accountCounted) accounts.remove(this.account, this.time)
    known.add(this.account, this.address)
  }

  /** A verdict against the attempt: its reservations stay as failures. */
  fail(): void {
    this.settle()
  }

  /** No verdict was given (the client aborted, or a limit refused the account). */
  cancel(): void {
    if (!this.settle()) return
    const {addresses, pairs, accounts} = this.throttle
    if (this.counted) addresses.remove(this.address, this.time)
    if (this.account === undefined) return
    pairs.remove(`${this.account} ${this.address}`, this.time)
    if (this.accountCounted) accounts.remove(this.account, this.time)
  }

  private settle(): boolean {
    if (this.settled) return false
    this.settled = true
    if (this.counted) this.throttle.flight(this.address, -1)
    return true
  }
}

/**
 * Whether an address key (see addressKey) lies in `exempt`: an IPv4
 * address, or an IPv6 /64 whose first and last addresses both do.
 */
export function isExempt(exempt: net.BlockList, key: string): boolean {
  // addressKey writes a /64 as its four leading groups.
  const prefix = /^(.*)::\/64$/.exec(key)?.[1]
  if (prefix === undefined) return exempt.check(key, net.isIPv6(key) ? 'ipv6' : 'ipv4')
  return exempt.check(`${prefix}::`, 'ipv6') && exempt.check(`${prefix}:ffff:ffff:ffff:ffff`, 'ipv6')
}

export function networks(list: readonly string[]): net.BlockList {
  const blocks = new net.BlockList()
  for (const entry of list) {
    const [address, prefix] = entry.split('/')
    const family = net.isIPv6(address) ? 'ipv6' : 'ipv4'
    blocks.addSubnet(address, prefix === undefined ? (family === 'ipv6' ? 128 : 32) : Number(prefix), family)
  }

  return blocks
}
