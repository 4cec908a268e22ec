/** Loads test/fixtures/scram-vectors.json from the source tree (this file runs from dist/test/unit/sasl/). */
import {readFileSync} from 'node:fs'

import type {ScramCredentials, ScramHash} from '../../../src/sasl/scram.js'

export interface ScramVector {
  source: string
  mechanism: string
  hash: ScramHash
  username: string
  password: string
  clientNonce: string
  serverNonce: string
  salt: string
  iterations: number
  storedKey: string
  serverKey: string
  clientFirst: string
  serverFirst: string
  clientFinal: string
  serverFinal: string
}

const FIXTURE = new URL('../../../../test/fixtures/scram-vectors.json', import.meta.url)

export const SCRAM_VECTORS: readonly ScramVector[] = (JSON.parse(readFileSync(FIXTURE, 'utf8')) as {vectors: ScramVector[]}).vectors

export function vectorCredentials(vector: ScramVector): ScramCredentials {
  return {
    hash: vector.hash,
    salt: Buffer.from(vector.salt, 'base64'),
    iterations: vector.iterations,
    storedKey: Buffer.from(vector.storedKey, 'base64'),
    serverKey: Buffer.from(vector.serverKey, 'base64'),
  }
}
