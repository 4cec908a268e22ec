import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {normalizeLocalpart} from '../../../../src/jid/index.js'
import {TLS13, authFixture} from '../../auth/setup.js'

describe('ANONYMOUS (RFC 4505)', () => {
  it('assigns a fresh, random, valid localpart to each login', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\nauth_method: [anonymous]\n')
    const names = new Set<string>()
    for (let index = 0; index < 50; index++) {
      const session = (await fixture.auth.get('example.org')!.start('ANONYMOUS', TLS13))!
      const step = await session.step(Buffer.from('trace@example.com'))
      assert.equal(step.type, 'success')
      const {username} = step as {username: string}
      assert.match(username, /^[a-z2-7]{26}$/)
      assert.equal(normalizeLocalpart(username), username)
      names.add(username)
    }

    assert.equal(names.size, 50)
  })

  it('accepts an empty message and refuses trace information over 255 characters', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\nauth_method: [anonymous]\n')
    const start = () => fixture.auth.get('example.org')!.start('ANONYMOUS', TLS13)
    assert.equal((await (await start())!.step(Buffer.alloc(0))).type, 'success')
    assert.equal((await (await start())!.step(Buffer.from('é'.repeat(255)))).type, 'success')
    const long = await (await start())!.step(Buffer.from('x'.repeat(256)))
    assert.equal(long.type === 'failure' && long.condition, 'malformed-request')
  })

  it('is not offered with anonymous_protocol login_anon, nor without the anonymous backend', async (t) => {
    const login = authFixture(t, 'hosts: [example.org]\nauth_method: [internal, anonymous]\nanonymous_protocol: login_anon\n')
    assert.equal(await login.auth.get('example.org')!.start('ANONYMOUS', TLS13), undefined)
    const none = authFixture(t, 'hosts: [example.org]\n')
    assert.equal(await none.auth.get('example.org')!.start('ANONYMOUS', TLS13), undefined)
  })
})
