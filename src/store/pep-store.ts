/**
 * The personal eventing (XEP-0163) nodes of each account, with their
 * configuration, and the items published to them in order. Asynchronous
 * like the other stores, so that a networked store can implement it; every
 * write is one transaction.
 */

/** XEP-0060 §4.5 access models this server serves; `authorize` and `roster` are not. */
export type AccessModel = 'open' | 'presence' | 'whitelist'
export const ACCESS_MODELS: readonly AccessModel[] = ['open', 'presence', 'whitelist']

/** XEP-0060 §16.4.3 `pubsub#send_last_published_item`. */
export type SendLastPublishedItem = 'never' | 'on_sub' | 'on_sub_and_presence'
export const SEND_LAST_PUBLISHED_ITEM: readonly SendLastPublishedItem[] = ['never', 'on_sub', 'on_sub_and_presence']

export interface PepNodeConfig {
  accessModel: AccessModel
  /** XEP-0223: false makes a transient node, whose items are notified and not kept. */
  persistItems: boolean
  /** Items kept, the oldest leaving first; 'max' is the server's limit (PepLimits.maxItems). */
  maxItems: number | 'max'
  sendLastPublishedItem: SendLastPublishedItem
}

/** The items a node keeps: its max_items within the server's limit, none when transient. */
export function keptItems(config: PepNodeConfig, limits: PepLimits): number {
  if (!config.persistItems) return 0
  return config.maxItems === 'max' ? limits.maxItems : Math.min(config.maxItems, limits.maxItems)
}

export interface PepNode {
  node: string
  config: PepNodeConfig
}

export interface PepItem {
  id: string
  /** The serialised payload element. */
  payload: string
  /** The publisher's bare JID. */
  publisher: string
  publishedAt: Date
}

/** How much of the store one account's nodes may use. */
export interface PepLimits {
  nodes: number
  /** Items a node keeps at most, whatever its max_items says. */
  maxItems: number
  /** Bytes of all of one account's payloads together. */
  totalBytes: number
}

export type SubscribeResult = 'subscribed' | 'no-node' | 'too-many-subscriptions'

/** An explicit subscription (XEP-0060 §6.1): the node, and the subscriber's bare or full JID. */
export interface PepSubscription {
  node: string
  subscriber: string
}

export type CreateNodeResult = 'created' | 'exists' | 'no-account' | 'too-many-nodes'
export type PublishResult = 'published' | 'no-node' | 'no-account' | 'too-many-nodes' | 'storage-full'

export interface PepStore {
  getNode(host: string, username: string, node: string): Promise<PepNode | undefined>
  /** The account's nodes, by name. */
  listNodes(host: string, username: string): Promise<PepNode[]>
  createNode(host: string, username: string, node: string, config: PepNodeConfig, limits: PepLimits): Promise<CreateNodeResult>
  /** Replaces the node's configuration and trims its items to the new max_items, in one transaction; false when it does not exist. */
  configureNode(host: string, username: string, node: string, config: PepNodeConfig, limits: PepLimits): Promise<boolean>
  /** Deletes the node and its items; false when it did not exist. */
  deleteNode(host: string, username: string, node: string): Promise<boolean>
  /**
   * Publishes `item` in one transaction: creates the node with `create`
   * first when it does not exist (no node, and no `create`: 'no-node'),
   * replaces an item with the same id (it becomes the newest), trims the
   * node to its max_items, and refuses (changing nothing) what would pass
   * `limits`. A transient node keeps no item.
   */
  publish(host: string, username: string, node: string, item: Omit<PepItem, 'publishedAt'>, create: PepNodeConfig | undefined, limits: PepLimits): Promise<PublishResult>
  /** Removes the item; false when the node has no item with that id. */
  retract(host: string, username: string, node: string, id: string): Promise<boolean>
  /** Oldest first: the items with `ids` (those that exist), or the `last` most recent, or all. */
  getItems(host: string, username: string, node: string, select?: {ids?: readonly string[]; last?: number}): Promise<PepItem[]>
  /** Subscribes `subscriber` to the node (again: no change), unless the node has `limit` subscribers already. */
  subscribe(host: string, username: string, node: string, subscriber: string, limit: number): Promise<SubscribeResult>
  /** False when `subscriber` was not subscribed. */
  unsubscribe(host: string, username: string, node: string, subscriber: string): Promise<boolean>
  /** The node's subscribers, in the order they subscribed. */
  getSubscribers(host: string, username: string, node: string): Promise<string[]>
  /** The subscriptions to the account's nodes of the entity whose bare JID is `subscriberBare`, by its bare JID or any full JID. */
  getSubscriptionsOf(host: string, username: string, subscriberBare: string): Promise<PepSubscription[]>
  close(): Promise<void>
}
