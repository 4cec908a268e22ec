import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import type {C2sSession} from '../../../src/server/c2s.js'
import {RawClient, header, loginRaw, startTestServer, startWithUsers} from './helpers.js'

async function negotiateTls(client: RawClient): Promise<void> {
  client.write(header())
  await client.until(/<\/stream:features>/)
  client.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
  await client.until(/<proceed[^>]*\/>/)
  await client.startTls()
}

describe('c2s stream negotiation', () => {
  it('keeps none of the negotiation once bound: no announced mechanisms, no SASL exchange, no login deadline', async (t) => {
    const {server, starttlsPort} = await startWithUsers(t, {}, 'alice')
    await loginRaw(t, starttlsPort, 'alice', 'alice pw')
    const [session] = (server as unknown as {connections: Set<C2sSession>}).connections
    assert.equal(session.bound, true)
    const state = session as unknown as {announced: unknown; sasl: unknown; deadline: unknown; streamSecurity: unknown}
    assert.deepEqual({announced: state.announced, sasl: state.sasl, deadline: state.deadline, streamSecurity: state.streamSecurity}, {announced: undefined, sasl: undefined, deadline: undefined, streamSecurity: undefined})
  })

  it('offers only STARTTLS (required) before TLS, then SASL mechanisms with PLAIN and channel binding', async (t) => {
    const {starttlsPort} = await startTestServer(t)
    const client = await RawClient.connect(starttlsPort)
    t.after(() => client.end())
    client.write(header())
    const features = await client.until(/<\/stream:features>/)
    assert.match(features, /<stream:stream [^>]*from='localhost'[^>]*version='1.0'/)
    assert.match(features, /<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required\/><\/starttls>/)
    assert.doesNotMatch(features, /mechanisms/)
    client.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>")
    assert.match(await client.until(/<\/failure>/), /<encryption-required\/>/)
    client.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await client.until(/<proceed[^>]*\/>/)
    await client.startTls()
    client.write(header())
    const secure = await client.until(/<\/stream:features>/)
    assert.match(secure, /<mechanism>PLAIN<\/mechanism>/)
    assert.match(secure, /<mechanism>SCRAM-SHA-1<\/mechanism>/)
    assert.match(secure, /<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'\/>/)
    assert.doesNotMatch(secure, /starttls/)
  })

  for (const [name, text, condition] of [
    ['an unknown host', header('example.com'), 'host-unknown'],
    ['a wrong stream namespace', "<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' to='localhost' version='1.0'>", 'invalid-namespace'],
    ['a wrong content namespace', "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>", 'invalid-namespace'],
    ['no version', header('localhost', ''), 'unsupported-version'],
    ['XML that is not well-formed', `${header()}<message></presence>`, 'not-well-formed'],
    ['a DTD', "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><stream:stream>", 'restricted-xml'],
    ['a stanza before authentication', `${header()}<message to='a@localhost'/>`, 'not-authorized'],
    ['an oversized stanza', `${header()}<message><body>${'x'.repeat(300 * 1024)}</body></message>`, 'policy-violation'],
  ] as const) {
    it(`ends the stream with ${condition} for ${name}`, async (t) => {
      const {starttlsPort} = await startTestServer(t)
      const client = await RawClient.connect(starttlsPort)
      t.after(() => client.end())
      client.write(text)
      const reply = await client.until(/<\/stream:stream>/)
      assert.match(reply, new RegExp(`<stream:error><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>`))
      await client.waitClosed()
    })
  }

  it('times out connections that do not authenticate', async (t) => {
    const {starttlsPort} = await startTestServer(t, {server: {limits: {authTimeoutMs: 300}}})
    const client = await RawClient.connect(starttlsPort)
    t.after(() => client.end())
    client.write(header())
    assert.match(await client.until(/<\/stream:stream>/), /<connection-timeout /)
    await client.waitClosed()
  })

  it('closes its side without a closing tag when a client hangs up mid-stream, and forgets the connection', async (t) => {
    const {server, starttlsPort} = await startTestServer(t)
    const client = await RawClient.connect(starttlsPort)
    t.after(() => client.end())
    await negotiateTls(client)
    client.write(header())
    await client.until(/<\/stream:features>/)
    assert.equal(server.status().connections, 1)
    client.socket.end()
    await client.waitClosed()
    assert.equal(client.received, '', 'nothing is written to a peer that has gone')
    assert.equal(server.status().connections, 0)
  })

  it('serves direct TLS with ALPN xmpp-client, TLS 1.2 at least', async (t) => {
    const {tlsPort} = await startTestServer(t)
    const client = await RawClient.connect(tlsPort, {tls: true})
    t.after(() => client.end())
    const socket = client.socket as import('node:tls').TLSSocket
    assert.equal(socket.alpnProtocol, 'xmpp-client')
    assert.equal(socket.getProtocol(), 'TLSv1.3')
    client.write(header())
    assert.match(await client.until(/<\/stream:features>/), /<mechanism>SCRAM-SHA-1-PLUS<\/mechanism>|<mechanism>PLAIN<\/mechanism>/)
  })

  it('refuses TLS 1.1 clients', async (t) => {
    const {tlsPort} = await startTestServer(t)
    const tls = await import('node:tls')
    await assert.rejects(
      new Promise((resolve, reject) => {
        const socket = tls.connect({port: tlsPort, host: '127.0.0.1', rejectUnauthorized: false, minVersion: 'TLSv1', maxVersion: 'TLSv1.1'})
        socket.once('secureConnect', () => resolve(socket.destroy()))
        socket.once('error', reject)
      }),
    )
  })

  it('throttles failed authentications per account and keeps other clients working', async (t) => {
    const test = await startTestServer(t, {server: {throttle: {accountFailures: 2}}})
    await test.addUser('alice@localhost', 'correct horse')
    for (let attempt = 0; attempt < 3; attempt++) {
      const client = await RawClient.connect(test.starttlsPort)
      await negotiateTls(client)
      client.write(header())
      await client.until(/<\/stream:features>/)
      client.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from('\0alice\0wrong').toString('base64')}</auth>`)
      const failure = await client.until(/<\/failure>/)
      assert.match(failure, attempt < 2 ? /<not-authorized\/>/ : /<temporary-auth-failure\/>/)
      client.end()
    }

    const client = await RawClient.connect(test.starttlsPort)
    t.after(() => client.end())
    await negotiateTls(client)
    client.write(header())
    await client.until(/<\/stream:features>/)
    client.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from('\0bob\0whatever').toString('base64')}</auth>`)
    assert.match(await client.until(/<\/failure>/), /<not-authorized\/>/)
  })

  it('authenticates with PLAIN, binds a generated resource, answers ping and service-unavailable', async (t) => {
    const test = await startTestServer(t)
    await test.addUser('alice@localhost', 'correct horse')
    const client = await RawClient.connect(test.starttlsPort)
    t.after(() => client.end())
    await negotiateTls(client)
    client.write(header())
    await client.until(/<\/stream:features>/)
    client.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from('\0alice\0correct horse').toString('base64')}</auth>`)
    await client.until(/<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'\/>/)
    client.write(header())
    assert.match(await client.until(/<\/stream:features>/), /<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'\/>/)
    client.write("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
    assert.match(await client.until(/<\/iq>/), /<jid>alice@localhost\/[A-Za-z0-9_-]+<\/jid>/)
    client.write("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
    assert.match(await client.until(/id='s1'[^>]*\/>/), /type='result'/)
    client.write("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert.match(await client.until(/id='p1'[^>]*\/>/), /type='result'/)
    client.write("<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
    assert.match(await client.until(/<\/iq>/), /id='v1'[\s\S]*<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/>/)
    client.write("<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    const disco = await client.until(/<\/iq>/)
    assert.match(disco, /<identity category='server' type='im'/)
    assert.match(disco, /<feature var='urn:xmpp:ping'\/>/)
    assert.equal(test.server.status().sessions.localhost, 1)
  })
})
