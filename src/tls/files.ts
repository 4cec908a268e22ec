import {existsSync, mkdirSync} from 'node:fs'
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
