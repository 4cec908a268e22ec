import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {parsePlainMessage} from '../../../../src/sasl/mechanisms/index.js'
import {PLAIN_TCP, TLS13, authFixture} from '../../auth/setup.js'

const plain = (authzid: string, authcid: string, password: string) => Buffer.from(`${authzid}\0${authcid}\0${password}`, 'utf8')

describe('PLAIN message parsing (RFC 4616 §2)', () => {
  const cases: Array<[string, Buffer, ReturnType<typeof parsePlainMessage>]> = [
    ['without authzid', plain('', 'alice', 'pw'), {authzid: '', authcid: 'alice', password: 'pw'}],
    ['with authzid', plain('alice@example.org', 'alice', 'pw'), {authzid: 'alice@example.org', authcid: 'alice', password: 'pw'}],
    ['a password with ":" and non-ASCII', plain('', 'alice', 'a:b€'), {authzid: '', authcid: 'alice', password: 'a:b€'}],
    ['two fields only', Buffer.from('alice\0pw'), undefined],
    ['four fields', Buffer.from('\0alice\0pw\0x'), undefined],
    ['an empty authcid', plain('', '', 'pw'), undefined],
    ['an empty password', plain('', 'alice', ''), undefined],
    ['invalid UTF-8', Buffer.concat([Buffer.from('\0alice\0'), Buffer.from([0xff, 0xfe])]), undefined],
    ['a message over 16 KiB', plain('', 'alice', 'x'.repeat(17_000)), undefined],
  ]
  for (const [what, data, expected] of cases) {
    it(`parses ${what}`, () => assert.deepEqual(parsePlainMessage(data), expected))
  }
})

describe('PLAIN against the internal backend', () => {
  const setup = async (t: Parameters<typeof authFixture>[0], yaml = 'hosts: [example.org, example.net]\n') => {
    const fixture = authFixture(t, yaml)
    await fixture.add('alice@example.org', 'pass:wörd€')
    return fixture
  }

  const login = async (fixture: Awaited<ReturnType<typeof setup>>, message: Buffer, host = 'example.org') => {
    const session = await fixture.auth.get(host)!.start('PLAIN', TLS13)
    assert.ok(session)
    return session.step(message)
  }

  it('accepts the right password, with ":" and non-ASCII characters', async (t) => {
    const fixture = await setup(t)
    assert.deepEqual(await login(fixture, plain('', 'alice', 'pass:wörd€')), {type: 'success', username: 'alice', method: 'internal'})
  })

  it('normalises the authcid and accepts user@host of this host', async (t) => {
    const fixture = await setup(t)
    assert.equal((await login(fixture, plain('', 'ALICE', 'pass:wörd€'))).type, 'success')
    assert.equal((await login(fixture, plain('', 'alice@example.org', 'pass:wörd€'))).type, 'success')
    assert.equal((await login(fixture, plain('', 'alice@example.net', 'pass:wörd€'))).type, 'failure')
  })

  it('applies SASLprep so a non-ASCII space matches a space (RFC 4013 §2.1)', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\n')
    await fixture.add('bob@example.org', 'two words')
    assert.equal((await login(fixture, plain('', 'bob', 'two\u00A0words'))).type, 'success')
  })

  it('refuses a wrong password and an unknown user alike with not-authorized', async (t) => {
    const fixture = await setup(t)
    const wrong = await login(fixture, plain('', 'alice', 'wrong'))
    const unknown = await login(fixture, plain('', 'mallory', 'pass:wörd€'))
    assert.equal(wrong.type === 'failure' && wrong.condition, 'not-authorized')
    assert.equal(unknown.type === 'failure' && unknown.condition, 'not-authorized')
  })

  it('never authenticates a user of another host', async (t) => {
    const fixture = await setup(t)
    const result = await login(fixture, plain('', 'alice', 'pass:wörd€'), 'example.net')
    assert.equal(result.type === 'failure' && result.condition, 'not-authorized')
  })

  it('says account-disabled only after the right password', async (t) => {
    const fixture = await setup(t)
    await fixture.store.setState('example.org', 'alice', 'disabled', 'spam')
    fixture.auth.invalidate('example.org', 'alice')
    assert.deepEqual(await login(fixture, plain('', 'alice', 'pass:wörd€')), {type: 'failure', condition: 'account-disabled', reason: 'spam'})
    const wrong = await login(fixture, plain('', 'alice', 'nope'))
    assert.equal(wrong.type === 'failure' && wrong.condition, 'not-authorized')
  })

  it('accepts the user\'s own bare JID as authzid and refuses any other', async (t) => {
    const fixture = await setup(t)
    assert.deepEqual(await login(fixture, plain('Alice@Example.org', 'alice', 'pass:wörd€')), {
      type: 'success',
      username: 'alice',
      authzid: 'Alice@Example.org',
      method: 'internal',
    })
    for (const authzid of ['bob@example.org', 'alice@example.net', 'alice@example.org/res']) {
      const result = await login(fixture, plain(authzid, 'alice', 'pass:wörd€'))
      assert.equal(result.type === 'failure' && result.condition, 'invalid-authzid', authzid)
    }
  })

  it('answers an empty initial response with an empty challenge, then reads the message', async (t) => {
    const fixture = await setup(t)
    const session = (await fixture.auth.get('example.org')!.start('PLAIN', TLS13))!
    assert.deepEqual(await session.step(Buffer.alloc(0)), {type: 'challenge', data: Buffer.alloc(0)})
    assert.equal((await session.step(plain('', 'alice', 'pass:wörd€'))).type, 'success')
    const again = await session.step(plain('', 'alice', 'pass:wörd€'))
    assert.equal(again.type === 'failure' && again.condition, 'malformed-request')
  })

  it('refuses a malformed message with malformed-request', async (t) => {
    const fixture = await setup(t)
    const result = await login(fixture, Buffer.from('alice\0pw'))
    assert.equal(result.type === 'failure' && result.condition, 'malformed-request')
  })

  it('is not started on a connection without TLS unless allowed', async (t) => {
    const fixture = await setup(t)
    assert.equal(await fixture.auth.get('example.org')!.start('PLAIN', PLAIN_TCP), undefined)
    const allowed = authFixture(t, 'hosts: [example.org]\nallow_unencrypted_plain_auth: true\n')
    assert.ok(await allowed.auth.get('example.org')!.start('PLAIN', PLAIN_TCP))
  })
})
