import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {StreamManagement, resumptionId, resumptionNode} from '../../../src/server/stream-management.js'

describe('XEP-0198 resumption ids', () => {
  it('are 24 base64url characters outside a cluster, as before, and name no node', () => {
    const id = resumptionId()
    assert.match(id, /^[A-Za-z0-9_-]{24}$/)
    assert.equal(resumptionNode(id), undefined)
  })

  it('name the cluster node that made them, for every node name the configuration allows', () => {
    for (const node of ['n1', 'node-2.example_a', 'A', 'x'.repeat(64), '...', '-_-']) {
      const id = resumptionId(node)
      assert.match(id, /^[A-Za-z0-9_-]{24}~/)
      assert.equal(resumptionNode(id), node)
    }
  })

  it('do not repeat', () => {
    const ids = new Set(Array.from({length: 1000}, () => resumptionId('n1')))
    assert.equal(ids.size, 1000)
  })

  it('name no node when a client sends something this server did not make', () => {
    for (const id of ['', '~n1', 'short~n1', `${'a'.repeat(24)}~`, `${'a'.repeat(24)}~n/1`, `${'a'.repeat(24)}~${'x'.repeat(65)}`, `${'a'.repeat(23)}!~n1`, `${'a'.repeat(24)}~n1~n2`]) {
      assert.equal(resumptionNode(id), undefined, id)
    }
  })
})

describe('stream management state handed to another node', () => {
  it('restores the counts and the unacknowledged stanzas, and goes on counting from there', () => {
    const sm = new StreamManagement('id~n1', 10, 60_000)
    for (const stanza of ['<a/>', '<b/>', '<c/>']) sm.sent(stanza)
    sm.received()
    assert.ok(sm.acknowledge(1))
    const state = sm.state()
    assert.deepEqual(state, {id: 'id~n1', resumeTimeoutMs: 60_000, handled: 1, acknowledged: 1, queue: ['<b/>', '<c/>']})
    const restored = StreamManagement.restore(JSON.parse(JSON.stringify(state)) as typeof state, 10)
    assert.equal(restored.id, 'id~n1')
    assert.equal(restored.resumeTimeoutMs, 60_000)
    assert.equal(restored.handled, 1)
    assert.deepEqual(restored.unacknowledged, ['<b/>', '<c/>'])
    assert.equal(restored.sentCount, 3)
    assert.equal(restored.acknowledge(4), false, 'four were never sent')
    restored.sent('<d/>')
    assert.ok(restored.acknowledge(3))
    assert.deepEqual(restored.unacknowledged, ['<d/>'])
  })

  it('calls a stanza\'s receipt when the client acknowledges it, and gives the rest up once', () => {
    const sm = new StreamManagement(undefined, 10)
    const called: string[] = []
    sm.sent('<a/>', () => called.push('a'))
    sm.sent('<b/>')
    sm.sent('<c/>', () => called.push('c'))
    assert.ok(sm.acknowledge(2))
    assert.deepEqual(called, ['a'])
    const rest = sm.takeReceipts()
    assert.equal(rest.length, 1)
    assert.deepEqual(sm.takeReceipts(), [])
    assert.ok(sm.acknowledge(3))
    assert.deepEqual(called, ['a'], 'a receipt taken is not called again')
  })
})
