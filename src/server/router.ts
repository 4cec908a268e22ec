/**
 * Local sessions by bare JID and resource. Binding a resource that is
 * already bound replaces the older session (RFC 6120 §7.7.2.2, "override").
 * In a cluster (sm_db_type: redis) the ClusterRouter of cluster.ts answers
 * with the other nodes' sessions too.
 */
import {type C2sSession, NOTHING_SHARED} from './c2s.js'

export class Router {
  private readonly sessions = new Map<string, Map<string, C2sSession>>()

  /** Adds a bound session; returns the session it replaced, if any. */
  bind(session: C2sSession): C2sSession | undefined {
    const bare = session.bareJid
    let resources = this.sessions.get(bare)
    if (!resources) {
      resources = new Map()
      this.sessions.set(bare, resources)
    }

    const resource = session.jid!.resource
    const previous = resources.get(resource)
    resources.set(resource, session)
    return previous === session ? undefined : previous
  }

  unbind(session: C2sSession): boolean {
    return this.release(session)
  }

  /** Settles once a session just bound is known wherever it must be for stanzas to reach it (in a cluster, every node); undefined when it already is. */
  registration(_session: C2sSession): Promise<void> | undefined {
    return undefined
  }

  /** Removes a bound session and nothing more: a cluster's unbind() also tells the other nodes, release() does not (a session handed to another node, whose bind tells them). */
  release(session: C2sSession): boolean {
    if (!session.jid) return false
    const resources = this.sessions.get(session.bareJid)
    if (!resources || resources.get(session.jid.resource) !== session) return false
    resources.delete(session.jid.resource)
    if (resources.size === 0) this.sessions.delete(session.bareJid)
    return true
  }

  get(bare: string, resource: string): C2sSession | undefined {
    return this.sessions.get(bare)?.get(resource)
  }

  all(bare: string): C2sSession[] {
    return [...(this.sessions.get(bare)?.values() ?? [])]
  }

  /** Sessions that sent initial presence (RFC 6121 "available resources"). */
  available(bare: string): C2sSession[] {
    const available: C2sSession[] = []
    for (const session of this.sessions.get(bare)?.values() ?? []) if (session.available) available.push(session)
    return available
  }

  /** The available sessions of this process only (the same as available() outside a cluster). */
  localAvailable(bare: string): C2sSession[] {
    return this.available(bare)
  }

  /**
   * What a cluster's registry keeps of a bound session changed (presence,
   * priority, carbons, interest in roster pushes): a cluster tells the other
   * nodes, and the promise settles once they were told. Nothing to do here.
   */
  changed(session: C2sSession): Promise<void> | undefined {
    void session
    return undefined
  }

  /**
   * Sets what module `name` keeps of `session` that other nodes of a cluster
   * need to decide what to send it (undefined removes it); in a cluster the
   * promise settles once they were told (see changed()).
   */
  share(session: C2sSession, name: string, value: unknown): Promise<void> | undefined {
    const {[name]: previous, ...others} = session.shared
    if (value === undefined ? previous === undefined : JSON.stringify(value) === JSON.stringify(previous)) return undefined
    if (value !== undefined) session.shared = Object.freeze({...others, [name]: value})
    else session.shared = Object.keys(others).length > 0 ? Object.freeze(others) : NOTHING_SHARED
    return this.changed(session)
  }

  /**
   * A session bound elsewhere that this process may not have heard of yet (in
   * a cluster, one just bound on another node whose announcement is still on
   * its way); undefined when there is no elsewhere to ask.
   */
  locate(bare: string, resource: string): Promise<C2sSession | undefined> | undefined {
    void bare
    void resource
    return undefined
  }

  /** Every session bound in this process. */
  *every(): Iterable<C2sSession> {
    for (const resources of this.sessions.values()) yield* resources.values()
  }

  countByHost(): Record<string, number> {
    const counts: Record<string, number> = {}
    for (const session of this.every()) counts[session.host!] = (counts[session.host!] ?? 0) + 1
    return counts
  }
}
