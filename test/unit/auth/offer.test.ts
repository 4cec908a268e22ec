import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {type BackendOffer, channelBindingTypes, decideMechanisms, offerMechanisms} from '../../../src/auth/index.js'
import {mapPrincipal} from '../../../src/auth/backends/gssapi.js'
import type {ConnectionSecurity} from '../../../src/sasl/session.js'
import {PLAIN_TCP, TLS12, TLS13, authFixture} from './setup.js'

const settings = {disable_sasl_mechanisms: [] as string[], allow_unencrypted_plain_auth: false}
const internal = (scram: BackendOffer['capabilities']['scram']): BackendOffer => ({method: 'internal', capabilities: {plain: true, scram, anonymous: false}})
const external: BackendOffer = {method: 'external', capabilities: {plain: true, scram: [], anonymous: false}}
const anonymous: BackendOffer = {method: 'anonymous', capabilities: {plain: false, scram: [], anonymous: true}}
const gssapi = (ready: boolean): BackendOffer => ({method: 'gssapi', capabilities: {plain: false, scram: [], anonymous: false, gssapi: {ready, why: ready ? 'the keytab holds xmpp/localhost@EXAMPLE.ORG' : 'only DEPRECATED:arcfour-hmac'}}})
const down: BackendOffer = {method: 'pam', capabilities: {plain: false, scram: [], anonymous: false, unavailable: 'helper missing'}}

describe('mechanism offer', () => {
  const cases: Array<[string, BackendOffer[], ConnectionSecurity, Partial<typeof settings>, string[]]> = [
    ['TLS 1.3 with tls-exporter: -PLUS first, strongest first', [internal(['sha1', 'sha256'])], TLS13, {}, ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']],
    ['TLS 1.2 with tls-unique', [internal(['sha256'])], TLS12, {}, ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256', 'PLAIN']],
    ['TLS 1.3 with only tls-unique data: no -PLUS', [internal(['sha256'])], {encrypted: true, tlsVersion: 'TLSv1.3', channelBindings: {'tls-unique': Buffer.alloc(12)}}, {}, ['SCRAM-SHA-256', 'PLAIN']],
    ['TLS 1.2 with only tls-exporter data: no -PLUS', [internal(['sha256'])], {encrypted: true, tlsVersion: 'TLSv1.2', channelBindings: {'tls-exporter': Buffer.alloc(32)}}, {}, ['SCRAM-SHA-256', 'PLAIN']],
    ['TLS without binding data (TLS-terminating proxy): no -PLUS', [internal(['sha256'])], {encrypted: true, tlsVersion: 'TLSv1.3', channelBindings: {}}, {}, ['SCRAM-SHA-256', 'PLAIN']],
    ['tls-server-end-point on any version', [internal(['sha1'])], {encrypted: true, tlsVersion: 'TLSv1.3', channelBindings: {'tls-server-end-point': Buffer.alloc(32)}}, {}, ['SCRAM-SHA-1-PLUS', 'SCRAM-SHA-1', 'PLAIN']],
    ['no TLS: no PLAIN, no -PLUS', [internal(['sha256'])], PLAIN_TCP, {}, ['SCRAM-SHA-256']],
    ['no TLS with allow_unencrypted_plain_auth', [internal(['sha256'])], PLAIN_TCP, {allow_unencrypted_plain_auth: true}, ['SCRAM-SHA-256', 'PLAIN']],
    ['an external backend beside internal: SCRAM would lock its users out', [internal(['sha256']), external], TLS13, {}, ['PLAIN']],
    ['an unavailable backend offers nothing and does not block SCRAM', [internal(['sha256']), down], TLS13, {}, ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256', 'PLAIN']],
    ['only an unavailable backend: nothing at all', [down], TLS13, {}, []],
    ['anonymous only', [anonymous], TLS13, {}, ['ANONYMOUS']],
    ['internal and anonymous', [internal(['sha1']), anonymous], TLS13, {}, ['SCRAM-SHA-1-PLUS', 'SCRAM-SHA-1', 'PLAIN', 'ANONYMOUS']],
    ['gssapi beside internal: GSSAPI after SCRAM, and SCRAM still offered (gssapi holds no passwords)', [gssapi(true), internal(['sha256'])], TLS13, {}, ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256', 'GSSAPI', 'PLAIN']],
    ['gssapi whose keytab is unusable: no GSSAPI', [gssapi(false), internal(['sha256'])], TLS13, {}, ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256', 'PLAIN']],
    ['gssapi alone, without TLS: GSSAPI only', [gssapi(true)], PLAIN_TCP, {}, ['GSSAPI']],
    ['disable_sasl_mechanisms', [internal(['sha1', 'sha256'])], TLS13, {disable_sasl_mechanisms: ['SCRAM-SHA-1', 'SCRAM-SHA-256-PLUS', 'PLAIN']}, ['SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256']],
  ]
  for (const [what, backends, connection, overrides, expected] of cases) {
    it(what, () => assert.deepEqual(offerMechanisms(backends, connection, {...settings, ...overrides}), expected))
  }

  it('says why each mechanism is or is not offered', () => {
    const decisions = decideMechanisms([internal(['sha256']), external], PLAIN_TCP, settings)
    const why = Object.fromEntries(decisions.map(({mechanism, why}) => [mechanism, why]))
    assert.match(why['SCRAM-SHA-256'], /the external backend has no SCRAM-SHA-256 credentials \(it checks plaintext passwords only\)/)
    assert.match(why.PLAIN, /not encrypted.*allow_unencrypted_plain_auth/)
    assert.match(why.ANONYMOUS, /no anonymous backend/)
    assert.equal(why.GSSAPI, 'no gssapi backend in auth_method')
    assert.equal(decideMechanisms([gssapi(false)], TLS13, settings).find(({mechanism}) => mechanism === 'GSSAPI')!.why, 'only DEPRECATED:arcfour-hmac')
  })

  it('announces tls-exporter only on TLS 1.3 and tls-unique only on TLS 1.2', () => {
    const both = {'tls-exporter': Buffer.alloc(32), 'tls-unique': Buffer.alloc(12)}
    assert.deepEqual(channelBindingTypes({encrypted: true, tlsVersion: 'TLSv1.3', channelBindings: both}), ['tls-exporter'])
    assert.deepEqual(channelBindingTypes({encrypted: true, tlsVersion: 'TLSv1.2', channelBindings: both}), ['tls-unique'])
    assert.deepEqual(channelBindingTypes({encrypted: false, channelBindings: both}), [])
  })
})

describe('mechanism offer of a host, from the store', () => {
  it('offers a SCRAM hash only while every account has it', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\nauth_scram_hash: [sha1, sha256, sha512]\n')
    const host = fixture.auth.get('example.org')!
    await fixture.add('alice@example.org', 'secret')
    assert.deepEqual(await host.mechanisms(TLS12), ['SCRAM-SHA-512-PLUS', 'SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-512', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'])
    // An account imported with SHA-1 only.
    const [sha1] = (await fixture.store.getAccount('example.org', 'alice'))!.credentials
    await fixture.store.createAccount('example.org', 'legacy', {credentials: [sha1], plaintext: undefined})
    host.invalidate('legacy')
    assert.deepEqual(await host.mechanisms(TLS12), ['SCRAM-SHA-1-PLUS', 'SCRAM-SHA-1', 'PLAIN'])
    const why = Object.fromEntries((await host.decisions(TLS12)).map(({mechanism, why}) => [mechanism, why]))
    assert.match(why['SCRAM-SHA-256'], /1 of 2 accounts of example\.org lack SCRAM-SHA-256 credentials/)
  })

  it('reuses the offer per kind of connection while capabilities are fresh, and recomputes it after invalidate', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\nauth_scram_hash: [sha1, sha256]\n', {capabilitiesTtl: 60_000})
    const host = fixture.auth.get('example.org')!
    await fixture.add('alice@example.org', 'secret')
    const overTls = await host.mechanisms(TLS13)
    assert.deepEqual(overTls, ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'])
    assert.equal(await host.mechanisms({...TLS13, channelBindings: {'tls-exporter': Buffer.alloc(32, 1)}}), overTls, 'the same kind of connection shares one list')
    assert.deepEqual(await host.mechanisms(PLAIN_TCP), ['SCRAM-SHA-256', 'SCRAM-SHA-1'], 'another kind of connection gets its own')
    assert.deepEqual(await host.mechanisms({...TLS13, channelBindings: {}}), ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'], 'no binding data, no -PLUS')
    assert.throws(() => (overTls as string[]).push('X'), TypeError, 'callers cannot change the shared list')

    const [sha1] = (await fixture.store.getAccount('example.org', 'alice'))!.credentials
    await fixture.store.createAccount('example.org', 'legacy', {credentials: [sha1], plaintext: undefined})
    assert.deepEqual(await host.mechanisms(TLS13), overTls, 'still fresh: the store is not counted again')
    host.invalidate('legacy')
    assert.deepEqual(await host.mechanisms(TLS13), ['SCRAM-SHA-1-PLUS', 'SCRAM-SHA-1', 'PLAIN'])
  })

  it('offers only the configured hashes on a host without accounts', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\nauth_scram_hash: [sha256]\n')
    assert.deepEqual(await fixture.auth.get('example.org')!.mechanisms(TLS13), ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256', 'PLAIN'])
  })

  it('offers every hash for plaintext accounts', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org]\nauth_password_format: plain\n')
    await fixture.add('alice@example.org', 'secret')
    assert.deepEqual(await fixture.auth.get('example.org')!.mechanisms(PLAIN_TCP), ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'SCRAM-SHA-1'])
  })

  it('follows host_config per host', async (t) => {
    const fixture = authFixture(t, 'hosts: [example.org, example.net]\nhost_config:\n  example.net: {auth_method: [anonymous]}\n')
    assert.deepEqual(await fixture.auth.get('example.net')!.mechanisms(TLS13), ['ANONYMOUS'])
    assert.ok((await fixture.auth.get('example.org')!.mechanisms(TLS13)).includes('PLAIN'))
  })
})

describe('the Kerberos principal rule (gssapi_principal_map)', () => {
  const map = {'carol/admin@EXAMPLE.ORG': 'carol', 'dave@OTHER.ORG': 'dave'}
  const cases: Array<[string, ReturnType<typeof mapPrincipal>]> = [
    ['alice@EXAMPLE.ORG', {username: 'alice'}],
    ['Alice@EXAMPLE.ORG', {reason: 'Alice@EXAMPLE.ORG is not a username in its normal form (alice), and gssapi_principal_map does not name it'}],
    ['carol/admin@EXAMPLE.ORG', {username: 'carol'}],
    ['dave@OTHER.ORG', {username: 'dave'}],
    ['bob/admin@EXAMPLE.ORG', {reason: 'bob/admin@EXAMPLE.ORG is an instance principal, and gssapi_principal_map does not name it'}],
    ['eve@OTHER.ORG', {reason: 'eve@OTHER.ORG is of realm OTHER.ORG, not EXAMPLE.ORG, and gssapi_principal_map does not name it'}],
    ['a b@EXAMPLE.ORG', {reason: 'a b@EXAMPLE.ORG maps to "a b", which is not a valid username'}],
  ]
  for (const [principal, expected] of cases) {
    it(`${principal}`, () => assert.deepEqual(mapPrincipal(principal, 'EXAMPLE.ORG', map), expected))
  }
})
