import assert from 'node:assert/strict'
import {pbkdf2Sync} from 'node:crypto'
import {describe, it} from 'node:test'

import {
  SCRAM_HASHES,
  SCRAM_SALT_BYTES,
  assertValidIterations,
  deriveScramCredentials,
  parseScramMechanismName,
  saltedPassword,
  scramDigestBytes,
  scramMechanismName,
  verifyClientProof,
  verifyScramPassword,
} from '../../../src/sasl/scram.js'
import {SCRAM_VECTORS, vectorCredentials} from './scram-vectors.js'

describe('SCRAM mechanism names', () => {
  const table = [
    {hash: 'sha1', plus: false, name: 'SCRAM-SHA-1'},
    {hash: 'sha1', plus: true, name: 'SCRAM-SHA-1-PLUS'},
    {hash: 'sha256', plus: false, name: 'SCRAM-SHA-256'},
    {hash: 'sha256', plus: true, name: 'SCRAM-SHA-256-PLUS'},
    {hash: 'sha512', plus: false, name: 'SCRAM-SHA-512'},
    {hash: 'sha512', plus: true, name: 'SCRAM-SHA-512-PLUS'},
  ] as const
  for (const {hash, plus, name} of table) {
    it(`names ${hash}${plus ? ' with channel binding' : ''} ${name} and parses it back`, () => {
      assert.equal(scramMechanismName(hash, plus), name)
      assert.deepEqual(parseScramMechanismName(name), {hash, plus})
    })
  }

  for (const name of ['SCRAM-MD5', 'scram-sha-1', 'PLAIN', 'SCRAM-SHA-1-PLUS-PLUS', 'SCRAM-SHA-384']) {
    it(`does not recognise ${name}`, () => assert.equal(parseScramMechanismName(name), undefined))
  }
})

describe('SCRAM key derivation', () => {
  for (const vector of SCRAM_VECTORS) {
    it(`derives the StoredKey and ServerKey of ${vector.source}`, async () => {
      const credentials = await deriveScramCredentials(vector.password, vector.hash, {
        iterations: vector.iterations,
        salt: Buffer.from(vector.salt, 'base64'),
      })
      assert.deepEqual(credentials, vectorCredentials(vector))
    })

    it(`accepts the password of ${vector.source} and refuses others`, async () => {
      const credentials = vectorCredentials(vector)
      assert.equal(await verifyScramPassword(vector.password, credentials), true)
      assert.equal(await verifyScramPassword('pencil2', credentials), false)
      assert.equal(await verifyScramPassword('Pencil', credentials), false)
      assert.equal(await verifyScramPassword('', credentials), false)
      assert.equal(await verifyScramPassword('pen\u0007cil', credentials), false)
    })
  }

  it('computes SaltedPassword as PBKDF2 with one block of the hash size', async () => {
    for (const hash of SCRAM_HASHES) {
      const salt = Buffer.from('salt')
      const expected = pbkdf2Sync('pencil', salt, 7, scramDigestBytes(hash), hash)
      assert.deepEqual(await saltedPassword(hash, 'pencil', salt, 7), expected)
    }
  })

  it(`draws a fresh ${SCRAM_SALT_BYTES}-byte salt when none is given`, async () => {
    const first = await deriveScramCredentials('pencil', 'sha256', {iterations: 1})
    const second = await deriveScramCredentials('pencil', 'sha256', {iterations: 1})
    assert.equal(first.salt.length, SCRAM_SALT_BYTES)
    assert.notDeepEqual(first.salt, second.salt)
    assert.notDeepEqual(first.storedKey, second.storedKey)
  })

  for (const hash of SCRAM_HASHES) {
    it(`produces ${scramDigestBytes(hash)}-byte keys for ${hash}`, async () => {
      const credentials = await deriveScramCredentials('pencil', hash, {iterations: 2})
      assert.equal(credentials.storedKey.length, scramDigestBytes(hash))
      assert.equal(credentials.serverKey.length, scramDigestBytes(hash))
      assert.equal(await verifyScramPassword('pencil', credentials), true)
    })
  }

  const sameAsPrepared = [
    {password: 'pa\u0308sswo\u0308rd', prepared: 'pässwörd', why: 'decomposed umlauts compose (NFKC)'},
    {password: 'pässwörd', prepared: 'pässwörd', why: 'composed umlauts stay'},
    {password: '\uFF50\uFF41\uFF53\uFF53\u20AC', prepared: 'pass€', why: 'fullwidth letters narrow (NFKC)'},
    {password: '\u20AC\u00A0euro', prepared: '€ euro', why: 'a non-ASCII space becomes a space'},
    {password: 'pass\u00ADword', prepared: 'password', why: 'a soft hyphen is removed'},
    {password: '\uFB01x', prepared: 'fix', why: 'a ligature decomposes (NFKC)'},
  ]
  for (const {password, prepared, why} of sameAsPrepared) {
    it(`derives the same keys for a password and its SASLprep form: ${why}`, async () => {
      const salt = Buffer.from('0123456789abcdef')
      const fromRaw = await deriveScramCredentials(password, 'sha256', {iterations: 3, salt})
      const fromPrepared = await deriveScramCredentials(prepared, 'sha256', {iterations: 3, salt})
      assert.deepEqual(fromRaw, fromPrepared)
      assert.equal(await verifyScramPassword(prepared, fromRaw), true)
    })
  }

  for (const iterations of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
    it(`refuses an iteration count of ${iterations}`, async () => {
      assert.throws(() => assertValidIterations(iterations), RangeError)
      await assert.rejects(deriveScramCredentials('pencil', 'sha1', {iterations}), RangeError)
    })
  }

  it('accepts an iteration count of 1, leaving minimums to callers', () => assertValidIterations(1))

  it('refuses an empty password when deriving credentials', async () => {
    await assert.rejects(deriveScramCredentials('', 'sha256', {iterations: 1}), {code: 'password-invalid'})
  })

  it('refuses a client proof of the wrong length without comparing', () => {
    const credentials = vectorCredentials(SCRAM_VECTORS[0])
    assert.equal(verifyClientProof('sha1', credentials.storedKey, Buffer.from('x'), Buffer.alloc(19)), false)
  })
})
