/**
 * `xmppctl upload purge`: removes uploaded files (XEP-0363) older than
 * mod_http_upload's max_days, or an age given, and slots never used; the
 * running server does the same hourly.
 */
import {parseDuration} from '../archive/index.js'
import type {Configuration} from '../config/index.js'
import {optionDefaults} from '../config/modules.js'
import {UsageError} from '../errors.js'
import {UploadStore} from '../server/upload-store.js'

export interface PurgeUploadsResult {
  files: number
  bytes: number
  /** Slots handed out whose upload never came, past their PUT window. */
  slots: number
  /** The age past which files went, in days. */
  maxDays: number
  dryRun: boolean
}

export async function purgeUploads(config: Configuration, options: {olderThan?: string; dryRun?: boolean; now?: number} = {}): Promise<PurgeUploadsResult> {
  const configured = {...optionDefaults('mod_http_upload'), ...config.settings.modules.mod_http_upload}.max_days as number
  const maxDays = options.olderThan === undefined ? configured : parseDuration(options.olderThan) / 86_400_000
  if (options.olderThan === undefined && maxDays === 0) {
    throw new UsageError('mod_http_upload\'s max_days is 0: files are kept forever', 'give an age with --older-than, e.g. --older-than 30d')
  }

  const removed = await new UploadStore(config.dataDir).purge(maxDays, options.now ?? Date.now(), options.dryRun ?? false)
  return {...removed, maxDays, dryRun: options.dryRun ?? false}
}
