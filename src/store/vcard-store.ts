/**
 * vCards (XEP-0054), one serialised element per account.
 */

export interface VcardStore {
  /** The account's vCard (XEP-0054), serialised; undefined when none is stored. */
  getVcard(host: string, username: string): Promise<string | undefined>
  /** Replaces the vCard (undefined removes it); false when the account does not exist. */
  setVcard(host: string, username: string, vcard: string | undefined): Promise<boolean>
}
