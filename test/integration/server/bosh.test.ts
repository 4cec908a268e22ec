/**
 * BOSH (XEP-0124, XEP-0206) on the https listener: session creation with its
 * attributes and features, SASL and the restart, binding, messages both ways
 * with a TCP client while a request is held, rid rules, terminate, CORS.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {loginRaw, nextMessage} from './helpers.js'
import {BOSH, boshLogin, boshPost, startWeb} from './web-helpers.js'


describe('XMPP over BOSH (XEP-0206)', () => {
  it('creates a session, logs in with a restart, binds and exchanges messages with a TCP client', async (t) => {
    const {httpPort, starttlsPort} = await startWeb(t, {}, 'alice', 'bob')
    let rid = 1000
    const created = await boshPost(
      httpPort,
      `<body xmlns='${BOSH}' content='text/xml; charset=utf-8' hold='1' rid='${rid}' to='localhost' ver='1.6' wait='10' xml:lang='en' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>`,
      {headers: {Origin: 'https://chat.example.org'}},
    )
    assert.equal(created.status, 200)
    assert.equal(created.headers['content-type'], 'text/xml; charset=utf-8')
    assert.equal(created.headers['access-control-allow-origin'], '*')
    const sid = /sid='([^']+)'/.exec(created.body)![1]
    assert.match(sid, /^[A-Za-z0-9_-]{32}$/)
    // XEP-0124 §7.1 / XEP-0206 §5: the session's attributes, then the stream features.
    assert.match(
      created.body,
      new RegExp(
        `^<body xmlns='${BOSH}' sid='${sid}' wait='10' requests='2' hold='1' inactivity='30' polling='1' ver='1.11' from='localhost' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh' xmpp:restartlogic='true' xmlns:stream='http://etherx.jabber.org/streams'><stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>.*<mechanism>PLAIN</mechanism>.*</stream:features></body>$`,
      ),
    )

    const auth = await boshPost(httpPort, `<body xmlns='${BOSH}' rid='${++rid}' sid='${sid}'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from('\0alice\0alice pw').toString('base64')}</auth></body>`)
    assert.equal(auth.body, `<body xmlns='${BOSH}'><success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></body>`)
    // XEP-0206 §5.2: the restart request is answered with the new stream's features.
    const restarted = await boshPost(httpPort, `<body xmlns='${BOSH}' rid='${++rid}' sid='${sid}' to='localhost' xml:lang='en' xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh'/>`)
    assert.match(restarted.body, new RegExp(`^<body xmlns='${BOSH}'><stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>`))
    const bound = await boshPost(httpPort, `<body xmlns='${BOSH}' rid='${++rid}' sid='${sid}'><iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bosh</resource></bind></iq></body>`)
    assert.equal(bound.body, `<body xmlns='${BOSH}'><iq xmlns='jabber:client' type='result' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/bosh</jid></bind></iq></body>`)

    const bob = await loginRaw(t, starttlsPort, 'bob', 'bob pw', {resource: 'tcp'})
    // A stanza without xmlns in the body is a jabber:client stanza.
    const sent = await boshPost(httpPort, `<body xmlns='${BOSH}' rid='${++rid}' sid='${sid}'><message to='bob@localhost/tcp' type='chat' id='m1'><body>over BOSH</body></message></body>`)
    assert.equal(sent.status, 200)
    assert.equal(await nextMessage(bob), "<message to='bob@localhost/tcp' type='chat' id='m1' from='alice@localhost/bosh'><body>over BOSH</body></message>")

    // A held request carries the reply as soon as it comes.
    const held = boshPost(httpPort, `<body xmlns='${BOSH}' rid='${++rid}' sid='${sid}'/>`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    bob.write("<message to='alice@localhost/bosh' type='chat' id='m2'><body>over TCP</body></message>")
    assert.equal((await held).body, `<body xmlns='${BOSH}'><message xmlns='jabber:client' to='alice@localhost/bosh' type='chat' id='m2' from='bob@localhost/tcp'><body>over TCP</body></message></body>`)

    // XEP-0124 §14.3: a repeated rid gets the same answer again; one too far ahead ends the session.
    assert.equal((await boshPost(httpPort, `<body xmlns='${BOSH}' rid='${rid}' sid='${sid}'/>`)).body, (await held).body)

    const terminated = await boshPost(httpPort, `<body xmlns='${BOSH}' rid='${++rid}' sid='${sid}' type='terminate'><presence type='unavailable' xmlns='jabber:client'/></body>`)
    assert.equal(terminated.body, `<body xmlns='${BOSH}' type='terminate' xmlns:stream='http://etherx.jabber.org/streams'></body>`)
    assert.equal((await boshPost(httpPort, `<body xmlns='${BOSH}' rid='${rid + 1}' sid='${sid}'/>`)).body, `<body xmlns='${BOSH}' type='terminate' condition='item-not-found'/>`)
  })

  it('ends a session whose rid jumps past the window with item-not-found, and its account\'s session with it', async (t) => {
    const {httpPort, server} = await startWeb(t, {}, 'alice')
    const {sid, rid} = await boshLogin(httpPort, 'alice', 'web')
    assert.equal(server.router.all('alice@localhost').length, 1)
    assert.equal((await boshPost(httpPort, `<body xmlns='${BOSH}' rid='${rid + 10}' sid='${sid}'/>`)).body, `<body xmlns='${BOSH}' type='terminate' condition='item-not-found'/>`)
    for (let waited = 0; server.router.all('alice@localhost').length > 0 && waited < 2000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(server.router.all('alice@localhost').length, 0)
  })

  it('answers bad bodies, unknown hosts and methods with their conditions', async (t) => {
    const {httpPort} = await startWeb(t)
    assert.equal((await boshPost(httpPort, '<nonsense/>')).body, `<body xmlns='${BOSH}' type='terminate' condition='bad-request'/>`)
    assert.equal((await boshPost(httpPort, `<body xmlns='${BOSH}' rid='1' sid='no-such-session'/>`)).body, `<body xmlns='${BOSH}' type='terminate' condition='item-not-found'/>`)
    const unknownHost = await boshPost(httpPort, `<body xmlns='${BOSH}' rid='1' to='elsewhere.example' wait='5' hold='1' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>`)
    assert.match(unknownHost.body, new RegExp(`^<body xmlns='${BOSH}' type='terminate' condition='remote-stream-error' xmlns:stream='http://etherx.jabber.org/streams'><stream:error xmlns:stream='http://etherx.jabber.org/streams'><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>`))
    const get = await boshPost(httpPort, '', {method: 'GET'})
    assert.equal(get.status, 405)
    assert.equal(get.headers.allow, 'POST, OPTIONS')
    const preflight = await boshPost(httpPort, '', {method: 'OPTIONS', headers: {Origin: 'https://chat.example.org', 'Access-Control-Request-Method': 'POST'}})
    assert.equal(preflight.status, 200)
    assert.equal(preflight.headers['access-control-allow-methods'], 'POST, OPTIONS')
    assert.equal(preflight.headers['access-control-allow-headers'], 'Content-Type')
  })

  it('lets only the websocket_origin origins call from a page', async (t) => {
    const {httpPort} = await startWeb(t, {websocket_origin: ['https://chat.example.org']})
    assert.equal((await boshPost(httpPort, '', {method: 'OPTIONS', headers: {Origin: 'https://evil.example'}})).status, 403)
    const allowed = await boshPost(httpPort, '', {method: 'OPTIONS', headers: {Origin: 'https://chat.example.org'}})
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://chat.example.org')
  })
})
