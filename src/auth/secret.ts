/**
 * The per-installation secret that keys the fake SCRAM salts of unknown users
 * (and the derived salts of plaintext accounts). It must survive restarts —
 * otherwise every fake salt would change at each restart while real ones stay,
 * telling absent users apart — so it lives in the data directory, 0600, created
 * with that mode from the start.
 */
import {randomBytes} from 'node:crypto'
import {mkdirSync, openSync, readFileSync, writeSync, closeSync} from 'node:fs'
import path from 'node:path'

export const SECRET_FILE = 'auth-secret'
const SECRET_BYTES = 32

export interface ServerSecret {
  secret: Buffer
  /** False when the data directory could not hold it (then it changes with each process). */
  persistent: boolean
  file: string
  problem?: string
}

/**
 * The secret of `dataDir`, created there if absent; with `create: false`
 * (diagnostics, which must leave no state behind) an absent one is replaced
 * by a secret of this process only.
 */
export function loadServerSecret(dataDir: string, {create = true}: {create?: boolean} = {}): ServerSecret {
  return load(dataDir, create, true)
}

function load(dataDir: string, create: boolean, retry: boolean): ServerSecret {
  const file = path.join(dataDir, SECRET_FILE)
  try {
    const secret = readFileSync(file)
    if (secret.length >= 16) return {secret, persistent: true, file}
    return {secret: randomBytes(SECRET_BYTES), persistent: false, file, problem: `${file} holds fewer than 16 bytes`}
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      return {secret: randomBytes(SECRET_BYTES), persistent: false, file, problem: (error as Error).message}
    }
  }

  if (!create) return {secret: randomBytes(SECRET_BYTES), persistent: false, file}
  try {
    mkdirSync(dataDir, {recursive: true, mode: 0o700})
    const secret = randomBytes(SECRET_BYTES)
    const fd = openSync(file, 'wx', 0o600)
    try {
      writeSync(fd, secret)
    } finally {
      closeSync(fd)
    }

    return {secret, persistent: true, file}
  } catch (error) {
    // Another process created it between our read and our write: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST' && retry) return load(dataDir, create, false)
    return {secret: randomBytes(SECRET_BYTES), persistent: false, file, problem: (error as Error).message}
  }
}
