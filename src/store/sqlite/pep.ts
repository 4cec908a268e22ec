import type Database from 'better-sqlite3'

import type {
  AccessModel,
  CreateNodeResult,
  PepItem,
  PepLimits,
  PepNode,
  PepNodeConfig,
  PepStore,
  PepSubscription,
  PublishResult,
  SendLastPublishedItem,
  SubscribeResult,
} from '../pep-store.js'
import {keptItems} from '../pep-store.js'
import {isForeignKeyError, openSharedConnection} from './connection.js'
import {translatingErrors} from './index.js'

interface NodeRow {
  node: string
  access_model: AccessModel
  persist_items: number
  max_items: number | null
  send_last_published_item: SendLastPublishedItem
}

interface ItemRow {
  item_id: string
  payload: string
  publisher: string
  published_at: number
}

function toNode(row: NodeRow): PepNode {
  return {
    node: row.node,
    config: {accessModel: row.access_model, persistItems: row.persist_items === 1, maxItems: row.max_items ?? 'max', sendLastPublishedItem: row.send_last_published_item},
  }
}

function toItem(row: ItemRow): PepItem {
  return {id: row.item_id, payload: row.payload, publisher: row.publisher, publishedAt: new Date(row.published_at)}
}

/** Thrown inside a transaction to roll back a publish that would pass the account's bytes. */
class StorageFull extends Error {}

/**
 * The SQLite PEP store. It shares the account store's file (whose
 * migrations create its tables), on a connection of its own; open the
 * account store first so that the schema is current.
 */
export class SqlitePepStore implements PepStore {
  private readonly db: Database.Database
  private readonly statements

  private constructor(db: Database.Database) {
    this.db = db
    const nodeColumns = 'node, access_model, persist_items, max_items, send_last_published_item'
    const itemColumns = 'item_id, payload, publisher, published_at'
    this.statements = {
      node: db.prepare<[string, string, string], NodeRow>(`SELECT ${nodeColumns} FROM pep_nodes WHERE host = ? AND username = ? AND node = ?`),
      nodes: db.prepare<[string, string], NodeRow>(`SELECT ${nodeColumns} FROM pep_nodes WHERE host = ? AND username = ? ORDER BY node`),
      countNodes: db.prepare<[string, string], {n: number}>('SELECT count(*) AS n FROM pep_nodes WHERE host = ? AND username = ?'),
      insertNode: db.prepare(`INSERT INTO pep_nodes (host, username, ${nodeColumns}) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      updateNode: db.prepare(
        'UPDATE pep_nodes SET access_model = ?, persist_items = ?, max_items = ?, send_last_published_item = ? WHERE host = ? AND username = ? AND node = ?',
      ),
      deleteNode: db.prepare('DELETE FROM pep_nodes WHERE host = ? AND username = ? AND node = ?'),
      deleteItem: db.prepare('DELETE FROM pep_items WHERE host = ? AND username = ? AND node = ? AND item_id = ?'),
      insertItem: db.prepare(`INSERT INTO pep_items (host, username, node, ${itemColumns}) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      // Everything but the `keep` newest.
      trim: db.prepare(
        'DELETE FROM pep_items WHERE host = ? AND username = ? AND node = ? AND seq NOT IN (SELECT seq FROM pep_items WHERE host = ? AND username = ? AND node = ? ORDER BY seq DESC LIMIT ?)',
      ),
      // Bytes: length() of TEXT counts characters.
      usage: db.prepare<[string, string], {bytes: number | null}>('SELECT sum(length(CAST(payload AS BLOB))) AS bytes FROM pep_items WHERE host = ? AND username = ?'),
      all: db.prepare<[string, string, string], ItemRow>(`SELECT ${itemColumns} FROM pep_items WHERE host = ? AND username = ? AND node = ? ORDER BY seq`),
      last: db.prepare<[string, string, string, number], ItemRow>(
        `SELECT * FROM (SELECT seq, ${itemColumns} FROM pep_items WHERE host = ? AND username = ? AND node = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
      ),
      subscription: db.prepare<[string, string, string, string], {n: number}>('SELECT 1 AS n FROM pep_subscriptions WHERE host = ? AND username = ? AND node = ? AND subscriber = ?'),
      countSubscriptions: db.prepare<[string, string, string], {n: number}>('SELECT count(*) AS n FROM pep_subscriptions WHERE host = ? AND username = ? AND node = ?'),
      insertSubscription: db.prepare('INSERT INTO pep_subscriptions (host, username, node, subscriber, subscribed_at) VALUES (?, ?, ?, ?, ?)'),
      deleteSubscription: db.prepare('DELETE FROM pep_subscriptions WHERE host = ? AND username = ? AND node = ? AND subscriber = ?'),
      subscribers: db.prepare<[string, string, string], {subscriber: string}>(
        'SELECT subscriber FROM pep_subscriptions WHERE host = ? AND username = ? AND node = ? ORDER BY subscribed_at, subscriber',
      ),
      // A bare JID, or one of its full JIDs: the resource follows a '/', which no bare JID holds.
      subscriptionsOf: db.prepare<[string, string, string, string, string], PepSubscription>(
        "SELECT node, subscriber FROM pep_subscriptions WHERE host = ? AND username = ? AND (subscriber = ? OR substr(subscriber, 1, length(?) + 1) = ? || '/') ORDER BY node, subscriber",
      ),
      byIds: db.prepare<[string, string, string, string], ItemRow>(
        `SELECT ${itemColumns} FROM pep_items WHERE host = ? AND username = ? AND node = ? AND item_id IN (SELECT value FROM json_each(?)) ORDER BY seq`,
      ),
    }
  }

  static open(dataDir: string): SqlitePepStore {
    const {db, file} = openSharedConnection(dataDir, 'PEP')
    // Errors after open (a full disk, a lock, damage) arrive as StoreErrors, as from the account store.
    return translatingErrors(new SqlitePepStore(db), file)
  }

  async getNode(host: string, username: string, node: string): Promise<PepNode | undefined> {
    const row = this.statements.node.get(host, username, node)
    return row ? toNode(row) : undefined
  }

  async listNodes(host: string, username: string): Promise<PepNode[]> {
    return this.statements.nodes.all(host, username).map(toNode)
  }

  async createNode(host: string, username: string, node: string, config: PepNodeConfig, limits: PepLimits): Promise<CreateNodeResult> {
    const create = this.db.transaction((): CreateNodeResult => {
      if (this.statements.node.get(host, username, node)) return 'exists'
      if (this.statements.countNodes.get(host, username)!.n >= limits.nodes) return 'too-many-nodes'
      this.insertNode(host, username, node, config)
      return 'created'
    })
    try {
      return create.immediate()
    } catch (error) {
      if (isForeignKeyError(error)) return 'no-account'
      throw error
    }
  }

  async configureNode(host: string, username: string, node: string, config: PepNodeConfig, limits: PepLimits): Promise<boolean> {
    return this.db
      .transaction((): boolean => {
        const {accessModel, persistItems, maxItems, sendLastPublishedItem} = config
        const changed = this.statements.updateNode.run(accessModel, persistItems ? 1 : 0, maxItems === 'max' ? null : maxItems, sendLastPublishedItem, host, username, node).changes
        if (changed === 0) return false
        this.statements.trim.run(host, username, node, host, username, node, keptItems(config, limits))
        return true
      })
      .immediate()
  }

  async deleteNode(host: string, username: string, node: string): Promise<boolean> {
    return this.statements.deleteNode.run(host, username, node).changes > 0
  }

  async publish(host: string, username: string, node: string, item: Omit<PepItem, 'publishedAt'>, create: PepNodeConfig | undefined, limits: PepLimits): Promise<PublishResult> {
    const publish = this.db.transaction((): PublishResult => {
      const row = this.statements.node.get(host, username, node)
      if (!row) {
        if (!create) return 'no-node'
        if (this.statements.countNodes.get(host, username)!.n >= limits.nodes) return 'too-many-nodes'
        this.insertNode(host, username, node, create)
      }

      const config = row ? toNode(row).config : create!
      this.statements.deleteItem.run(host, username, node, item.id)
      if (config.persistItems) this.statements.insertItem.run(host, username, node, item.id, item.payload, item.publisher, Date.now())
      this.statements.trim.run(host, username, node, host, username, node, keptItems(config, limits))
      // Rolled back by the throw: a refused publish changes nothing.
      if (config.persistItems && (this.statements.usage.get(host, username)!.bytes ?? 0) > limits.totalBytes) throw new StorageFull()
      return 'published'
    })
    try {
      return publish.immediate()
    } catch (error) {
      if (error instanceof StorageFull) return 'storage-full'
      if (isForeignKeyError(error)) return 'no-account'
      throw error
    }
  }

  async retract(host: string, username: string, node: string, id: string): Promise<boolean> {
    return this.statements.deleteItem.run(host, username, node, id).changes > 0
  }

  async getItems(host: string, username: string, node: string, select: {ids?: readonly string[]; last?: number} = {}): Promise<PepItem[]> {
    if (select.ids) return this.statements.byIds.all(host, username, node, JSON.stringify(select.ids)).map(toItem)
    if (select.last !== undefined) return this.statements.last.all(host, username, node, select.last).map(toItem)
    return this.statements.all.all(host, username, node).map(toItem)
  }

  async subscribe(host: string, username: string, node: string, subscriber: string, limit: number): Promise<SubscribeResult> {
    const subscribe = this.db.transaction((): SubscribeResult => {
      if (!this.statements.node.get(host, username, node)) return 'no-node'
      if (this.statements.subscription.get(host, username, node, subscriber)) return 'subscribed'
      if (this.statements.countSubscriptions.get(host, username, node)!.n >= limit) return 'too-many-subscriptions'
      this.statements.insertSubscription.run(host, username, node, subscriber, Date.now())
      return 'subscribed'
    })
    return subscribe.immediate()
  }

  async unsubscribe(host: string, username: string, node: string, subscriber: string): Promise<boolean> {
    return this.statements.deleteSubscription.run(host, username, node, subscriber).changes > 0
  }

  async getSubscribers(host: string, username: string, node: string): Promise<string[]> {
    return this.statements.subscribers.all(host, username, node).map((row) => row.subscriber)
  }

  async getSubscriptionsOf(host: string, username: string, subscriberBare: string): Promise<PepSubscription[]> {
    return this.statements.subscriptionsOf.all(host, username, subscriberBare, subscriberBare, subscriberBare)
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close()
  }

  private insertNode(host: string, username: string, node: string, {accessModel, persistItems, maxItems, sendLastPublishedItem}: PepNodeConfig): void {
    this.statements.insertNode.run(host, username, node, accessModel, persistItems ? 1 : 0, maxItems === 'max' ? null : maxItems, sendLastPublishedItem)
  }
}
