/**
 * The GSS-API acceptor helper (native/gssapi-helper.c) without a KDC: MIT's
 * ktutil writes a keytab; the helper acquires the acceptor credential for a
 * principal the keytab holds, refuses one it lacks and a missing keytab as a
 * keytab problem, and answers a token that is not Kerberos, a wrap on an
 * unknown context, and requests on several contexts in turn. The full
 * exchange with a real KDC is test/interop/slixmpp-gssapi.test.ts.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {HelperGssAcceptor, defaultGssapiHelper, parseFailure} from '../../../src/auth/gssapi/helper.js'
import {GssError} from '../../../src/sasl/gss-acceptor.js'
import {tempDir} from '../../helpers.js'

const KTUTIL = '/usr/bin/ktutil'
const unavailable = process.env.CI === 'true' ? false : !existsSync(KTUTIL) ? 'ktutil is not installed (apt install krb5-user)' : !existsSync(defaultGssapiHelper()) ? 'the GSS-API helper is not built (libkrb5-dev)' : false

function keytab(t: {after(fn: () => void): void}, principal: string, enctype = 'aes256-cts-hmac-sha1-96'): string {
  const file = path.join(tempDir(t), 'test.keytab')
  execFileSync(KTUTIL, {input: `addent -password -p ${principal} -k 1 -e ${enctype}\nsecret\nwkt ${file}\nquit\n`, stdio: ['pipe', 'ignore', 'ignore']})
  return file
}

async function failure(promise: Promise<unknown>): Promise<GssError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof GssError, String(error))
    return error
  }

  throw new Error('expected a GSS-API failure')
}

describe('the GSS-API acceptor helper', {skip: unavailable}, () => {
  it('acquires the credential of a principal the keytab holds; a token that is not Kerberos is refused; contexts are independent', async (t) => {
    const acceptor = new HelperGssAcceptor({principal: 'xmpp/localhost@EXAMPLE.ORG', keytab: keytab(t, 'xmpp/localhost@EXAMPLE.ORG')})
    t.after(() => acceptor.close())
    assert.equal(await acceptor.check(), 'xmpp/localhost@EXAMPLE.ORG')
    const [first, second] = [acceptor.newContext(), acceptor.newContext()]
    assert.notEqual(first, second)
    // Two requests in flight on two contexts: each gets its own answer. Not-Kerberos is the client's fault, never the keytab's.
    const [a, b] = await Promise.all([failure(acceptor.accept(first, Buffer.from('garbage'))), failure(acceptor.accept(second, Buffer.from('not a token')))])
    assert.equal(a.failure, 'malformed')
    assert.match(a.message, /Invalid token was supplied/)
    assert.ok(b.failure === 'malformed' || b.failure === 'other', b.failure)
    const wrap = await failure(acceptor.wrap(first, Buffer.from([1, 0, 0, 0])))
    assert.equal(wrap.message, 'no such security context')
    await acceptor.release(first)
  })

  it('a keytab without the principal, or no keytab at all, is a keytab problem that names the cause', async (t) => {
    const other = new HelperGssAcceptor({principal: 'xmpp/other@EXAMPLE.ORG', keytab: keytab(t, 'xmpp/localhost@EXAMPLE.ORG')})
    t.after(() => other.close())
    const wrong = await failure(other.check())
    assert.equal(wrong.failure, 'keytab')
    assert.match(wrong.message, /No key table entry found for xmpp\/other@EXAMPLE\.ORG/)
    const missing = new HelperGssAcceptor({principal: 'xmpp/localhost@EXAMPLE.ORG', keytab: '/nonexistent/xmpp.keytab'})
    t.after(() => missing.close())
    assert.match((await failure(missing.check())).message, /Key table file '\/nonexistent\/xmpp\.keytab' not found/)
  })

  it('classifies MIT\'s accept failures by their message', () => {
    assert.equal(parseFailure('other 851968 -1765328347 Unspecified GSS failure.; Clock skew too great', true).failure, 'skew')
    assert.equal(parseFailure('replay 1048576 0 The token was a duplicate of an earlier token; Request is a replay', true).failure, 'replay')
    assert.equal(parseFailure('other 851968 1 Unspecified GSS failure.; Wrong principal in request', true).failure, 'wrong-principal')
    assert.equal(parseFailure('other 851968 1 Unspecified GSS failure.; Wrong principal in request', false).failure, 'other')
  })
})
