/**
 * The GSSAPI mechanism's steps (RFC 4752 §3.1) against a stand-in acceptor:
 * which SASL condition each outcome gets. The real acceptor and a real
 * client are test/interop/slixmpp-gssapi.test.ts.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {mapPrincipal} from '../../../../src/auth/backends/gssapi.js'
import {type GssAcceptor, GssError, type GssFailureClass} from '../../../../src/sasl/gss-acceptor.js'
import type {SaslStep} from '../../../../src/sasl/session.js'
import {normalizeLocalpart} from '../../../../src/jid/index.js'
import {GSSAPI} from '../../../../src/sasl/mechanisms/gssapi.js'
import type {MechanismContext} from '../../../../src/sasl/mechanisms/types.js'

const REALM = 'EXAMPLE.ORG'
const WRAPPED = Buffer.from('wrapped:')

/** Wraps by prefixing, unwraps by stripping: enough to see what the mechanism sends and reads. */
function acceptor(outcome: {principal?: string; apRep?: Buffer; error?: GssFailureClass}, released: number[]): GssAcceptor {
  let next = 1
  return {
    newContext: () => next++,
    async accept() {
      if (outcome.error) throw new GssError(outcome.error, 0, 0, `a ${outcome.error} failure`)
      return {complete: true, token: outcome.apRep ?? Buffer.alloc(0), principal: outcome.principal ?? `alice@${REALM}`}
    },
    wrap: async (_context: number, data: Buffer) => Buffer.concat([WRAPPED, data]),
    unwrap: async (_context: number, token: Buffer) => token.subarray(WRAPPED.length),
    release: async (context: number) => {
      released.push(context)
    },
  } as unknown as GssAcceptor
}

function session(outcome: Parameters<typeof acceptor>[0], accounts: Record<string, string | undefined> = {alice: undefined}) {
  const released: number[] = []
  const context = {
    auth: {
      host: 'localhost',
      gssapi: {acceptor: acceptor(outcome, released), map: (principal: string) => mapPrincipal(principal, REALM, {})},
      accountStatus: async (username: string) => (Object.hasOwn(accounts, username) ? {exists: true, ...(accounts[username] ? {disabled: accounts[username]} : {})} : {exists: false}),
    },
    normalizeUsername: normalizeLocalpart,
  } as unknown as MechanismContext
  return {mechanism: GSSAPI.create(context), released}
}

const answer = (layer: number, authzid = '') => Buffer.concat([WRAPPED, Buffer.from([layer, 0, 0, 0]), Buffer.from(authzid)])
const condition = (step: SaslStep) => (step.type === 'failure' ? step.condition : step.type)

describe('SASL GSSAPI steps', () => {
  it('with mutual authentication: the AP-REP, an empty reply, the wrapped offer of "no security layer" only, then success; the context is released', async () => {
    const {mechanism, released} = session({apRep: Buffer.from('ap-rep')})
    assert.deepEqual(await mechanism.step(Buffer.alloc(0)), {type: 'challenge', data: Buffer.alloc(0)})
    assert.deepEqual(await mechanism.step(Buffer.from('ap-req')), {type: 'challenge', data: Buffer.from('ap-rep')})
    assert.deepEqual(await mechanism.step(Buffer.alloc(0)), {type: 'challenge', data: Buffer.concat([WRAPPED, Buffer.from([1, 0, 0, 0])])})
    assert.deepEqual(await mechanism.step(answer(1, 'alice@localhost')), {type: 'success', username: 'alice', authzid: 'alice@localhost', method: 'gssapi'})
    assert.deepEqual(released, [1])
  })

  it('refuses what RFC 4752 §3.1 does not allow, and what the account rule does not', async () => {
    const cases: Array<[string, Parameters<typeof session>, Buffer, string]> = [
      ['a security layer that was not offered (integrity)', [{}], answer(2), 'malformed-request'],
      ['fewer than 4 octets', [{}], Buffer.concat([WRAPPED, Buffer.from([1, 0])]), 'malformed-request'],
      ['an authzid of another account', [{}], answer(1, 'bob@localhost'), 'invalid-authzid'],
      ['the localpart as authzid (slixmpp)', [{}], answer(1, 'alice'), 'success'],
      ['a principal without an account', [{principal: `bob@${REALM}`}], answer(1), 'not-authorized'],
      ['another realm', [{principal: 'alice@OTHER.ORG'}], answer(1), 'not-authorized'],
      ['a disabled account', [{}, {alice: 'left the company'}], answer(1), 'account-disabled'],
    ]
    for (const [what, args, last, expected] of cases) {
      const {mechanism} = session(...args)
      assert.equal((await mechanism.step(Buffer.from('ap-req'))).type, 'challenge', what)
      assert.equal(condition(await mechanism.step(last)), expected, what)
    }
  })

  it('maps the acceptor\'s failures: skew, replay, wrong principal to not-authorized, an expired ticket to credentials-expired, the keytab to temporary-auth-failure', async () => {
    const cases: Array<[GssFailureClass, string]> = [
      ['skew', 'not-authorized'],
      ['replay', 'not-authorized'],
      ['wrong-principal', 'not-authorized'],
      ['other', 'not-authorized'],
      ['expired', 'credentials-expired'],
      ['keytab', 'temporary-auth-failure'],
      ['busy', 'temporary-auth-failure'],
      ['malformed', 'malformed-request'],
    ]
    for (const [error, expected] of cases) {
      const {mechanism, released} = session({error})
      const step = await mechanism.step(Buffer.from('ap-req'))
      assert.equal(condition(step), expected, error)
      assert.ok(step.type === 'failure' && step.reason?.includes(`a ${error} failure`), error)
      assert.deepEqual(released, [1], error)
    }
  })
})
