import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {parseJwtKeys} from '../../../src/auth/backends/jwt.js'
import {TLS13, authFixture} from './setup.js'

describe('the jwt backend', () => {
  it('logs in over PLAIN with a token as the password, only for the JID it names', async (t) => {
    const {SignJWT} = await import('jose')
    const secret = randomBytes(32)
    const fixture = authFixture(t, 'hosts: [example.org]\nauth_method: [jwt]\njwt_key: ./jwt.jwk\n')
    writeFileSync(path.join(fixture.dir, 'jwt.jwk'), JSON.stringify({kty: 'oct', k: secret.toString('base64url')}))
    const token = await new SignJWT({jid: 'alice@example.org'}).setProtectedHeader({alg: 'HS256'}).setExpirationTime('5m').sign(secret)
    const host = fixture.auth.get('example.org')!
    assert.deepEqual(await host.mechanisms(TLS13), ['PLAIN'])
    const login = async (user: string) => (await host.start('PLAIN', TLS13))!.step(Buffer.from(`\0${user}\0${token}`))
    assert.deepEqual(await login('alice'), {type: 'success', username: 'alice', method: 'jwt'})
    const bob = await login('bob')
    assert.equal(bob.type === 'failure' && bob.condition, 'not-authorized')
    assert.match((bob as {reason: string}).reason, /jid-mismatch: the token is for alice@example\.org, not bob@example\.org/)
  })

  it('offers nothing while the key file is missing', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\nauth_method: [jwt]\njwt_key: ./missing.pem\n')
    assert.deepEqual(await fixture.auth.get('example.org')!.mechanisms(TLS13), [])
  })

  it('pins algorithms from the key type, and from a JWK\'s alg', () => {
    const secret = randomBytes(48).toString('base64url')
    assert.deepEqual(parseJwtKeys(JSON.stringify({kty: 'oct', k: secret}))[0].algorithms, ['HS256', 'HS384'])
    assert.deepEqual(parseJwtKeys(JSON.stringify({kty: 'oct', k: secret, alg: 'HS384'}))[0].algorithms, ['HS384'])
    assert.throws(() => parseJwtKeys(JSON.stringify({kty: 'oct', k: secret, alg: 'RS256'})), /cannot verify/)
    assert.throws(() => parseJwtKeys('hello'), /neither PEM nor JSON/)
  })
})
