/**
 * Last activity (XEP-0012): when an account was last available, and its
 * last status.
 */

export interface LastActivityStore {
  /** When the account was last available, and the status it left with (XEP-0012). */
  getLastActivity(host: string, username: string): Promise<{at: Date; status: string} | undefined>
  setLastActivity(host: string, username: string, at: Date, status: string): Promise<void>
}
