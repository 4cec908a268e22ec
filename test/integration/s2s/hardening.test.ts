/**
 * An s2s listener against a misbehaving peer (a raw stream, on 127.0.0.1):
 * the limits c2s has (stanza size before and after authentication, idle
 * time), s2s_access, and the addressing rules of RFC 6120 §4.9.3 and
 * XEP-0220 that keep a peer from speaking for a domain it did not prove.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {NO_ARCHIVING, storeQuery} from '../server/helpers.js'
import {s2sServer} from './servers.js'

const streamError = (condition: string, text: string) =>
  new RegExp(`<stream:error><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>${text}</text></stream:error></stream:stream>$`)

const HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='peer.test' to='localhost' version='1.0'>"

describe('s2s hardening', () => {
  it('a stanza over max_stanza_size ends an authenticated stream with policy-violation', async (t) => {
    const s = await s2sServer(t, {max_stanza_size: 10_000})
    const peer = await s.peer()
    peer.write(`<message from='a@peer.test' to='alice@localhost'><body>${'x'.repeat(12_000)}</body></message>`)
    assert.match(await peer.until(/<\/stream:stream>/), /<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)
  })

  it('before authentication, more than max_stanza_size_unauthenticated ends the stream', async (t) => {
    const s = await s2sServer(t)
    const client = await s.plain()
    client.write(HEADER)
    await client.until(/<\/stream:features>/)
    client.write(`<db:verify from='peer.test' to='localhost' id='x'>${'k'.repeat(20_000)}</db:verify>`)
    assert.match(await client.until(/<\/stream:stream>/), /<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)
  })

  it('a stanza before authentication: not-authorized; to a domain not served: host-unknown; without a from: improper-addressing', async (t) => {
    const s = await s2sServer(t)
    const client = await s.plain()
    client.write(HEADER)
    await client.until(/<\/stream:features>/)
    client.write("<message from='a@peer.test' to='alice@localhost'><body>hi</body></message>")
    assert.match(await client.until(/<\/stream:stream>/), streamError('not-authorized', 'authenticate the stream first'))

    const peer = await s.peer()
    peer.write("<message from='a@peer.test' to='someone@elsewhere.test'><body>relay?</body></message>")
    assert.match(await peer.until(/<\/stream:stream>/), streamError('host-unknown', 'this server does not serve elsewhere.test'))
    const again = await s.peer()
    again.write("<message to='alice@localhost'><body>who?</body></message>")
    assert.match(await again.until(/<\/stream:stream>/), streamError('improper-addressing', 'a stanza between servers needs a valid "from" and "to"'))
  })

  it('a stream header for a domain not served: host-unknown; a peer s2s_access does not list: policy-violation', async (t) => {
    const s = await s2sServer(t, {s2s_access: ['friend.test']})
    const client = await s.plain()
    client.write(HEADER.replace("to='localhost'", "to='elsewhere.test'"))
    assert.match(await client.until(/<\/stream:stream>/), streamError('host-unknown', 'this server does not serve elsewhere.test'))
    const stranger = await s.plain()
    stranger.write(HEADER)
    assert.match(await stranger.until(/<\/stream:stream>/), streamError('policy-violation', 'this server does not federate with peer.test \\(s2s_access\\)'))
  })

  it('db:verify: a key this server did not make is invalid (XEP-0220 §2.3), on a stream that need not be authenticated', async (t) => {
    const s = await s2sServer(t, {s2s_use_starttls: 'optional'})
    const client = await s.plain()
    client.write(HEADER)
    await client.until(/<\/stream:features>/)
    client.write("<db:verify from='peer.test' to='localhost' id='abc'>0123456789abcdef</db:verify>")
    assert.equal(await client.until(/<db:verify [^>]*\/>/), "<db:verify from='localhost' to='peer.test' id='abc' type='invalid'/>")
  })

  it('handles every stanza a peer sent before it closed its stream and hung up: all 50 messages to an offline account are stored (RFC 6120 §4.4)', async (t) => {
    const s = await s2sServer(t, NO_ARCHIVING)
    await s.addUser('alice@localhost', 'alice pw')
    const peer = await s.peer()
    let burst = ''
    for (let index = 0; index < 50; index++) burst += `<message from='bob@peer.test/x' to='alice@localhost' id='m${index}' type='chat'><body>${index}</body></message>`
    peer.socket.end(`${burst}</stream:stream>`)
    const stored = async () => (await storeQuery<{n: number}>(s.config, "SELECT count(*) AS n FROM offline_messages WHERE username = 'alice'"))[0].n
    for (let waited = 0; (await stored()) < 50 && waited < 5000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(await stored(), 50)
  })

  it('an idle stream closes after s2s_timeout', async (t) => {
    const s = await s2sServer(t, {s2s_timeout: 1})
    const peer = await s.peer()
    const started = Date.now()
    await peer.until(/<\/stream:stream>/, 4000)
    const elapsed = Date.now() - started
    assert.ok(elapsed >= 500 && elapsed < 2500, `${elapsed} ms`)
    assert.deepEqual(s.server.s2sConnections(), [])
  })
})
