import {randomBytes} from 'node:crypto'
import {closeSync, existsSync, fchownSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync} from 'node:fs'
import path from 'node:path'

import type {Configuration} from '../config/index.js'
import {XmppctlError, osErrorText} from '../errors.js'

/** Certificates and keys live in `<data_dir>/certs/`, one pair per host. */
export function certsDir(config: Configuration): string {
  return path.join(config.dataDir, 'certs')
}

/**
 * File names in the certs directory: `HOST.crt` (certificate, then its chain,
 * PEM), `HOST.key` (PKCS#8 PEM), `HOST.csr`. Prosody's convention: the
 * extension says what a file is, and a glob such as `*.crt` never picks up a key.
 */
export function hostFiles(dir: string, host: string): {cert: string; key: string; csr: string} {
  return {cert: path.join(dir, `${host}.crt`), key: path.join(dir, `${host}.key`), csr: path.join(dir, `${host}.csr`)}
}

export const CERT_MODE = 0o644
export const KEY_MODE = 0o600

/** Creates the data and certs directories, 0700 from the start like the rest of the data directory. */
export function ensureCertsDir(config: Configuration): string {
  const dir = certsDir(config)
  try {
    mkdirSync(config.dataDir, {recursive: true, mode: 0o700})
    mkdirSync(dir, {recursive: true, mode: 0o700})
  } catch (error) {
    throw new XmppctlError('file-unwritable', `cannot create ${dir}: ${osErrorText(error)}`, {hint: 'check data_dir in the configuration and its permissions'})
  }

  return dir
}

export function refuseExisting(files: readonly string[], force: boolean): void {
  if (force) return
  const existing = files.filter((file) => existsSync(file))
  if (existing.length > 0) {
    throw new XmppctlError('file-exists', `${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}`, {
      hint: 'pass --force to replace, or move the old files away first',
    })
  }
}

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

/** A path as shown to the user: relative to the working directory when inside it. */
export function displayPath(file: string, cwd = process.cwd()): string {
  const relative = path.relative(cwd, file)
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file
}
