import {StoreError} from '../errors.js'

/**
 * A store with pending migrations that is not migrated: by default because
 * update_sql_schema is false, or for the reason the caller gives (an audit
 * changes nothing, whatever update_sql_schema says).
 */
export function outdatedStore(location: string, version: number, expected: number, notMigrating?: string): StoreError {
  if (notMigrating === undefined) {
    return new StoreError(
      'store-outdated',
      `${location} has schema version ${version}, and this xmppctl needs ${expected} (update_sql_schema is false)`,
      'back the store up, then run "xmppctl db migrate"; or set update_sql_schema: true to migrate at start',
    )
  }

  return new StoreError('store-outdated', `${location} has schema version ${version}, and this xmppctl needs ${expected} (${notMigrating})`, 'back the store up, then run "xmppctl db migrate"')
}
