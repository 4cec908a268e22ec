/**
 * Real clients: @xmpp/client (PLAIN, SCRAM-SHA-1, ANONYMOUS) logs in over
 * STARTTLS and direct TLS, exchanges presence and messages, manages its
 * roster and gets offline messages.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {xml} from '@xmpp/client'

import {startTestServer} from '../integration/server/helpers.js'
import {type Stanza, connect} from './clients.js'

const presenceFrom = (jid: string, type?: string) => (stanza: Stanza): boolean =>
  stanza.is('presence') && (stanza.attrs.from ?? '').startsWith(jid) && stanza.attrs.type === type

describe('@xmpp/client against the server', () => {
  for (const [mechanism, directTls] of [
    ['SCRAM-SHA-1', false],
    ['SCRAM-SHA-1', true],
    ['PLAIN', false],
    ['PLAIN', true],
  ] as const) {
    it(`logs in with ${mechanism} over ${directTls ? 'direct TLS' : 'STARTTLS'} and pings the server`, async (t) => {
      const server = await startTestServer(t)
      // @xmpp/client base64-encodes PLAIN as Latin-1 (btoa), so only SCRAM gets a non-ASCII password.
      const password = mechanism === 'PLAIN' ? 'password 1' : 'pässword 1'
      await server.addUser('alice@localhost', password)
      const alice = await connect(t, server, {username: 'alice', password, mechanism, directTls})
      assert.equal(alice.mechanism, mechanism)
      assert.match(alice.jid, /^alice@localhost\/.+/)
      const pong = await alice.xmpp.iqCaller.request(xml('iq', {type: 'get', to: 'localhost'}, xml('ping', {xmlns: 'urn:xmpp:ping'})))
      assert.equal(pong.attrs.type, 'result')
    })
  }

  it('refuses a wrong password with not-authorized', async (t) => {
    const server = await startTestServer(t)
    await server.addUser('alice@localhost', 'right')
    await assert.rejects(connect(t, server, {username: 'alice', password: 'wrong', mechanism: 'SCRAM-SHA-1'}), /not-authorized/)
    await assert.rejects(connect(t, server, {username: 'nobody', password: 'wrong', mechanism: 'PLAIN'}), /not-authorized/)
  })

  it('logs in with ANONYMOUS when the host enables it', async (t) => {
    const server = await startTestServer(t, {settings: {auth_method: ['internal', 'anonymous']}})
    const anonymous = await connect(t, server, {mechanism: 'ANONYMOUS'})
    assert.match(anonymous.jid, /^[a-z2-7]{26}@localhost\/.+/)
  })

  it('subscribes both ways, then exchanges presence and messages between two clients', async (t) => {
    const server = await startTestServer(t)
    await server.addUser('alice@localhost', 'alice pw')
    await server.addUser('bob@localhost', 'bob pw')
    const alice = await connect(t, server, {username: 'alice', password: 'alice pw', mechanism: 'SCRAM-SHA-1'})
    const bob = await connect(t, server, {username: 'bob', password: 'bob pw', mechanism: 'PLAIN', directTls: true})
    for (const who of [alice, bob]) {
      await who.xmpp.iqCaller.request(xml('iq', {type: 'get'}, xml('query', {xmlns: 'jabber:iq:roster'})))
      await who.xmpp.send(xml('presence'))
      await who.next(presenceFrom(who.jid))
    }

    // alice asks, bob approves and asks back, alice approves.
    await alice.xmpp.send(xml('presence', {type: 'subscribe', to: 'bob@localhost'}))
    const push = await alice.next((s) => s.is('iq') && s.attrs.type === 'set')
    assert.equal(push.getChild('query')?.getChild('item')?.attrs.ask, 'subscribe')
    const request = await bob.next((s) => s.is('presence') && s.attrs.type === 'subscribe')
    assert.equal(request.attrs.from, 'alice@localhost')
    await bob.xmpp.send(xml('presence', {type: 'subscribed', to: 'alice@localhost'}))
    await alice.next((s) => s.is('presence') && s.attrs.type === 'subscribed' && s.attrs.from === 'bob@localhost')
    await alice.next(presenceFrom(bob.jid))
    await bob.xmpp.send(xml('presence', {type: 'subscribe', to: 'alice@localhost'}))
    await alice.next((s) => s.is('presence') && s.attrs.type === 'subscribe')
    await alice.xmpp.send(xml('presence', {type: 'subscribed', to: 'bob@localhost'}))
    await bob.next(presenceFrom(alice.jid))

    const roster = await alice.xmpp.iqCaller.request(xml('iq', {type: 'get'}, xml('query', {xmlns: 'jabber:iq:roster'})))
    const item = roster.getChild('query')!.getChild('item')!
    assert.deepEqual([item.attrs.jid, item.attrs.subscription, item.attrs.ask], ['bob@localhost', 'both', undefined])

    // Presence broadcast reaches the subscriber; messages flow both ways.
    await bob.xmpp.send(xml('presence', {}, xml('show', {}, 'away')))
    const away = await alice.next((s) => presenceFrom(bob.jid)(s) && s.getChildText('show') === 'away')
    assert.equal(away.attrs.to, alice.jid)
    await alice.xmpp.send(xml('message', {to: 'bob@localhost', type: 'chat', id: 'm1'}, xml('body', {}, 'hi bob <&>')))
    const got = await bob.next((s) => s.is('message'))
    assert.equal(got.attrs.from, alice.jid)
    assert.equal(got.getChildText('body'), 'hi bob <&>')
    await bob.xmpp.send(xml('message', {to: alice.jid, type: 'chat'}, xml('body', {}, 'hi alice')))
    assert.equal((await alice.next((s) => s.is('message'))).getChildText('body'), 'hi alice')

    // Going offline is broadcast to the subscriber.
    await bob.xmpp.stop()
    await alice.next(presenceFrom(bob.jid, 'unavailable'))
  })

  it('stores messages for an offline user and delivers them on initial presence', async (t) => {
    const server = await startTestServer(t)
    await server.addUser('alice@localhost', 'alice pw')
    await server.addUser('bob@localhost', 'bob pw')
    const alice = await connect(t, server, {username: 'alice', password: 'alice pw'})
    await alice.xmpp.send(xml('message', {to: 'bob@localhost', type: 'chat'}, xml('body', {}, 'while you were out')))
    await alice.xmpp.send(xml('message', {to: 'nobody@localhost', type: 'chat', id: 'x1'}, xml('body', {}, 'void')))
    const bounce = await alice.next((s) => s.is('message') && s.attrs.type === 'error')
    assert.ok(bounce.getChild('error')?.getChild('service-unavailable'))
    const bob = await connect(t, server, {username: 'bob', password: 'bob pw'})
    await bob.xmpp.send(xml('presence'))
    const offline = await bob.next((s) => s.is('message'))
    assert.equal(offline.getChildText('body'), 'while you were out')
    assert.equal(offline.getChild('delay', 'urn:xmpp:delay')?.attrs.from, 'localhost')
  })

  it('replaces the older session when the same resource binds again', async (t) => {
    const server = await startTestServer(t)
    await server.addUser('alice@localhost', 'pw')
    const first = await connect(t, server, {username: 'alice', password: 'pw', resource: 'phone'})
    const closed = new Promise<string>((resolve) => first.xmpp.on('error', (error: Error & {condition?: string}) => resolve(error.condition ?? error.message)))
    const second = await connect(t, server, {username: 'alice', password: 'pw', resource: 'phone'})
    assert.equal(second.jid, 'alice@localhost/phone')
    assert.equal(await closed, 'conflict')
    assert.equal(server.server.status().sessions.localhost, 1)
  })

  it('enables stream management with resumption, and the server acknowledges what it sent (XEP-0198)', async (t) => {
    const server = await startTestServer(t)
    await server.addUser('alice@localhost', 'alice pw')
    const alice = await connect(t, server, {username: 'alice', password: 'alice pw'})
    const sm = (alice.xmpp as unknown as {streamManagement: {enabled: boolean; id: string; outbound_q: unknown[]; requestAckDebounce: number}}).streamManagement
    const deadline = Date.now() + 5000
    while (!sm.enabled && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(sm.enabled, true)
    assert.match(sm.id, /^[A-Za-z0-9_-]{24}$/)
    for (let index = 0; index < 3; index++) await alice.xmpp.send(xml('message', {to: alice.jid, type: 'chat', id: `m${index}`}, xml('body', {}, `note ${index}`)))
    for (let index = 0; index < 3; index++) await alice.next((stanza) => stanza.is('message') && stanza.attrs.id === `m${index}`)
    // @xmpp/client asks <r/> after a burst and drops what our <a h=/> acknowledges.
    while (sm.outbound_q.length > 0 && Date.now() < deadline + 5000) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(sm.outbound_q.length, 0)
  })
})
