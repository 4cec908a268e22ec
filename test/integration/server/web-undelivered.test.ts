/**
 * What a WebSocket or BOSH transport took for a client that then left
 * without stream management: the messages are stored offline (RFC 6121
 * §8.5.2.2), never thrown away, and offline delivery over BOSH goes at the
 * pace of the client's requests.
 */
import assert from 'node:assert/strict'
import type tls from 'node:tls'
import {describe, it} from 'node:test'

import {loginRaw, nextMessage, storeQuery, type TestServer} from './helpers.js'
import {BOSH, WsClient, boshLogin, boshPost, startWeb, wsLogin} from './web-helpers.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function countOffline(test: TestServer, username: string): Promise<number> {
  return (await storeQuery<{n: number}>(test.config, 'SELECT count(*) AS n FROM offline_messages WHERE username = ?', [username]))[0].n
}

const messageIds = (text: string) => [...text.matchAll(/<message [^>]*id='m(\d+)'/g)].map((match) => Number(match[1]))

describe('stanzas a web transport took for a client that left', () => {
  it('BOSH: offline delivery waits for the client\'s requests, and what was queued when the session ended is stored again, each message once', async (t) => {
    const test = await startWeb(t, {}, 'alice', 'bob')
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'tcp'})
    const body = 'x'.repeat(10 * 1024)
    for (let index = 0; index < 80; index++) bob.write(`<message to='alice@localhost' type='chat' id='m${index}'><body>${body}</body></message>`)
    bob.write("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
    await bob.untilText("id='sync'", 30_000)
    assert.equal(await countOffline(test, 'alice'), 80)

    const {httpPort} = test
    const {sid, rid: loggedIn} = await boshLogin(httpPort, 'alice', 'web')
    let rid = loggedIn
    // The initial presence starts offline delivery (RFC 6121 §8.5.2.1.1); the next responses carry the first of the
    // backlog (on a store that answers asynchronously, the first may carry the presence alone).
    let first = messageIds((await boshPost(httpPort, `<body xmlns='${BOSH}' rid='${++rid}' sid='${sid}'><presence xmlns='jabber:client'/></body>`)).body)
    for (let requests = 0; first.length === 0 && requests < 3; requests++) first = messageIds((await boshPost(httpPort, `<body xmlns='${BOSH}' rid='${++rid}' sid='${sid}'/>`)).body)
    assert.ok(first.length > 0 && first.length < 80, `${first.length} messages in the first response`)
    // No request follows: the rest waits in the store, but for a queue's worth (256 KiB) ready for the next request.
    let stored = -1
    for (let polls = 0; polls < 40; polls++) {
      const now = await countOffline(test, 'alice')
      if (now === stored) break
      stored = now
      await sleep(50)
    }

    assert.ok(stored > 0 && stored < 80 - first.length, `${stored} messages still stored after ${first.length} were sent`)

    // A request long answered (and no longer kept) is a terminal error (XEP-0124 §14.3, §17): the session ends.
    assert.equal((await boshPost(httpPort, `<body xmlns='${BOSH}' rid='5000' sid='${sid}'/>`)).body, `<body xmlns='${BOSH}' type='terminate' condition='item-not-found'/>`)
    for (let polls = 0; polls < 100 && (await countOffline(test, 'alice')) !== 80 - first.length; polls++) await sleep(50)
    assert.equal(await countOffline(test, 'alice'), 80 - first.length)

    // Every message once. Those stored again come after the ones that never left the store (their <delay/> keeps the
    // time they first came): the order a session that ends mid-delivery gives up, as for stream management's.
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'desk'})
    let received = ''
    while (messageIds(received).length < 80 - first.length) received += await nextMessage(alice)
    const range = (from: number, to: number) => Array.from({length: to - from}, (_, index) => from + index)
    assert.deepEqual(first, range(0, first.length))
    // Taken from the store, then stored again when the session ended (past the first response, before what stayed).
    const [stayed] = messageIds(received)
    assert.ok(stayed > first.length, `messages ${first.length} to ${stayed - 1} were queued when the session ended`)
    assert.deepEqual(messageIds(received), [...range(stayed, 80), ...range(first.length, stayed)])
  })

  it('BOSH: a request sent again while it is held takes the held one\'s place, and gets what comes next', async (t) => {
    const test = await startWeb(t, {}, 'alice', 'bob')
    const {httpPort} = test
    const {sid, rid} = await boshLogin(httpPort, 'alice', 'web')
    const stale = boshPost(httpPort, `<body xmlns='${BOSH}' rid='${rid + 1}' sid='${sid}'/>`)
    await sleep(100)
    // The client's connection under that request broke, and it sends the same rid again (XEP-0124 §14.3).
    const again = boshPost(httpPort, `<body xmlns='${BOSH}' rid='${rid + 1}' sid='${sid}'/>`)
    assert.equal((await stale).body, `<body xmlns='${BOSH}'/>`)
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'tcp'})
    bob.write("<message to='alice@localhost/web' type='chat' id='m1'><body>still there?</body></message>")
    assert.equal((await again).body, `<body xmlns='${BOSH}'><message xmlns='jabber:client' to='alice@localhost/web' type='chat' id='m1' from='bob@localhost/tcp'><body>still there?</body></message></body>`)
  })

  it('WebSocket: a message for a client whose WebSocket is closing is stored offline, not written into the closing socket', async (t) => {
    const test = await startWeb(t, {}, 'alice', 'bob')
    const client = await WsClient.connect(test.httpPort)
    t.after(() => client.close())
    await wsLogin(client, 'bob', 'bob pw', 'web')
    client.send("<presence xmlns='jabber:client'/>")
    await client.until(/^<presence/)

    // The client sends a close frame (1001, a tab closing) and never closes TCP: the server's WebSocket stays CLOSING
    // until its close timeout. The frame is written under ws's feet, masked as a client's must be (RFC 6455 §5.3).
    const socket = (client.ws as unknown as {_socket: tls.TLSSocket})._socket
    socket.removeAllListeners('data')
    socket.pause()
    socket.write(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9]))
    const [session] = test.server.router.all('bob@localhost')
    const serverSide = (session.socket as unknown as {ws: {readyState: number; CLOSING: number}}).ws
    for (let polls = 0; serverSide.readyState !== serverSide.CLOSING && polls < 100; polls++) await sleep(20)
    assert.equal(serverSide.readyState, serverSide.CLOSING)

    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'tcp'})
    alice.write("<message to='bob@localhost/web' type='chat' id='w1'><body>are you there?</body></message>")
    alice.write("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
    await alice.untilText("id='sync'")
    for (let polls = 0; polls < 100 && (await countOffline(test, 'bob')) === 0; polls++) await sleep(50)
    assert.equal(await countOffline(test, 'bob'), 1)

    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'desk'})
    assert.match(await nextMessage(bob), /^<message to='bob@localhost\/web' type='chat' id='w1' from='alice@localhost\/tcp'><body>are you there\?<\/body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='[^']+'\/><\/message>$/)
  })
})
