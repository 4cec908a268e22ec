/**
 * The table `xmppctl db copy` keeps in its target while it runs: per table,
 * the last key copied and the rows so far, written in the same transaction
 * as each batch, so that a killed copy resumes where it stopped. A store
 * that still holds it is a copy not finished, which no command and no
 * server may use: what it lacks would be lost without a word.
 */
import {StoreError} from '../errors.js'

export const COPY_PROGRESS_TABLE = 'xmppctl_copy_progress'

export function unfinishedCopy(location: string): StoreError {
  return new StoreError('store-incomplete', `${location} is the target of an unfinished "xmppctl db copy"`, 'rerun the same "xmppctl db copy" to finish it')
}
