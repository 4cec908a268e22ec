import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {parseJid} from '../../../src/server/jid.js'
import {BlocklistCache, isBlocked} from '../../../src/server/modules/blocking.js'

const account = (bare: string) => ({host: bare.split('@')[1], username: bare.split('@')[0], bare})

describe('blocklist matching (XEP-0191 §6, XEP-0016 §2.1)', () => {
  const list = new Set(['romeo@montague.net', 'iago@shakespeare.lit/evil', 'example.net', 'capulet.com/nurse'])
  for (const [jid, expected] of [
    ['romeo@montague.net', true],
    ['romeo@montague.net/orchard', true],
    ['iago@shakespeare.lit', false],
    ['iago@shakespeare.lit/evil', true],
    ['iago@shakespeare.lit/good', false],
    ['example.net', true],
    ['anyone@example.net/any', true],
    ['example.net/service', true],
    ['sub.example.net', false],
    ['capulet.com/nurse', true],
    ['juliet@capulet.com/nurse', false],
    ['capulet.com', false],
  ] as const) {
    it(`${expected ? 'blocks' : 'lets through'} ${jid}`, () => {
      assert.equal(isBlocked(list, parseJid(jid)!), expected)
    })
  }
})

describe('the blocklist cache', () => {
  it('loads a list once, and evicts by the JIDs lists hold, giving lists used since their load a second chance', async () => {
    const stored: Record<string, string[]> = {'a@x': ['1', '2', '3'], 'b@x': [], 'c@x': ['1'], 'd@x': []}
    const loads: string[] = []
    const cache = new BlocklistCache(async ({bare}) => {
      loads.push(bare)
      return stored[bare]
    }, () => 6)
    assert.deepEqual([...(await cache.get(account('a@x')))], ['1', '2', '3'])
    // A hit is answered without a promise: the hooks that run on every stanza need no await.
    assert.ok(cache.get(account('a@x')) instanceof Set)
    await cache.get(account('b@x'))
    assert.deepEqual(loads, ['a@x', 'b@x'])
    // a (4) + b (1) + c (2) = 7 > 6: a, used since its load, is passed over; b, unused, leaves.
    await cache.get(account('c@x'))
    assert.equal(cache.size, 2)
    await cache.get(account('a@x'))
    assert.deepEqual(loads, ['a@x', 'b@x', 'c@x'])
    // c (2) + a (4) + d (1) = 7 > 6: c, now the oldest and never used since its load, leaves.
    await cache.get(account('d@x'))
    await cache.get(account('c@x'))
    assert.deepEqual(loads, ['a@x', 'b@x', 'c@x', 'd@x', 'c@x'])
  })

  it('does not keep a load that a write overtook', async () => {
    let release: (jids: string[]) => void = () => {}
    const cache = new BlocklistCache(() => new Promise((resolve) => (release = resolve)), () => 100)
    const stale = cache.get(account('a@x'))
    cache.set('a@x', new Set(['new@x']))
    release([])
    await stale
    assert.deepEqual([...(await cache.get(account('a@x')))], ['new@x'])
  })
})
