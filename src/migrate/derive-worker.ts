/**
 * A PBKDF2 worker of derive-pool.ts: derives SCRAM credentials (RFC 5802 §3)
 * for already SASLprep'd passwords, with a fresh salt each.
 */
import {createHash, createHmac, pbkdf2Sync, randomBytes} from 'node:crypto'
import {parentPort} from 'node:worker_threads'

import type {DeriveRequest, DeriveResponse} from './derive-pool.js'

const DIGEST_BYTES = {sha1: 20, sha256: 32, sha512: 64} as const
const SALT_BYTES = 16

parentPort!.on('message', (request: DeriveRequest) => {
  const results = request.tasks.map((task) =>
    task.hashes.map((hash) => {
      const salt = randomBytes(SALT_BYTES)
      const salted = pbkdf2Sync(Buffer.from(task.password, 'utf8'), salt, task.iterations, DIGEST_BYTES[hash], hash)
      const clientKey = createHmac(hash, salted).update('Client Key').digest()
      return {
        hash,
        salt,
        iterations: task.iterations,
        storedKey: createHash(hash).update(clientKey).digest(),
        serverKey: createHmac(hash, salted).update('Server Key').digest(),
      }
    }),
  )
  const response: DeriveResponse = {id: request.id, results}
  parentPort!.postMessage(response)
})
