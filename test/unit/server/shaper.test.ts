import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {Shaper} from '../../../src/server/shaper.js'

describe('traffic shaper', () => {
  it('lets a burst through, then asks for the pause that keeps the average at the rate', () => {
    let now = 0
    const shaper = new Shaper({rate: 1000, burstSize: 5000}, () => now)
    assert.equal(shaper.consume(5000), 0)
    assert.equal(shaper.consume(500), 500)
    now += 500
    assert.equal(shaper.consume(0), 0)
    assert.equal(shaper.consume(2000), 2000)
  })

  it('refills no further than the burst size after a quiet period', () => {
    let now = 0
    const shaper = new Shaper({rate: 1000, burstSize: 2000}, () => now)
    now += 60_000
    assert.equal(shaper.consume(2000), 0)
    assert.equal(shaper.consume(1000), 1000)
  })
})
