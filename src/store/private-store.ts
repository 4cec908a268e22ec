/**
 * Private XML storage (XEP-0049): elements a client keeps on the server
 * for itself, keyed by namespace and name, bounded in bytes per account.
 */

/** A private XML item (XEP-0049), keyed by its root element's namespace and name. */
export interface PrivateKey {
  ns: string
  name: string
}

export interface PrivateItem extends PrivateKey {
  /** The serialised element; undefined in a put removes the item. */
  xml: string | undefined
}

export type PutPrivateResult = 'stored' | 'no-account' | 'storage-full'

export interface PrivateStore {
  /** The stored items among `keys` (XEP-0049), in the order of `keys`; absent ones are left out. */
  getPrivateItems(host: string, username: string, keys: readonly PrivateKey[]): Promise<Array<PrivateKey & {xml: string}>>
  /**
   * Stores or removes each item (each key at most once), all in one
   * transaction with the check that the account's items stay within
   * `maxBytes` of XML together (a change that does not grow the total
   * always passes).
   */
  putPrivateItems(host: string, username: string, items: readonly PrivateItem[], maxBytes: number): Promise<PutPrivateResult>
}
