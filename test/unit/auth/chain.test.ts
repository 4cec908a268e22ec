import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {AuthCache, AuthChain} from '../../../src/auth/index.js'
import {InternalBackend} from '../../../src/auth/backends/internal.js'
import type {AuthMethod, AuthOutcome} from '../../../src/sasl/session.js'
import type {AuthBackend, BackendCapabilities} from '../../../src/auth/types.js'
import {UnavailableError, UnsupportedError} from '../../../src/errors.js'
import {SECRET, authFixture} from './setup.js'

/** A stand-in for a slow backend, counting calls; the real ones are tested in test/integration/auth. */
class CountingBackend implements AuthBackend {
  readonly cacheable = true
  calls = 0
  constructor(
    readonly method: AuthMethod,
    private readonly answer: (username: string, password: string) => AuthOutcome,
  ) {}

  async capabilities(): Promise<BackendCapabilities> {
    return {plain: true, scram: [], anonymous: false}
  }

  async checkPassword(username: string, password: string): Promise<AuthOutcome> {
    this.calls++
    return this.answer(username, password)
  }

  async getScramCredentials(): Promise<never> {
    throw new UnsupportedError('no scram')
  }

  async userExists(username: string): Promise<boolean> {
    this.calls++
    if (username === 'down') throw new UnavailableError('socket gone')
    return username === 'alice'
  }

  async setPassword(): Promise<void> {}
  async createUser(): Promise<void> {}
  async removeUser(): Promise<void> {}
  async close(): Promise<void> {}
}

const cache = (options: Partial<ConstructorParameters<typeof AuthCache>[0]> = {}) => new AuthCache({enabled: true, size: 100, lifeTime: 600, missed: true, ...options})
const external = () => new CountingBackend('external', (username, password) => (username === 'alice' && password === 'right' ? {result: 'accepted'} : {result: 'rejected', reason: 'no'}))

describe('the chain', () => {
  it('tries backends in order; the first that accepts wins', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\n')
    await fixture.add('bob@example.org', 'bobpw')
    const settings = fixture.config.forHost('example.org')
    const ext = external()
    const chain = new AuthChain('example.org', [new InternalBackend(settings, fixture.store, SECRET), ext], cache())
    const bob = await chain.checkPassword('bob', 'bobpw')
    assert.equal(bob.result, 'accepted')
    assert.equal(bob.method, 'internal')
    assert.equal(ext.calls, 0)
    const alice = await chain.checkPassword('alice', 'right')
    assert.equal(alice.method, 'external')
    assert.deepEqual(alice.attempts.map(({method, outcome}) => [method, outcome.result]), [['internal', 'rejected'], ['external', 'accepted']])
  })

  it('reports unavailable instead of rejected when a backend could not be asked', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\n')
    const settings = fixture.config.forHost('example.org')
    const broken = new CountingBackend('external', () => ({result: 'unavailable', reason: 'no reply within 5 s'}))
    const chain = new AuthChain('example.org', [new InternalBackend(settings, fixture.store, SECRET), broken], cache())
    const outcome = await chain.checkPassword('alice', 'right')
    assert.equal(outcome.result, 'unavailable')
    assert.match((outcome as {reason: string}).reason, /external: no reply within 5 s/)
  })

  it('turns a thrown error into unavailable, and UnsupportedError into unsupported', async () => {
    const thrower = new CountingBackend('pam', () => {
      throw new Error('helper crashed')
    })
    const outcome = await new AuthChain('example.org', [thrower], cache()).checkPassword('alice', 'x')
    assert.equal(outcome.result, 'unavailable')
    assert.match((outcome as {reason: string}).reason, /the pam backend failed: helper crashed/)
  })

  it('stops at a disabled account', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\n')
    await fixture.add('alice@example.org', 'right')
    await fixture.store.setState('example.org', 'alice', 'disabled')
    const ext = external()
    const chain = new AuthChain('example.org', [new InternalBackend(fixture.config.forHost('example.org'), fixture.store, SECRET), ext], cache())
    assert.equal((await chain.checkPassword('alice', 'right')).result, 'disabled')
    assert.equal(ext.calls, 0)
  })

  it('login_anon accepts unknown names but never a registered account', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\nauth_method: [internal, anonymous]\nanonymous_protocol: both\n')
    await fixture.add('alice@example.org', 'right')
    const host = fixture.auth.get('example.org')!
    assert.equal((await host.checkPassword('alice', 'wrong')).result, 'rejected')
    const stranger = await host.checkPassword('stranger', 'anything')
    assert.equal(stranger.result, 'accepted')
    assert.equal(stranger.method, 'anonymous')
  })

  it('userExists reports unavailable when unsure', async () => {
    const chain = new AuthChain('example.org', [external()], cache())
    assert.equal(await chain.userExists('alice'), true)
    assert.equal(await chain.userExists('nobody'), false)
    await assert.rejects(chain.userExists('down'), UnavailableError)
  })
})

describe('the auth cache', () => {
  it('answers repeated checks without asking a slow backend', async () => {
    const ext = external()
    const chain = new AuthChain('example.org', [ext], cache())
    for (let index = 0; index < 3; index++) assert.equal((await chain.checkPassword('alice', 'right')).result, 'accepted')
    assert.equal(ext.calls, 1)
    const last = await chain.checkPassword('alice', 'right')
    assert.equal(last.attempts[0].cached, true)
    assert.equal((await chain.checkPassword('alice', 'wrong')).result, 'rejected')
    assert.equal(ext.calls, 2)
  })

  it('caches misses only with auth_cache_missed', async () => {
    const ext = external()
    const chain = new AuthChain('example.org', [ext], cache({missed: false}))
    await chain.checkPassword('alice', 'wrong')
    await chain.checkPassword('alice', 'wrong')
    assert.equal(ext.calls, 2)
    const ext2 = external()
    const missing = new AuthChain('example.org', [ext2], cache({missed: true}))
    await missing.checkPassword('alice', 'wrong')
    await missing.checkPassword('alice', 'wrong')
    assert.equal(ext2.calls, 1)
  })

  it('does nothing with auth_use_cache false', async () => {
    const ext = external()
    const chain = new AuthChain('example.org', [ext], cache({enabled: false}))
    await chain.checkPassword('alice', 'right')
    await chain.checkPassword('alice', 'right')
    assert.equal(ext.calls, 2)
  })

  it('never caches unavailable answers', async () => {
    let up = false
    const flaky = new CountingBackend('external', () => (up ? {result: 'accepted'} : {result: 'unavailable', reason: 'down'}))
    const chain = new AuthChain('example.org', [flaky], cache())
    assert.equal((await chain.checkPassword('alice', 'right')).result, 'unavailable')
    up = true
    assert.equal((await chain.checkPassword('alice', 'right')).result, 'accepted')
  })

  it('expires entries after auth_cache_life_time', async () => {
    let now = 1_000_000
    const ext = external()
    const chain = new AuthChain('example.org', [ext], cache({lifeTime: 60, now: () => now}))
    await chain.checkPassword('alice', 'right')
    now += 59_000
    await chain.checkPassword('alice', 'right')
    assert.equal(ext.calls, 1)
    now += 2000
    await chain.checkPassword('alice', 'right')
    assert.equal(ext.calls, 2)
  })

  it('keeps at most auth_cache_size entries, dropping the least recently used', () => {
    const small = cache({size: 2})
    small.setPassword('external', 'a', 'pw', true)
    small.setPassword('external', 'b', 'pw', true)
    assert.equal(small.getPassword('external', 'a', 'pw'), true)
    small.setPassword('external', 'c', 'pw', true)
    assert.equal(small.size, 2)
    assert.equal(small.getPassword('external', 'b', 'pw'), undefined)
    assert.equal(small.getPassword('external', 'a', 'pw'), true)
  })

  it('drops every entry of a user on invalidate (password changed, deleted, disabled)', async () => {
    const ext = external()
    const chain = new AuthChain('example.org', [ext], cache())
    await chain.checkPassword('alice', 'right')
    await chain.userExists('alice')
    chain.invalidate('alice')
    await chain.checkPassword('alice', 'right')
    assert.equal(ext.calls, 3)
  })

  it('never answers for another host: each host has its own cache', async (t) => {
    const fixture = authFixture(t, 'hosts: [a.example, b.example]\nauth_method: [internal]\n')
    const [a, b] = [fixture.auth.get('a.example')!, fixture.auth.get('b.example')!]
    assert.notEqual(a.chain.cache, b.chain.cache)
    a.chain.cache.setPassword('external', 'alice', 'pw', true)
    assert.equal(b.chain.cache.getPassword('external', 'alice', 'pw'), undefined)
    assert.equal(a.chain.cache.getPassword('external', 'alice', 'pw'), true)
    fixture.auth.invalidate('a.example', 'alice')
    assert.equal(a.chain.cache.getPassword('external', 'alice', 'pw'), undefined)
  })

  it('never holds the password itself', () => {
    const memory = cache()
    memory.setPassword('external', 'alice', 'hunter2-secret', true)
    const dump = JSON.stringify([...(memory as unknown as {entries: Map<string, unknown>}).entries])
    assert.doesNotMatch(dump, /hunter2/)
  })
})
