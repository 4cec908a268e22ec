import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {AuthAttempt, AuthThrottle, type ThrottleLimits, addressKey} from '../../../src/server/throttle.js'

function throttle(limits: Partial<ThrottleLimits> = {}, maxKeys?: number) {
  const clock = {now: 1_000_000}
  const instance = new AuthThrottle({addressFailures: 5, pairFailures: 3, accountFailures: 6, windowMs: 60_000, ...limits}, {now: () => clock.now, maxKeys})
  return {throttle: instance, clock}
}

/** One attempt settled as `outcome`; returns the refusal, or 'ok'. */
function attempt(instance: AuthThrottle, address: string, account: string | undefined, outcome: 'fail' | 'succeed' | 'cancel' | 'pending' = 'fail'): string {
  const started = instance.begin(address)
  if (!(started instanceof AuthAttempt)) return started
  const refusal = account === undefined ? undefined : started.claim(account)
  if (refusal) return refusal
  if (outcome !== 'pending') started[outcome]()
  return 'ok'
}

describe('AuthThrottle', () => {
  it('refuses an account from one address after pairFailures, and no other address or account', () => {
    const {throttle: t} = throttle()
    for (let index = 0; index < 3; index++) assert.equal(attempt(t, '192.0.2.1', 'alice@x'), 'ok')
    assert.equal(attempt(t, '192.0.2.1', 'alice@x'), 'account from this address')
    assert.equal(attempt(t, '192.0.2.2', 'alice@x'), 'ok')
    assert.equal(attempt(t, '192.0.2.1', 'bob@x'), 'ok')
  })

  it('refuses an address after addressFailures, whatever the account', () => {
    const {throttle: t} = throttle()
    for (let index = 0; index < 5; index++) assert.equal(attempt(t, '192.0.2.1', `user${index}@x`), 'ok')
    assert.equal(attempt(t, '192.0.2.1', 'other@x'), 'address')
    assert.equal(attempt(t, '192.0.2.1', undefined), 'address')
    assert.equal(attempt(t, '192.0.2.9', 'other@x'), 'ok')
  })

  it('counts attempts in flight, so parallel ones cannot pass the limit', () => {
    const {throttle: t} = throttle()
    const results = Array.from({length: 10}, () => attempt(t, '192.0.2.1', 'alice@x', 'pending'))
    assert.deepEqual(results, ['ok', 'ok', 'ok', ...Array(7).fill('account from this address')])
  })

  it('takes back an attempt that got no verdict, and one a later limit refused', () => {
    const {throttle: t} = throttle()
    for (let index = 0; index < 10; index++) assert.equal(attempt(t, '192.0.2.1', 'alice@x', 'cancel'), 'ok')
    for (let index = 0; index < 3; index++) assert.equal(attempt(t, '192.0.2.1', 'alice@x'), 'ok')
    // Refused per account: the address's reservation is taken back too.
    for (let index = 0; index < 10; index++) assert.equal(attempt(t, '192.0.2.1', 'alice@x'), 'account from this address')
    assert.equal(t.addresses.count('192.0.2.1'), 3)
  })

  it('does not clear the address\'s failures on a success, only the success\'s own pair', () => {
    const {throttle: t} = throttle()
    for (let index = 0; index < 3; index++) attempt(t, '192.0.2.1', 'alice@x')
    attempt(t, '192.0.2.1', 'bob@x')
    assert.equal(attempt(t, '192.0.2.1', 'mallory@x', 'succeed'), 'ok')
    assert.equal(t.addresses.count('192.0.2.1'), 4)
    assert.equal(attempt(t, '192.0.2.1', 'alice@x'), 'account from this address')
    attempt(t, '192.0.2.2', 'carol@x')
    attempt(t, '192.0.2.2', 'carol@x')
    assert.equal(attempt(t, '192.0.2.2', 'carol@x', 'succeed'), 'ok')
    assert.equal(t.pairs.count('carol@x 192.0.2.2'), 0, 'the owner who proved the password starts afresh on that address')
  })

  it('past the account-wide ceiling, lets in only addresses that logged in to the account recently', () => {
    const {throttle: t, clock} = throttle({knownForMs: 3_600_000, windowMs: 600_000})
    assert.equal(attempt(t, '198.51.100.7', 'alice@x', 'succeed'), 'ok')
    for (let index = 0; index < 6; index++) assert.equal(attempt(t, `192.0.2.${index}`, 'alice@x'), 'ok')
    assert.equal(attempt(t, '192.0.2.200', 'alice@x'), 'account')
    assert.equal(attempt(t, '198.51.100.7', 'alice@x', 'succeed'), 'ok')
    assert.equal(attempt(t, '192.0.2.200', 'bob@x'), 'ok', 'other accounts are not affected')
    assert.deepEqual(t.restrictedAccounts().map(({key, failures}) => [key, failures]), [['alice@x', 6]])
    clock.now += 3_600_001
    assert.equal(attempt(t, '198.51.100.7', 'alice@x'), 'ok', 'the window has passed')
  })

  it('forgets known addresses after knownForMs', () => {
    const {throttle: t, clock} = throttle({knownForMs: 1000, windowMs: 600_000})
    attempt(t, '198.51.100.7', 'alice@x', 'succeed')
    clock.now += 1001
    for (let index = 0; index < 6; index++) attempt(t, `192.0.2.${index}`, 'alice@x')
    assert.equal(attempt(t, '198.51.100.7', 'alice@x'), 'account')
  })

  it('lets failures expire after the window, oldest first, and says until when an address is refused', () => {
    const {throttle: t, clock} = throttle()
    const start = clock.now
    for (let index = 0; index < 5; index++) {
      attempt(t, '192.0.2.1', `user${index}@x`)
      clock.now += 1000
    }

    assert.deepEqual(t.bannedAddresses(), [{key: '192.0.2.1', failures: 5, until: start + 60_000}])
    clock.now = start + 60_000
    assert.deepEqual(t.bannedAddresses(), [])
    assert.equal(attempt(t, '192.0.2.1', 'user9@x'), 'ok')
    assert.equal(attempt(t, '192.0.2.1', 'user10@x'), 'address')
  })

  it('does not count exempt networks per address, but still per account', () => {
    const {throttle: t} = throttle({exempt: ['10.0.0.0/8', '2001:db8::/32', '127.0.0.1']})
    for (let index = 0; index < 20; index++) assert.equal(attempt(t, '10.1.2.3', `user${index}@x`), 'ok')
    for (let index = 0; index < 20; index++) assert.equal(attempt(t, '::ffff:10.9.9.9', `user${index}@x`), 'ok')
    for (let index = 0; index < 20; index++) assert.equal(attempt(t, '2001:db8:5::1', `user${index}@x`), 'ok')
    for (let index = 0; index < 3; index++) attempt(t, '127.0.0.1', 'alice@x')
    assert.equal(attempt(t, '127.0.0.1', 'alice@x'), 'account from this address')
    assert.deepEqual(t.bannedAddresses(), [])
  })

  it('counts the addresses of one IPv6 /64 as one, and an IPv4-mapped address as IPv4', () => {
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
    assert.equal(addressKey('2001:db8:1:2::ffff'), '2001:db8:1:2::/64')
    assert.equal(addressKey('2001:DB8::1'), '2001:db8:0:0::/64')
    assert.equal(addressKey('::1'), '0:0:0:0::/64')
    assert.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1')
    assert.equal(addressKey('192.0.2.1'), '192.0.2.1')
    const {throttle: t} = throttle()
    for (let index = 0; index < 5; index++) attempt(t, `2001:db8:1:2::${index + 1}`, `user${index}@x`)
    assert.equal(attempt(t, '2001:db8:1:2:ffff:ffff:ffff:ffff', 'other@x'), 'address')
    assert.equal(attempt(t, '2001:db8:1:3::1', 'other@x'), 'ok')
  })

  it('keeps at most maxKeys keys per count, forgetting the least recently counted first', () => {
    const {throttle: t} = throttle({}, 3)
    for (let index = 0; index < 5; index++) attempt(t, '192.0.2.1', 'alice@x')
    for (let index = 2; index <= 4; index++) attempt(t, `192.0.2.${index}`, `user${index}@x`)
    assert.equal(t.addresses.count('192.0.2.1'), 0, 'evicted')
    assert.equal(t.addresses.count('192.0.2.4'), 1)
    attempt(t, '192.0.2.2', 'user2@x')
    attempt(t, '192.0.2.5', 'user5@x')
    assert.equal(t.addresses.count('192.0.2.2'), 2, 'counted again, so kept')
    assert.equal(t.addresses.count('192.0.2.3'), 0, 'the least recently counted went')
  })

  it('settles an attempt once: a verdict after cancel changes nothing', () => {
    const {throttle: t} = throttle()
    const started = t.begin('192.0.2.1') as AuthAttempt
    started.claim('alice@x')
    started.cancel()
    started.fail()
    started.succeed()
    assert.equal(t.addresses.count('192.0.2.1'), 0)
    assert.equal(t.pairs.count('alice@x 192.0.2.1'), 0)
  })

  it('applies new limits on configure and keeps the counts', () => {
    const {throttle: t} = throttle()
    for (let index = 0; index < 3; index++) attempt(t, '192.0.2.1', `user${index}@x`)
    t.configure({addressFailures: 3, pairFailures: 3, accountFailures: 6, windowMs: 60_000})
    assert.equal(attempt(t, '192.0.2.1', 'other@x'), 'address')
  })
})
