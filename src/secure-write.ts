/**
 * Writing a file that may hold a secret (a key, a configuration with a
 * password): its mode is right from the first byte, and a replacement is
 * atomic. Used by certificates (src/tls) and `config init` (src/config).
 */
import {randomBytes} from 'node:crypto'
import {closeSync, fchownSync, fsyncSync, openSync, renameSync, rmSync, writeSync} from 'node:fs'
import path from 'node:path'

import {XmppctlError, osErrorText} from './errors.js'

export interface WriteOptions {
  mode: number
  /** Replace an existing file (atomically, by rename); otherwise an existing file is an error. */
  overwrite: boolean
  /** Give the file this owner before any content is written (root only). */
  owner?: {uid: number; gid: number}
}

/**
 * Writes a file whose mode is right from its creation (a key is never
 * readable by others, not even for a moment): a new file is opened with
 * O_EXCL and the mode; a replacement is written beside the target the same
 * way and renamed over it, so readers see the old or the new file, never half.
 */
export function writeFileSecure(file: string, content: string | Buffer, options: WriteOptions): void {
  const target = options.overwrite ? path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`) : file
  let fd: number
  try {
    fd = openSync(target, 'wx', options.mode)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new XmppctlError('file-exists', `${file} already exists`, {hint: 'pass --force to replace it'})
    throw new XmppctlError('file-unwritable', `cannot write ${file}: ${osErrorText(error)}`, {hint: 'check the directory and its permissions'})
  }

  let open = true
  try {
    if (options.owner) fchownSync(fd, options.owner.uid, options.owner.gid)
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content)
    fsyncSync(fd)
    open = false
    closeSync(fd)
    if (target !== file) renameSync(target, file)
  } catch (error) {
    if (open) closeSync(fd)
    rmSync(target, {force: true})
    throw new XmppctlError('file-unwritable', `cannot write ${file}: ${osErrorText(error)}`, {hint: 'check the directory, free space and permissions'})
  }
}
