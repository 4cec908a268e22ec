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
import {PostgresDatabase, type PostgresOptions, type Queryable} from './database.js'
import {lockAccount} from './index.js'

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

const NODE_COLUMNS = 'node, access_model, persist_items, max_items, send_last_published_item'
const ITEM_COLUMNS = 'item_id, payload, publisher, published_at'

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
 * The PostgreSQL PEP store: the SQLite store's tables and rules
 * (sqlite/pep.ts). Writes that check the account's limits lock its row
 * first (lockAccount), so two publishes of one account take turns.
 */
export class PostgresPepStore implements PepStore {
  private readonly db: PostgresDatabase

  private constructor(db: PostgresDatabase) {
    this.db = db
  }

  static async open(options: PostgresOptions): Promise<PostgresPepStore> {
    return new PostgresPepStore(await PostgresDatabase.acquire(options))
  }

  private async node(db: Queryable, host: string, username: string, node: string): Promise<NodeRow | undefined> {
    return (await db.query<NodeRow>(`SELECT ${NODE_COLUMNS} FROM pep_nodes WHERE host = $1 AND username = $2 AND node = $3`, [host, username, node])).rows[0]
  }

  private async countNodes(tx: Queryable, host: string, username: string): Promise<number> {
    return (await tx.query<{n: number}>('SELECT count(*) AS n FROM pep_nodes WHERE host = $1 AND username = $2', [host, username])).rows[0].n
  }

  private async insertNode(tx: Queryable, host: string, username: string, node: string, {accessModel, persistItems, maxItems, sendLastPublishedItem}: PepNodeConfig): Promise<void> {
    await tx.query(`INSERT INTO pep_nodes (host, username, ${NODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      host,
      username,
      node,
      accessModel,
      persistItems ? 1 : 0,
      maxItems === 'max' ? null : maxItems,
      sendLastPublishedItem,
    ])
  }

  /** Everything but the `keep` newest items. */
  private async trim(tx: Queryable, host: string, username: string, node: string, keep: number): Promise<void> {
    await tx.query(
      'DELETE FROM pep_items WHERE host = $1 AND username = $2 AND node = $3 AND seq NOT IN (SELECT seq FROM pep_items WHERE host = $1 AND username = $2 AND node = $3 ORDER BY seq DESC LIMIT $4)',
      [host, username, node, keep],
    )
  }

  async getNode(host: string, username: string, node: string): Promise<PepNode | undefined> {
    const row = await this.node(this.db, host, username, node)
    return row ? toNode(row) : undefined
  }

  async listNodes(host: string, username: string): Promise<PepNode[]> {
    return (await this.db.query<NodeRow>(`SELECT ${NODE_COLUMNS} FROM pep_nodes WHERE host = $1 AND username = $2 ORDER BY node COLLATE "C"`, [host, username])).rows.map(toNode)
  }

  async createNode(host: string, username: string, node: string, config: PepNodeConfig, limits: PepLimits): Promise<CreateNodeResult> {
    return this.db.serially(`${username}@${host}`, async (): Promise<CreateNodeResult> => {
      return this.db.transaction(async (tx): Promise<CreateNodeResult> => {
        if (!(await lockAccount(tx, host, username))) return 'no-account'
        if (await this.node(tx, host, username, node)) return 'exists'
        if ((await this.countNodes(tx, host, username)) >= limits.nodes) return 'too-many-nodes'
        await this.insertNode(tx, host, username, node, config)
        return 'created'
      })
    })
  }

  async configureNode(host: string, username: string, node: string, config: PepNodeConfig, limits: PepLimits): Promise<boolean> {
    return this.db.serially(`${username}@${host}`, async (): Promise<boolean> => {
      return this.db.transaction(async (tx) => {
        const {accessModel, persistItems, maxItems, sendLastPublishedItem} = config
        const changed = await tx.query('UPDATE pep_nodes SET access_model = $1, persist_items = $2, max_items = $3, send_last_published_item = $4 WHERE host = $5 AND username = $6 AND node = $7', [
          accessModel,
          persistItems ? 1 : 0,
          maxItems === 'max' ? null : maxItems,
          sendLastPublishedItem,
          host,
          username,
          node,
        ])
        if (changed.rowCount === 0) return false
        await this.trim(tx, host, username, node, keptItems(config, limits))
        return true
      })
    })
  }

  async deleteNode(host: string, username: string, node: string): Promise<boolean> {
    return this.db.serially(`${username}@${host}`, async (): Promise<boolean> => {
      return ((await this.db.query('DELETE FROM pep_nodes WHERE host = $1 AND username = $2 AND node = $3', [host, username, node])).rowCount ?? 0) > 0
    })
  }

  async publish(host: string, username: string, node: string, item: Omit<PepItem, 'publishedAt'>, create: PepNodeConfig | undefined, limits: PepLimits): Promise<PublishResult> {
    return this.db.serially(`${username}@${host}`, async (): Promise<PublishResult> => {
      return this.db
        .transaction(async (tx): Promise<PublishResult> => {
          if (!(await lockAccount(tx, host, username))) return 'no-account'
          const row = await this.node(tx, host, username, node)
          if (!row) {
            if (!create) return 'no-node'
            if ((await this.countNodes(tx, host, username)) >= limits.nodes) return 'too-many-nodes'
            await this.insertNode(tx, host, username, node, create)
          }

          const config = row ? toNode(row).config : create!
          await tx.query('DELETE FROM pep_items WHERE host = $1 AND username = $2 AND node = $3 AND item_id = $4', [host, username, node, item.id])
          if (config.persistItems) {
            await tx.query(`INSERT INTO pep_items (host, username, node, ${ITEM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [host, username, node, item.id, item.payload, item.publisher, Date.now()])
          }

          await this.trim(tx, host, username, node, keptItems(config, limits))
          if (config.persistItems) {
            // Bytes: octet_length, as the SQLite store counts them. Rolled back by the throw: a refused publish changes nothing.
            const used = Number((await tx.query<{bytes: number | null}>('SELECT sum(octet_length(payload)) AS bytes FROM pep_items WHERE host = $1 AND username = $2', [host, username])).rows[0].bytes ?? 0)
            if (used > limits.totalBytes) throw new StorageFull()
          }

          return 'published'
        })
        .catch((error: unknown) => {
          if (error instanceof StorageFull) return 'storage-full' as const
          throw error
        })
    })
  }

  async retract(host: string, username: string, node: string, id: string): Promise<boolean> {
    return this.db.serially(`${username}@${host}`, async (): Promise<boolean> => {
      return ((await this.db.query('DELETE FROM pep_items WHERE host = $1 AND username = $2 AND node = $3 AND item_id = $4', [host, username, node, id])).rowCount ?? 0) > 0
    })
  }

  async getItems(host: string, username: string, node: string, select: {ids?: readonly string[]; last?: number} = {}): Promise<PepItem[]> {
    const owner = [host, username, node]
    if (select.ids) {
      return (await this.db.query<ItemRow>(`SELECT ${ITEM_COLUMNS} FROM pep_items WHERE host = $1 AND username = $2 AND node = $3 AND item_id = ANY($4::text[]) ORDER BY seq`, [...owner, select.ids])).rows.map(toItem)
    }

    if (select.last !== undefined) {
      const {rows} = await this.db.query<ItemRow>(
        `SELECT ${ITEM_COLUMNS} FROM (SELECT seq, ${ITEM_COLUMNS} FROM pep_items WHERE host = $1 AND username = $2 AND node = $3 ORDER BY seq DESC LIMIT $4) AS newest ORDER BY seq`,
        [...owner, select.last],
      )
      return rows.map(toItem)
    }

    return (await this.db.query<ItemRow>(`SELECT ${ITEM_COLUMNS} FROM pep_items WHERE host = $1 AND username = $2 AND node = $3 ORDER BY seq`, owner)).rows.map(toItem)
  }

  async subscribe(host: string, username: string, node: string, subscriber: string, limit: number): Promise<SubscribeResult> {
    return this.db.serially(`${username}@${host}`, async (): Promise<SubscribeResult> => {
      return this.db.transaction(async (tx): Promise<SubscribeResult> => {
        // The node's owner's row: subscriptions to one account's nodes take turns, so the limit holds.
        await lockAccount(tx, host, username)
        if (!(await this.node(tx, host, username, node))) return 'no-node'
        if ((await tx.query('SELECT 1 FROM pep_subscriptions WHERE host = $1 AND username = $2 AND node = $3 AND subscriber = $4', [host, username, node, subscriber])).rows.length > 0) return 'subscribed'
        const count = (await tx.query<{n: number}>('SELECT count(*) AS n FROM pep_subscriptions WHERE host = $1 AND username = $2 AND node = $3', [host, username, node])).rows[0].n
        if (count >= limit) return 'too-many-subscriptions'
        await tx.query('INSERT INTO pep_subscriptions (host, username, node, subscriber, subscribed_at) VALUES ($1, $2, $3, $4, $5)', [host, username, node, subscriber, Date.now()])
        return 'subscribed'
      })
    })
  }

  async unsubscribe(host: string, username: string, node: string, subscriber: string): Promise<boolean> {
    return this.db.serially(`${username}@${host}`, async (): Promise<boolean> => {
      return ((await this.db.query('DELETE FROM pep_subscriptions WHERE host = $1 AND username = $2 AND node = $3 AND subscriber = $4', [host, username, node, subscriber])).rowCount ?? 0) > 0
    })
  }

  async getSubscribers(host: string, username: string, node: string): Promise<string[]> {
    const {rows} = await this.db.query<{subscriber: string}>(
      'SELECT subscriber FROM pep_subscriptions WHERE host = $1 AND username = $2 AND node = $3 ORDER BY subscribed_at, subscriber COLLATE "C"',
      [host, username, node],
    )
    return rows.map((row) => row.subscriber)
  }

  async getSubscriptionsOf(host: string, username: string, subscriberBare: string): Promise<PepSubscription[]> {
    // A bare JID, or one of its full JIDs: the resource follows a '/', which no bare JID holds.
    const {rows} = await this.db.query<PepSubscription>(
      "SELECT node, subscriber FROM pep_subscriptions WHERE host = $1 AND username = $2 AND (subscriber = $3 OR left(subscriber, length($3) + 1) = $3 || '/') ORDER BY node COLLATE \"C\", subscriber COLLATE \"C\"",
      [host, username, subscriberBare],
    )
    return rows
  }

  async close(): Promise<void> {
    await this.db.release()
  }
}
