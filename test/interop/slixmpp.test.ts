/**
 * slixmpp (Debian python3-slixmpp, under /usr/bin/python3) against the
 * server: SCRAM-SHA-1, SCRAM-SHA-256, PLAIN, over STARTTLS and direct TLS,
 * SCRAM-SHA-1-PLUS with tls-unique over TLS 1.2 (slixmpp's only binding),
 * a message between two slixmpp clients, and message carbons (xep_0280)
 * between two resources of one account.
 *
 * slixmpp 1.8.3 sends the gs2 flag "y" ("I could bind, but you offer no
 * -PLUS") with plain SCRAM whenever Python has tls-unique data, TLS 1.3
 * included, where tls-unique does not exist (RFC 9266 §1); slixmpp 1.8.5 stopped
 * binding on TLS 1.3. The server keeps RFC 5802 §6 as Prosody and ejabberd do:
 * "y" on a connection where -PLUS was offered is a downgrade and fails. A host
 * serving such clients sets disable_sasl_scram_downgrade_protection, which
 * accepts "y" (and drops XEP-0474's h=) while -PLUS stays offered to clients
 * that bind.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {type TestServer, header, loginRaw, startTestServer} from '../integration/server/helpers.js'
import {runSlixmpp, slixmppAvailable} from './clients.js'

const LENIENT = {settings: {disable_sasl_scram_downgrade_protection: true}}

/** Waits until `bare` (or its `resource`) is available, so a message to it is delivered live. */
async function untilAvailable(server: TestServer, bare: string, resource?: string): Promise<void> {
  const deadline = Date.now() + 15_000
  const available = () => (resource === undefined ? server.server.router.available(bare).length > 0 : server.server.router.get(bare, resource)?.available === true)
  while (!available() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
}

// Under CI a missing slixmpp fails the tests (a .ci/run that forgot the package must not pass quietly).
describe('slixmpp against the server', {skip: slixmppAvailable || process.env.CI === 'true' ? false : 'python3-slixmpp is not installed'}, () => {
  for (const [mechanism, directTls, tls12] of [
    ['SCRAM-SHA-1', false, false],
    ['SCRAM-SHA-256', false, false],
    ['SCRAM-SHA-256', true, false],
    ['PLAIN', true, false],
    ['SCRAM-SHA-1-PLUS', false, true],
    ['SCRAM-SHA-256-PLUS', true, true],
  ] as const) {
    const plus = mechanism.endsWith('-PLUS')
    // -PLUS runs on the default host, whose server-first carries XEP-0474's h=: slixmpp ignores it, as RFC 5802 §5 asks.
    it(`logs in with ${mechanism} over ${directTls ? 'direct TLS' : 'STARTTLS'}${tls12 ? ' (TLS 1.2, tls-unique)' : ''}${plus ? ', h= in server-first' : ' on a host with downgrade protection off'}`, async (t) => {
      const server = await startTestServer(t, plus ? {} : LENIENT)
      await server.addUser('alice@localhost', 'pässwörd')
      const events = await runSlixmpp({
        jid: 'alice@localhost',
        password: 'pässwörd',
        mechanism,
        port: directTls ? server.tlsPort : server.starttlsPort,
        direct_tls: directTls,
        tls12,
      })
      const session = events.find((event) => event.event === 'session')
      assert.ok(session, JSON.stringify(events))
      assert.equal(session.mechanism, mechanism)
      assert.match(String(session.jid), /^alice@localhost\/.+/)
      if (tls12) assert.equal(session.tls, 'TLSv1.2')
    })
  }

  for (const tls12 of [false, true]) {
    it(`refuses its "y" with plain SCRAM-SHA-1 over ${tls12 ? 'TLS 1.2' : 'TLS 1.3'} while -PLUS is offered and protection is on`, async (t) => {
      const server = await startTestServer(t)
      await server.addUser('alice@localhost', 'pässwörd')
      const events = await runSlixmpp({jid: 'alice@localhost', password: 'pässwörd', mechanism: 'SCRAM-SHA-1', port: server.starttlsPort, tls12, timeout: 10})
      assert.ok(events.some((event) => event.event === 'failed_auth'), JSON.stringify(events))
      assert.ok(!events.some((event) => event.event === 'session'), JSON.stringify(events))
    })
  }

  it('refuses a wrong password', async (t) => {
    const server = await startTestServer(t, LENIENT)
    await server.addUser('alice@localhost', 'right')
    const events = await runSlixmpp({jid: 'alice@localhost', password: 'wrong', mechanism: 'SCRAM-SHA-256', port: server.starttlsPort, timeout: 10})
    assert.ok(events.some((event) => event.event === 'failed_auth'), JSON.stringify(events))
  })

  it('exchanges a message between two slixmpp clients', async (t) => {
    const server = await startTestServer(t, LENIENT)
    await server.addUser('alice@localhost', 'alice pw')
    await server.addUser('bob@localhost', 'bob pw')
    const bob = runSlixmpp({jid: 'bob@localhost/desk', password: 'bob pw', mechanism: 'SCRAM-SHA-256', port: server.starttlsPort, wait_message: true})
    await untilAvailable(server, 'bob@localhost')
    const alice = await runSlixmpp({jid: 'alice@localhost', password: 'alice pw', mechanism: 'SCRAM-SHA-1', port: server.tlsPort, direct_tls: true, send_to: 'bob@localhost', body: 'hello from alice ✓'})
    assert.ok(alice.some((event) => event.event === 'sent'), JSON.stringify(alice))
    const message = (await bob).find((event) => event.event === 'message')
    assert.ok(message)
    assert.match(String(message.frm), /^alice@localhost\//)
    assert.equal(message.body, 'hello from alice ✓')
  })

  it('shows one slixmpp resource, as carbons, the message another received and the answer it sent (XEP-0280)', async (t) => {
    const server = await startTestServer(t, LENIENT)
    await server.addUser('alice@localhost', 'alice pw')
    await server.addUser('bob@localhost', 'bob pw')
    const login = {password: 'alice pw', mechanism: 'SCRAM-SHA-256', port: server.starttlsPort}
    // The phone enables carbons before its initial presence, so it has them once it is available.
    const phone = runSlixmpp({...login, jid: 'alice@localhost/phone', carbons: true, expect: ['carbon_received', 'carbon_sent']}, 'carbons.py')
    await untilAvailable(server, 'alice@localhost', 'phone')
    const desk = runSlixmpp({...login, jid: 'alice@localhost/desk', expect: ['message'], answer: 'On my way ✓'}, 'carbons.py')
    await untilAvailable(server, 'alice@localhost', 'desk')
    const bob = await loginRaw(t, server.starttlsPort, 'bob', 'bob pw', {resource: 'x'})
    bob.write("<message to='alice@localhost/desk' type='chat' id='m1'><body>Where are you?</body></message>")
    await bob.until(/On my way ✓<\/body>(<stanza-id [^>]*\/>)?<\/message>/)
    const deskEvents = await desk
    assert.deepEqual(deskEvents.find((event) => event.event === 'message'), {event: 'message', frm: 'bob@localhost/x', body: 'Where are you?'}, JSON.stringify(deskEvents))
    const phoneEvents = await phone
    const carbon = {frm: 'alice@localhost', to: 'alice@localhost/phone'}
    assert.deepEqual(
      phoneEvents.filter((event) => event.event.startsWith('carbon_')),
      [
        {event: 'carbon_received', ...carbon, inner_from: 'bob@localhost/x', inner_to: 'alice@localhost/desk', body: 'Where are you?'},
        {event: 'carbon_sent', ...carbon, inner_from: 'alice@localhost/desk', inner_to: 'bob@localhost/x', body: 'On my way ✓'},
      ],
      JSON.stringify(phoneEvents),
    )
  })

  it('stays connected and reads a message whose attribute prefix was declared only on the sender\'s stream header', async (t) => {
    const server = await startTestServer(t, LENIENT)
    await server.addUser('alice@localhost', 'alice pw')
    await server.addUser('bob@localhost', 'bob pw')
    const bob = runSlixmpp({jid: 'bob@localhost/desk', password: 'bob pw', mechanism: 'SCRAM-SHA-256', port: server.starttlsPort, wait_message: true})
    await untilAvailable(server, 'bob@localhost')
    const alice = await loginRaw(t, server.starttlsPort, 'alice', 'alice pw', {streamHeader: header().replace(/>$/, " xmlns:x='urn:x'>")})
    alice.write("<message to='bob@localhost' type='chat' x:a='1'><body>prefixed</body></message>")
    const message = (await bob).find((event) => event.event === 'message')
    assert.ok(message, 'slixmpp received the message')
    assert.equal(message.body, 'prefixed')
  })

  it('logs in at the first try over TLS 1.3 when left to choose its mechanism (Debian poezio\'s first login), binding with tls-unique', async (t) => {
    const server = await startTestServer(t)
    await server.addUser('alice@localhost', 'alice pw')
    const events = await runSlixmpp({jid: 'alice@localhost', password: 'alice pw', port: server.starttlsPort})
    const session = events.find((event) => event.event === 'session')
    assert.ok(session, JSON.stringify(events))
    assert.equal(session.tls, 'TLSv1.3')
    assert.match(String(session.mechanism), /^SCRAM-SHA-(1|256|512)-PLUS$/)
    assert.ok(!events.some((event) => event.event === 'failed_auth'), JSON.stringify(events))
  })

  it('fails that login when allow_tls_unique_on_tls13 is off, as RFC 9266 alone would have it', async (t) => {
    const server = await startTestServer(t, {settings: {allow_tls_unique_on_tls13: false}})
    await server.addUser('alice@localhost', 'alice pw')
    const events = await runSlixmpp({jid: 'alice@localhost', password: 'alice pw', port: server.starttlsPort, timeout: 10})
    assert.ok(!events.some((event) => event.event === 'session'), JSON.stringify(events))
  })
})
