/**
 * Where a peer server listens (RFC 6120 §3.2, XEP-0368 §3): the configured
 * address (s2s_addresses) if there is one; otherwise the SRV records of
 * `_xmpps-server._tcp` (direct TLS) and `_xmpp-server._tcp` (STARTTLS),
 * merged by priority and weight; without any, the domain's A and AAAA
 * records on port 5269 (§3.2.2). Every query waits s2s_dns_timeout at most.
 */
import {Resolver} from 'node:dns/promises'
import net from 'node:net'

export interface PeerTarget {
  host: string
  /** The addresses to connect to, IPv6 and IPv4 as DNS gave them. */
  addresses: string[]
  port: number
  /** Direct TLS (XEP-0368) instead of STARTTLS. */
  tls: boolean
}

export class PeerNotFound extends Error {
  constructor(
    readonly condition: 'remote-server-not-found' | 'remote-server-timeout',
    message: string,
  ) {
    super(message)
  }
}

const DNS_FAILURES_NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'ESERVFAIL', 'EREFUSED', 'ENONAME', 'EBADNAME', 'ECONNREFUSED', 'ENOTIMP', 'EFORMERR'])

export interface ResolveOptions {
  timeoutMs: number
  addresses: Record<string, {host: string; port: number; tls: boolean}>
}

async function srv(resolver: Resolver, name: string): Promise<Array<{name: string; port: number; priority: number; weight: number}>> {
  try {
    return await resolver.resolveSrv(name)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ETIMEOUT') throw new PeerNotFound('remote-server-timeout', `no DNS answer for ${name} in time`)
    return []
  }
}

async function addressesOf(resolver: Resolver, host: string): Promise<string[]> {
  if (net.isIP(host)) return [host]
  const settled = await Promise.allSettled([resolver.resolve6(host), resolver.resolve4(host)])
  const addresses = settled.flatMap((result) => (result.status === 'fulfilled' ? result.value : []))
  if (addresses.length === 0) {
    const timedOut = settled.some((result) => result.status === 'rejected' && (result.reason as NodeJS.ErrnoException).code === 'ETIMEOUT')
    if (timedOut) throw new PeerNotFound('remote-server-timeout', `no DNS answer for ${host} in time`)
    const reasons = settled.map((result) => (result.status === 'rejected' ? (result.reason as NodeJS.ErrnoException).code : 'no records'))
    if (reasons.every((code) => code === undefined || code === 'no records' || DNS_FAILURES_NOT_FOUND.has(code))) return []
  }

  return addresses
}

/** RFC 2782: lowest priority first; within one, a weighted random order. */
function ordered<T extends {priority: number; weight: number}>(records: T[]): T[] {
  const byPriority = new Map<number, T[]>()
  for (const record of records) byPriority.set(record.priority, [...(byPriority.get(record.priority) ?? []), record])
  const result: T[] = []
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    const pool = [...byPriority.get(priority)!]
    while (pool.length > 0) {
      const total = pool.reduce((sum, record) => sum + record.weight, 0)
      let pick = Math.random() * total
      let index = pool.findIndex((record) => (pick -= record.weight) < 0)
      if (index < 0) index = 0
      result.push(pool.splice(index, 1)[0])
    }
  }

  return result
}

/** The targets to try for `domain`, in order; PeerNotFound when there are none. */
export async function resolvePeer(domain: string, options: ResolveOptions): Promise<PeerTarget[]> {
  const resolver = new Resolver({timeout: options.timeoutMs, tries: 1})
  const configured = options.addresses[domain]
  if (configured) {
    const addresses = await addressesOf(resolver, configured.host)
    if (addresses.length === 0) throw new PeerNotFound('remote-server-not-found', `${configured.host} (s2s_addresses of ${domain}) has no address`)
    return [{host: configured.host, addresses, port: configured.port ?? 5269, tls: configured.tls ?? false}]
  }

  const [direct, starttls] = await Promise.all([srv(resolver, `_xmpps-server._tcp.${domain}`), srv(resolver, `_xmpp-server._tcp.${domain}`)])
  // RFC 2782: a single record with target "." says the service is not offered.
  const records = [...direct.map((record) => ({...record, tls: true})), ...starttls.map((record) => ({...record, tls: false}))].filter((record) => record.name !== '' && record.name !== '.')
  if (records.length === 0 && direct.length + starttls.length > 0) throw new PeerNotFound('remote-server-not-found', `${domain} offers no XMPP server (SRV target ".")`)
  const targets: PeerTarget[] = []
  if (records.length > 0) {
    for (const record of ordered(records)) {
      const addresses = await addressesOf(resolver, record.name)
      if (addresses.length > 0) targets.push({host: record.name, addresses, port: record.port, tls: record.tls})
    }
  } else {
    // RFC 6120 §3.2.2: no SRV records, so the domain itself on the default port.
    const addresses = await addressesOf(resolver, domain)
    if (addresses.length > 0) targets.push({host: domain, addresses, port: 5269, tls: false})
  }

  if (targets.length === 0) throw new PeerNotFound('remote-server-not-found', `${domain} has no SRV, A or AAAA record`)
  return targets
}
