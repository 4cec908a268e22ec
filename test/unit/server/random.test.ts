import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {randomToken} from '../../../src/server/random.js'

describe('pooled random tokens', () => {
  it('gives base64url tokens of the asked size that do not repeat, across pool refills', () => {
    const seen = new Set<string>()
    // 12 bytes each: 2,000 tokens run through the 4 KiB pool several times.
    for (let index = 0; index < 2000; index++) {
      const token = randomToken(12)
      assert.match(token, /^[A-Za-z0-9_-]{16}$/)
      seen.add(token)
    }

    assert.equal(seen.size, 2000)
    assert.equal(Buffer.from(randomToken(9), 'base64url').length, 9)
  })

  it('refuses more than the pool holds', () => {
    assert.throws(() => randomToken(5000), RangeError)
  })
})
