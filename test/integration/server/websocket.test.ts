/**
 * XMPP over WebSocket (RFC 7395) on an https listener: the handshake's
 * subprotocol and origin checks, <open/> and <close/> framing, SASL and
 * binding through the same session code as c2s, and messages both ways with a
 * TCP client.
 */
import assert from 'node:assert/strict'
import https from 'node:https'
import {describe, it} from 'node:test'

import {loginRaw, nextMessage} from './helpers.js'
import {WsClient, startWeb} from './web-helpers.js'

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'

function httpsStatus(port: number, path: string, headers: Record<string, string> = {}): Promise<{status: number; headers: Record<string, string | string[] | undefined>}> {
  return new Promise((resolve, reject) => {
    const request = https.request({host: '127.0.0.1', port, path, servername: 'localhost', rejectUnauthorized: false, headers}, (response) => {
      response.resume()
      resolve({status: response.statusCode!, headers: response.headers})
    })
    request.on('error', reject)
    request.end()
  })
}

describe('XMPP over WebSocket (RFC 7395)', () => {
  it('opens a stream with <open/>, logs in, binds and exchanges messages with a TCP client', async (t) => {
    const {httpPort, starttlsPort} = await startWeb(t, {}, 'alice', 'bob')
    const client = await WsClient.connect(httpPort)
    t.after(() => client.close())
    assert.equal(client.ws.protocol, 'xmpp')

    // §3.3.2: <open/> answered by <open/> with the stream's id; features stand alone with their prefix declared (§3.3.3).
    client.send(`<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`)
    assert.match(await client.next(), new RegExp(`^<open xmlns='${FRAMING}' id='[A-Za-z0-9_-]+' from='localhost' version='1.0' xml:lang='en'/>$`))
    const features = await client.next()
    assert.match(features, /^<stream:features xmlns:stream='http:\/\/etherx.jabber.org\/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>.*<mechanism>PLAIN<\/mechanism>.*<\/stream:features>$/)
    // Over TLS already: no STARTTLS inside a WebSocket.
    assert.doesNotMatch(features, /starttls/)

    client.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from('\0alice\0alice pw').toString('base64')}</auth>`)
    assert.equal(await client.next(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    client.send(`<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`)
    assert.match(await client.next(), /^<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id=/)
    assert.match(await client.next(), /^<stream:features xmlns:stream='http:\/\/etherx.jabber.org\/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'\/>/)
    client.send("<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>")
    assert.equal(await client.next(), "<iq xmlns='jabber:client' type='result' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/web</jid></bind></iq>")

    const bob = await loginRaw(t, starttlsPort, 'bob', 'bob pw', {resource: 'tcp'})
    client.send("<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat' id='m1'><body>over a WebSocket</body></message>")
    assert.equal(await nextMessage(bob), "<message to='bob@localhost/tcp' type='chat' id='m1' from='alice@localhost/web'><body>over a WebSocket</body></message>")
    bob.write("<message to='alice@localhost/web' type='chat' id='m2'><body>over TCP</body></message>")
    assert.equal(await client.until(/^<message/), "<message xmlns='jabber:client' to='alice@localhost/web' type='chat' id='m2' from='bob@localhost/tcp'><body>over TCP</body></message>")

    // §3.6: <close/> is answered by <close/>, then the server closes the WebSocket.
    client.send(`<close xmlns='${FRAMING}'/>`)
    assert.equal(await client.until(/^<close/), `<close xmlns='${FRAMING}'/>`)
    for (let i = 0; i < 100 && !client.closed; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(client.closed, true)
  })

  it('ends a stream with a stream error and <close/> on a wrong password three times', async (t) => {
    const {httpPort} = await startWeb(t, {}, 'alice')
    const client = await WsClient.connect(httpPort)
    t.after(() => client.close())
    client.send(`<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`)
    await client.next()
    await client.next()
    for (let i = 0; i < 3; i++) {
      client.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from('\0alice\0wrong').toString('base64')}</auth>`)
      assert.equal(await client.next(), "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>")
    }

    assert.match(await client.next(), /^<stream:error xmlns:stream='http:\/\/etherx.jabber.org\/streams'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)
    assert.equal(await client.next(), `<close xmlns='${FRAMING}'/>`)
  })

  it('refuses a handshake without the xmpp subprotocol (400) and from an origin not in websocket_origin (403)', async (t) => {
    const {httpPort} = await startWeb(t, {websocket_origin: ['https://chat.example.org']})
    await assert.rejects(WsClient.connect(httpPort, {protocol: ['chat'], origin: 'https://chat.example.org'}), /HTTP 400/)
    await assert.rejects(WsClient.connect(httpPort, {origin: 'https://evil.example'}), /HTTP 403/)
    const allowed = await WsClient.connect(httpPort, {origin: 'https://chat.example.org'})
    allowed.close()
  })

  it('answers a plain GET on /ws with 426 and an unknown path with 404, with the security headers', async (t) => {
    const {httpPort} = await startWeb(t)
    const upgrade = await httpsStatus(httpPort, '/ws')
    assert.equal(upgrade.status, 426)
    assert.equal(upgrade.headers.upgrade, 'websocket')
    assert.equal(upgrade.headers['x-content-type-options'], 'nosniff')
    const missing = await httpsStatus(httpPort, '/nothing-here')
    assert.equal(missing.status, 404)
    assert.equal(missing.headers['x-content-type-options'], 'nosniff')
    assert.equal(missing.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'")
  })
})
