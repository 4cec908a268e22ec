import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import type {ConnectionSecurity, SaslSession, SaslStep} from '../../../../src/sasl/session.js'
import type {AnnouncedConnection} from '../../../../src/sasl/mechanisms/index.js'
import type {ChannelBinding} from '../../../../src/sasl/outcome.js'
import {SCRAM_HASHES, type ScramHash} from '../../../../src/sasl/scram.js'
import {ScramClient} from '../../../../src/sasl/scram-client.js'
import {TLS12, TLS13, authFixture} from '../../auth/setup.js'

const ALL_HASHES = 'hosts: [example.org]\nauth_scram_hash: [sha1, sha256, sha512]\n'

async function run(session: SaslSession, client: ScramClient): Promise<{last: SaslStep; serverFirst?: string}> {
  const first = await session.step(client.firstMessage())
  if (first.type !== 'challenge') return {last: first}
  const last = await session.step(await client.finalMessage(first.data))
  if (last.type === 'success') client.verifyServerFinal(last.data!)
  return {last, serverFirst: first.data.toString()}
}

async function login(
  fixture: ReturnType<typeof authFixture>,
  options: {hash: ScramHash; username: string; password: string; connection?: ConnectionSecurity; binding?: ChannelBinding; plus?: boolean},
) {
  const connection = options.connection ?? TLS13
  const mechanism = `SCRAM-SHA-${{sha1: '1', sha256: '256', sha512: '512'}[options.hash]}${options.plus ? '-PLUS' : ''}`
  const session = await fixture.auth.get('example.org')!.start(mechanism, connection)
  assert.ok(session, `${mechanism} should be offered`)
  const client = new ScramClient({hash: options.hash, username: options.username, password: options.password, channelBinding: options.binding})
  return run(session, client)
}

describe('SCRAM mechanisms against the internal backend', () => {
  for (const hash of SCRAM_HASHES) {
    it(`authenticates with ${hash} and a password with ":" and non-ASCII characters`, async (t) => {
      const fixture = authFixture(t, ALL_HASHES)
      await fixture.add('alice@example.org', 'pass:wörd€')
      const {last} = await login(fixture, {hash, username: 'alice', password: 'pass:wörd€'})
      assert.equal(last.type, 'success')
      assert.equal(last.type === 'success' && last.username, 'alice')
    })
  }

  it('binds to tls-exporter on TLS 1.3 (SCRAM-SHA-256-PLUS)', async (t) => {
    const fixture = authFixture(t, ALL_HASHES)
    await fixture.add('alice@example.org', 'secret')
    const binding = {type: 'tls-exporter', data: TLS13.channelBindings['tls-exporter']!}
    assert.equal((await login(fixture, {hash: 'sha256', username: 'alice', password: 'secret', binding, plus: true})).last.type, 'success')
    const wrong = {type: 'tls-exporter', data: Buffer.alloc(32, 1)}
    const {last} = await login(fixture, {hash: 'sha256', username: 'alice', password: 'secret', binding: wrong, plus: true})
    assert.equal(last.type === 'failure' && last.condition, 'not-authorized')
  })

  it('binds to tls-unique on TLS 1.2 and refuses tls-exporter there', async (t) => {
    const fixture = authFixture(t, ALL_HASHES)
    await fixture.add('alice@example.org', 'secret')
    const binding = {type: 'tls-unique', data: TLS12.channelBindings['tls-unique']!}
    const ok = await login(fixture, {hash: 'sha1', username: 'alice', password: 'secret', connection: TLS12, binding, plus: true})
    assert.equal(ok.last.type, 'success')
    const both: ConnectionSecurity = {...TLS12, channelBindings: {...TLS12.channelBindings, 'tls-exporter': Buffer.alloc(32, 3)}}
    const exporter = {type: 'tls-exporter', data: Buffer.alloc(32, 3)}
    const refused = await login(fixture, {hash: 'sha1', username: 'alice', password: 'secret', connection: both, binding: exporter, plus: true})
    assert.equal(refused.last.type === 'failure' && refused.last.condition, 'malformed-request')
  })

  it('detects a downgrade: a client that could bind ("y") while -PLUS was offered', async (t) => {
    const fixture = authFixture(t, ALL_HASHES)
    await fixture.add('alice@example.org', 'secret')
    const session = (await fixture.auth.get('example.org')!.start('SCRAM-SHA-256', TLS13))!
    const client = new ScramClient({hash: 'sha256', username: 'alice', password: 'secret', supportsChannelBinding: true})
    const step = await session.step(client.firstMessage())
    assert.equal(step.type === 'failure' && step.condition, 'not-authorized')
  })

  it('signs what the stream announced (XEP-0474 h=) and honours the host switch for "y"', async (t) => {
    const fixture = authFixture(t, ALL_HASHES)
    await fixture.add('alice@example.org', 'secret')
    const host = fixture.auth.get('example.org')!
    const announced = {mechanisms: await host.mechanisms(TLS13), channelBindingTypes: ['tls-exporter']}
    const on: AnnouncedConnection = {...TLS13, sasl: {...announced, downgradeProtection: true}}
    const client = new ScramClient({hash: 'sha512', username: 'alice', password: 'secret', announced, requireDowngradeProtection: true})
    assert.equal((await run((await host.start('SCRAM-SHA-512', on))!, client)).last.type, 'success')
    assert.equal(client.downgradeProtected, true)
    const off: AnnouncedConnection = {...TLS13, sasl: {...announced, downgradeProtection: false}}
    const y = new ScramClient({hash: 'sha512', username: 'alice', password: 'secret', supportsChannelBinding: true})
    const lenient = await run((await host.start('SCRAM-SHA-512', off))!, y)
    assert.equal(lenient.last.type, 'success')
    assert.doesNotMatch(lenient.serverFirst!, /,h=/)
  })

  it('refuses a wrong password with not-authorized', async (t) => {
    const fixture = authFixture(t, ALL_HASHES)
    await fixture.add('alice@example.org', 'secret')
    const {last} = await login(fixture, {hash: 'sha256', username: 'alice', password: 'wrong'})
    assert.equal(last.type === 'failure' && last.condition, 'not-authorized')
  })

  it('gives an unknown user a stable fake salt and the configured iteration count', async (t) => {
    const fixture = authFixture(t, ALL_HASHES)
    await fixture.add('alice@example.org', 'secret')
    const first = await login(fixture, {hash: 'sha256', username: 'nobody', password: 'x'})
    const second = await login(fixture, {hash: 'sha256', username: 'nobody', password: 'y'})
    const salt = (text: string | undefined) => /,s=([^,]+),i=(\d+)/.exec(text ?? '')?.slice(1)
    assert.deepEqual(salt(first.serverFirst), salt(second.serverFirst))
    assert.equal(salt(first.serverFirst)?.[1], '4096')
    assert.equal(first.last.type === 'failure' && first.last.condition, 'not-authorized')
  })

  it('says account-disabled only after a valid proof', async (t) => {
    const fixture = authFixture(t, ALL_HASHES)
    await fixture.add('alice@example.org', 'secret')
    await fixture.store.setState('example.org', 'alice', 'disabled', 'abuse')
    const right = await login(fixture, {hash: 'sha512', username: 'alice', password: 'secret'})
    assert.deepEqual(right.last, {type: 'failure', condition: 'account-disabled', reason: 'abuse'})
    const wrong = await login(fixture, {hash: 'sha512', username: 'alice', password: 'nope'})
    assert.equal(wrong.last.type === 'failure' && wrong.last.condition, 'not-authorized')
  })

  it('serves SCRAM from plaintext accounts with a salt that stays the same', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\nauth_password_format: plain\n')
    await fixture.add('carol@example.org', 'plain:tëxt')
    const a = await login(fixture, {hash: 'sha512', username: 'carol', password: 'plain:tëxt'})
    const b = await login(fixture, {hash: 'sha512', username: 'carol', password: 'plain:tëxt'})
    assert.equal(a.last.type, 'success')
    assert.equal(/,s=([^,]+)/.exec(a.serverFirst!)?.[1], /,s=([^,]+)/.exec(b.serverFirst!)?.[1])
  })

  it('accepts the user\'s own JID as authzid and refuses another', async (t) => {
    const fixture = authFixture(t, ALL_HASHES)
    await fixture.add('alice@example.org', 'secret')
    const session = (await fixture.auth.get('example.org')!.start('SCRAM-SHA-1', TLS13))!
    const own = await run(session, new ScramClient({hash: 'sha1', username: 'alice', password: 'secret', authzid: 'alice@example.org'}))
    assert.equal(own.last.type === 'success' && own.last.authzid, 'alice@example.org')
    const other = (await fixture.auth.get('example.org')!.start('SCRAM-SHA-1', TLS13))!
    const refused = await run(other, new ScramClient({hash: 'sha1', username: 'alice', password: 'secret', authzid: 'bob@example.org'}))
    assert.equal(refused.last.type === 'failure' && refused.last.condition, 'invalid-authzid')
  })

  it('answers an empty initial response with an empty challenge', async (t) => {
    const fixture = authFixture(t, ALL_HASHES)
    await fixture.add('alice@example.org', 'secret')
    const session = (await fixture.auth.get('example.org')!.start('SCRAM-SHA-256', TLS13))!
    assert.deepEqual(await session.step(Buffer.alloc(0)), {type: 'challenge', data: Buffer.alloc(0)})
    const client = new ScramClient({hash: 'sha256', username: 'alice', password: 'secret'})
    assert.equal((await run(session, client)).last.type, 'success')
  })

  it('is not started for a hash some account lacks', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\nauth_scram_hash: [sha1]\n')
    await fixture.add('alice@example.org', 'secret')
    assert.equal(await fixture.auth.get('example.org')!.start('SCRAM-SHA-256', TLS13), undefined)
    assert.ok(await fixture.auth.get('example.org')!.start('SCRAM-SHA-1', TLS13))
  })
})
