/**
 * The data directory as the server needs it before it writes there (log,
 * store, certificates, control socket, pid file): present (created 0700),
 * writable by the user it runs as, and not writable by every user (audit's
 * critical dir-mode finding: anyone could replace the store, the keys or the
 * control socket). Checked up front, so that a wrong setup is one clear line
 * instead of an EACCES from whichever file came first. A directory its group
 * may write is served, as a group can be the operators' own, but warned
 * about: audit calls it a warning too.
 */
import {type Stats, accessSync, constants, mkdirSync, statSync} from 'node:fs'

import {DataDirectoryError, osErrorText} from '../errors.js'
import {processUserName} from '../process-user.js'

/** Checks (or creates) the data directory; returns warnings on what it serves anyway. */
export function prepareDataDirectory(dataDir: string): string[] {
  const user = processUserName()
  const unwritable = (doing: string, error: unknown) =>
    new DataDirectoryError(
      'data-dir-unwritable',
      `cannot ${doing} data directory ${dataDir} as user ${user}: ${osErrorText(error)}`,
      `run xmppctl as the user that owns ${dataDir}, or give it to ${user}: chown -R ${user} ${dataDir}`,
      error,
    )
  let stats: Stats
  try {
    stats = statSync(dataDir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw unwritable('reach', error)
    try {
      mkdirSync(dataDir, {recursive: true, mode: 0o700})
    } catch (mkdirError) {
      throw new DataDirectoryError(
        'data-dir-unwritable',
        `cannot create data directory ${dataDir} as user ${user}: ${osErrorText(mkdirError)}`,
        `create it for ${user} (mkdir -m 700 ${dataDir} && chown ${user} ${dataDir}), or set data_dir to a directory ${user} can write`,
        mkdirError,
      )
    }

    return []
  }

  if (!stats.isDirectory()) {
    throw new DataDirectoryError('data-dir-invalid', `data directory ${dataDir} is not a directory`, 'set data_dir to a directory, or move the file away')
  }

  if ((stats.mode & 0o002) !== 0) {
    throw new DataDirectoryError(
      'data-dir-unsafe',
      `data directory ${dataDir} has mode ${(stats.mode & 0o7777).toString(8).padStart(4, '0')}: every user on this machine can replace the account store, keys and control socket in it`,
      `chmod 700 ${dataDir}`,
    )
  }

  try {
    accessSync(dataDir, constants.W_OK | constants.X_OK)
  } catch (error) {
    throw unwritable('write', error)
  }

  if ((stats.mode & 0o020) === 0) return []
  return [`data directory ${dataDir} has mode ${(stats.mode & 0o7777).toString(8).padStart(4, '0')}: its group can replace the account store, keys and control socket in it (chmod g-w ${dataDir}, unless the group is only its operators)`]
}
