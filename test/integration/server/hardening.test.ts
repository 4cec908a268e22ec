/**
 * Hostile clients against the server (the hardening issue): each test sends
 * what an attacker sent and checks the behaviour required, and where the fix
 * is a limit, that a well-behaved client is unaffected.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmdirSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'


import {NO_ARCHIVING, RawClient, header, loginRaw, startTestServer, storeQuery, type TestServer} from './helpers.js'

async function countOffline(test: TestServer, username: string): Promise<number> {
  return (await storeQuery<{n: number}>(test.config, 'SELECT count(*) AS n FROM offline_messages WHERE username = ?', [username]))[0].n
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A server with alice and bob, alice logged in, and `count` messages of `size` bytes stored for bob (ids m0, m1, …). */
async function backlogForBob(t: {after(fn: () => unknown): void}, count: number, size: number, options: Parameters<typeof startTestServer>[1] = {}) {
  const test = await startTestServer(t, options)
  await test.addUser('alice@localhost', 'alice pw')
  await test.addUser('bob@localhost', 'bob pw')
  const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
  const body = 'x'.repeat(size)
  for (let index = 0; index < count; index++) alice.write(`<message to='bob@localhost' id='m${index}' type='chat'><body>${index} ${body}</body></message>`)
  alice.write("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
  await alice.untilText("id='sync'", 30_000)
  assert.equal(await countOffline(test, 'bob'), count)
  return test
}

const messageIds = (text: string) => [...text.matchAll(/<message [^>]*id='m(\d+)'/g)].map((match) => Number(match[1]))

describe('offline messages survive a large backlog', () => {
  it('delivers 100 messages of 200 KB to a client that reads slowly, and deletes them only once written', async (t) => {
    const test = await backlogForBob(t, 100, 200 * 1024)
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {presence: false})
    bob.write('<presence/>')
    // Bob does not read for two seconds: the backlog (20 MB) is far above the 4 MiB queue limit.
    bob.socket.pause()
    await sleep(2000)
    assert.equal(bob.closed, false)
    bob.socket.resume()
    const received = (await bob.untilText("id='m99'", 60_000)) + (await bob.untilText('</message>'))
    assert.deepEqual(messageIds(received), Array.from({length: 100}, (_, index) => index))
    assert.match(received, /<delay xmlns='urn:xmpp:delay' from='localhost' stamp='[^']+'\/><\/message>/)
    for (let waited = 0; (await countOffline(test, 'bob')) > 0 && waited < 5000; waited += 50) await sleep(50)
    assert.equal(await countOffline(test, 'bob'), 0)
  })

  it('keeps what a client did not take when it leaves mid-delivery, and delivers it at the next login', async (t) => {
    const test = await backlogForBob(t, 200, 100 * 1024)
    const first = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {presence: false})
    first.write('<presence/>')
    first.socket.pause()
    await sleep(500)
    first.end()
    await sleep(500)
    const left = await countOffline(test, 'bob')
    assert.ok(left > 0 && left < 200, `${left} messages still stored`)

    const second = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    const received = (await second.untilText("id='m199'", 60_000)) + (await second.untilText('</message>'))
    assert.deepEqual(messageIds(received), Array.from({length: left}, (_, index) => 200 - left + index))
  })
})

describe('offline delivery to a session with stream management whose connection drops', () => {
  it('resumes with more unacknowledged than the write limit, and delivers each message once: what the lost connection was sent comes again, the rest from the store', async (t) => {
    const SM = 'urn:xmpp:sm:3'
    // A 1 MiB limit for a client that does not read: what is resent at the resumption is more than that.
    const test = await backlogForBob(t, 60, 100 * 1024, {server: {limits: {maxWriteBuffer: 1024 * 1024}}})
    const first = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {presence: false})
    first.write(`<enable xmlns='${SM}' resume='true'/>`)
    const previd = /id='([^']+)'/.exec(await first.until(/<enabled [^>]*\/>/))![1]
    first.write('<presence/>')
    // Bob reads nothing, then his connection drops in the middle of the backlog.
    first.socket.pause()
    await sleep(500)
    first.socket.destroy()
    for (let waited = 0; test.server.status().connections > 1 && waited < 2000; waited += 50) await sleep(50)

    const resumed = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {bind: false})
    resumed.write(`<resume xmlns='${SM}' previd='${previd}' h='0'/>`)
    // Everything sent since is sent again, then acknowledged in full (XEP-0198 §5), and the session ends cleanly.
    const again = await resumed.until(new RegExp(`<r xmlns='${SM}'/>`), 30_000)
    const stanzas = [...again.matchAll(/<(message|presence|iq)[ >]/g)].length
    resumed.write(`<a xmlns='${SM}' h='${stanzas}'/></stream:stream>`)
    await resumed.until(/<\/stream:stream>/)

    const last = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    for (let waited = 0; (await countOffline(test, 'bob')) > 0 && waited < 30_000; waited += 50) await sleep(50)
    // Deleted only once written: the messages are all on the stream before this ping's answer.
    last.write("<iq type='get' id='sync-last'><ping xmlns='urn:xmpp:ping'/></iq>")
    const rest = await last.untilText("id='sync-last'", 30_000)
    const ids = [...messageIds(again), ...messageIds(rest)]
    assert.deepEqual([...ids].sort((a, b) => a - b), Array.from({length: 60}, (_, index) => index))
  })
})

describe('a client that closes its stream right after its last stanzas', () => {
  it('handles every stanza sent before the closing tag: all 50 messages to an offline account are stored (RFC 6120 §4.4)', async (t) => {
    const test = await startTestServer(t, {settings: NO_ARCHIVING})
    await test.addUser('alice@localhost', 'alice pw')
    await test.addUser('bob@localhost', 'bob pw')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    let burst = ''
    for (let index = 0; index < 50; index++) burst += `<message to='bob@localhost' id='m${index}' type='chat'><body>${index}</body></message>`
    // As sendxmpp-style clients do: the stanzas, the closing tag and the end of the connection, at once.
    alice.socket.end(`${burst}</stream:stream>`)
    for (let waited = 0; (await countOffline(test, 'bob')) < 50 && waited < 5000; waited += 100) await sleep(100)
    assert.equal(await countOffline(test, 'bob'), 50)
  })
})

describe('a full disk', () => {
  const root = process.getuid?.() === 0
  // Mounting a small tmpfs needs root; CI runs as root and must not skip.
  const skip = root ? false : process.env.CI === 'true' ? false : 'mounting a tmpfs needs root'

  it('bounces a message it cannot store with resource-constraint and keeps the sender\'s stream', {skip}, async (t) => {
    assert.ok(root, 'this test needs root (CI=true)')
    const mountPoint = mkdtempSync(path.join(tmpdir(), 'xmppctl-full-'))
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m,mode=0700', 'tmpfs', mountPoint])
    // Registered first, so it runs after the server's own cleanup has stopped it.
    t.after(() => {
      execFileSync('umount', ['-l', mountPoint])
      rmdirSync(mountPoint)
    })
    // The disk that fills is the SQLite store's, whatever store the suite runs on.
    const test = await startTestServer(t, {settings: {sql_type: 'sqlite', data_dir: path.join(mountPoint, 'data')}})
    await test.addUser('alice@localhost', 'alice pw')
    await test.addUser('bob@localhost', 'bob pw')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    mkdirSync(path.join(mountPoint, 'filler'))
    try {
      for (let index = 0; index < 100; index++) writeFileSync(path.join(mountPoint, 'filler', String(index)), Buffer.alloc(64 * 1024))
    } catch (error) {
      assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC')
    }

    const body = 'f'.repeat(100 * 1024)
    for (let index = 0; index < 20; index++) alice.write(`<message to='bob@localhost' id='m${index}'><body>${body}</body></message>`)
    alice.write("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
    const replies = await alice.until(/<iq [^>]*id='p'[^>]*\/>/, 20_000)
    assert.match(replies, /<iq type='result' id='p'/)
    const bounced = [...replies.matchAll(/<message type='error' id='m(\d+)' from='bob@localhost' to='alice@localhost\/[^']+'><error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/>/g)]
    assert.ok(bounced.length > 0, replies.slice(0, 500))
    // Every message was either stored or bounced: none vanished.
    assert.equal(bounced.length + await countOffline(test, 'bob'), 20)
    assert.equal(alice.closed, false)
  })
})

describe('one user cannot disconnect another', () => {
  const prefixedHeader = header().replace(/>$/, " xmlns:x='urn:x'>")

  it('forwards an attribute whose prefix the sender declared on its stream header with the declaration', async (t) => {
    const test = await startTestServer(t, {settings: NO_ARCHIVING})
    await test.addUser('alice@localhost', 'alice pw')
    await test.addUser('bob@localhost', 'bob pw')
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'desk'})
    await bob.until(/<presence [^>]*to='bob@localhost\/desk'[^>]*\/>/)
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'r', streamHeader: prefixedHeader})
    alice.write("<message to='bob@localhost/desk' x:a='1'><body>hi</body></message>")
    assert.equal(await bob.until(/<\/message>/), "<message to='bob@localhost/desk' x:a='1' xmlns:x='urn:x' from='alice@localhost/r'><body>hi</body></message>")
  })

  it('stores such a stanza offline with the declaration too', async (t) => {
    const test = await startTestServer(t, {settings: NO_ARCHIVING})
    await test.addUser('alice@localhost', 'alice pw')
    await test.addUser('bob@localhost', 'bob pw')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'r', streamHeader: prefixedHeader})
    alice.write("<message to='bob@localhost' id='poison'><x:x><b x:c='2'/></x:x><body>one</body></message><message to='bob@localhost' id='after'><body>two</body></message>")
    alice.write("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
    await alice.until(/id='sync'/)
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    const received = await bob.until(/id='after'[\s\S]*?<\/message>/)
    assert.match(received, /<message to='bob@localhost' id='poison' from='alice@localhost\/r'><x xmlns='urn:x'><b xmlns='jabber:client' x:c='2' xmlns:x='urn:x'\/><\/x><body>one<\/body><delay /)
  })

  it('ends an XML 1.1 stream that sends a control character by reference, and delivers nothing of it', async (t) => {
    const test = await startTestServer(t)
    await test.addUser('alice@localhost', 'alice pw')
    await test.addUser('bob@localhost', 'bob pw')
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'desk'})
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {streamHeader: header().replace("version='1.0'?>", "version='1.1'?>")})
    alice.write("<message to='bob@localhost/desk'><body>a&#x1;b</body></message>")
    assert.match(await alice.until(/<\/stream:stream>/), /<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)
    bob.write("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
    const reply = await bob.until(/id='p'[^>]*\/>/)
    assert.doesNotMatch(reply, /<message/)
    assert.equal(bob.closed, false)
  })
})

describe('one user cannot stall the server through the roster', () => {
  it('holds subscription requests to the roster limit, with resource-constraint beyond', async (t) => {
    const test = await startTestServer(t, {server: {moduleLimits: {roster: {items: 5, bytes: 1_000_000}}}})
    await test.addUser('alice@localhost', 'alice pw')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    for (let index = 0; index < 6; index++) alice.write(`<presence type='subscribe' to='c${index}@localhost' id='s${index}'/>`)
    const error = await alice.until(/<presence [^>]*type='error'[\s\S]*?<\/presence>/)
    assert.equal(
      error.slice(error.lastIndexOf('<presence ')),
      `<presence type='error' id='s5' from='c5@localhost' to='${alice.jid}'><error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>the roster is full</text></error></presence>`,
    )
    alice.write("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")
    const roster = await alice.until(/id='r'[\s\S]*?<\/iq>/)
    assert.equal([...roster.matchAll(/<item /g)].length, 5)
  })

  it('counts bytes on roster sets: many large groups are refused with resource-constraint', async (t) => {
    const test = await startTestServer(t, {server: {moduleLimits: {roster: {items: 100, bytes: 20_000}}}})
    await test.addUser('alice@localhost', 'alice pw')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    const groups = Array.from({length: 30}, (_, index) => `<group>${index}${'g'.repeat(1000)}</group>`).join('')
    alice.write(`<iq type='set' id='big'><query xmlns='jabber:iq:roster'><item jid='c@localhost'>${groups}</item></query></iq>`)
    assert.match(await alice.until(/id='big'[\s\S]*?<\/iq>/), /type='error'[\s\S]*<error type='wait'><resource-constraint /)
    alice.write("<iq type='set' id='small'><query xmlns='jabber:iq:roster'><item jid='c@localhost'><group>friends</group></item></query></iq>")
    assert.match(await alice.until(/id='small'[^>]*>/), /type='result'/)
  })

  it('answers a roster get of 150,000 items stored before the limit existed, without a stack overflow', async (t) => {
    const test = await startTestServer(t)
    await test.addUser('alice@localhost', 'alice pw')
    // One statement in both engines' SQL: a recursive count from 0 to 149,999.
    await storeQuery(
      test.config,
      "WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 149999) INSERT INTO roster_items (host, username, contact, subscription, groups) SELECT 'localhost', 'alice', 'c' || i || '@localhost', 'none', '[]' FROM n",
    )
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    alice.write("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")
    const roster = await alice.untilText('</query></iq>', 30_000)
    assert.match(roster, /<iq type='result' id='r' /)
    assert.equal([...roster.matchAll(/<item /g)].length, 150_000)
    assert.equal(alice.closed, false)
  })
})

describe('connection limits', () => {
  it('disconnects a client that stops reading once its queue passes the limit, its sender goes on, and what the connection could not take is stored', async (t) => {
    const test = await startTestServer(t, {settings: NO_ARCHIVING, server: {limits: {maxWriteBuffer: 1024 * 1024}}})
    await test.addUser('alice@localhost', 'alice pw')
    await test.addUser('bob@localhost', 'bob pw')
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'desk'})
    bob.socket.pause()
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    const body = 'q'.repeat(200 * 1024)
    let sent = 0
    for (; sent < 100 && test.server.router.all('bob@localhost').length > 0; sent++) {
      alice.write(`<message to='bob@localhost/desk' id='m${sent}'><body>${body}</body></message><iq type='get' id='p${sent}'><ping xmlns='urn:xmpp:ping'/></iq>`)
      await alice.until(new RegExp(`id='p${sent}'`))
    }

    assert.equal(test.server.router.all('bob@localhost').length, 0)
    alice.write("<iq type='get' id='last'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert.match(await alice.until(/id='last'[^>]*\/>/), /type='result'/)
    // The message that found bob's queue full went to offline storage rather than nowhere (RFC 6121 §8.5.2.2), and so
    // did one that may have come before his session ended; what his connection had queued was his to read.
    const stored = await storeQuery<{stanza: string}>(test.config, "SELECT stanza FROM offline_messages WHERE username = 'bob' ORDER BY id")
    const ids = stored.map((row) => /id=['"](m\d+)['"]/.exec(row.stanza)?.[1])
    assert.ok(ids.length === 1 || (ids.length === 2 && ids[0] === `m${sent - 2}`), ids.join(' '))
    assert.equal(ids.at(-1), `m${sent - 1}`)
  })

  it('closes a direct-TLS connection that never finishes its handshake', async (t) => {
    const test = await startTestServer(t, {server: {limits: {tlsHandshakeTimeoutMs: 300}}})
    for (const send of ['', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03']) {
      const socket = net.connect({port: test.tlsPort, host: '127.0.0.1'})
      t.after(() => socket.destroy())
      await new Promise((resolve) => socket.once('connect', resolve))
      socket.on('error', () => {})
      if (send) socket.write(Buffer.from(send, 'latin1'))
      const started = Date.now()
      await new Promise((resolve) => socket.once('close', resolve))
      assert.ok(Date.now() - started < 3000, `closed after ${Date.now() - started} ms`)
    }
  })

  it('refuses unauthenticated connections past the per-address cap, and another address still logs in', async (t) => {
    const test = await startTestServer(t, {server: {limits: {maxUnauthenticatedPerAddress: 5}}})
    await test.addUser('alice@localhost', 'alice pw')
    const silent: net.Socket[] = []
    for (let index = 0; index < 5; index++) {
      const socket = net.connect({port: index % 2 ? test.tlsPort : test.starttlsPort, host: '127.0.0.1', localAddress: '127.0.0.3'})
      socket.on('error', () => {})
      t.after(() => socket.destroy())
      await new Promise((resolve) => socket.once('connect', resolve))
      silent.push(socket)
    }

    await sleep(100)
    const refused = net.connect({port: test.starttlsPort, host: '127.0.0.1', localAddress: '127.0.0.3'})
    refused.on('error', () => {})
    t.after(() => refused.destroy())
    await new Promise((resolve) => refused.once('close', resolve))
    assert.equal(test.server.status().connections, 3, 'the plain silent connections are sessions; the TLS ones are still handshaking')

    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {localAddress: '127.0.0.4'})
    alice.write("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert.match(await alice.until(/id='p'[^>]*\/>/), /type='result'/)

    // Closing one silent connection frees a place for the address.
    silent[0].destroy()
    await sleep(200)
    const again = await RawClient.connect(test.starttlsPort, {localAddress: '127.0.0.3'})
    t.after(() => again.end())
    again.write(header())
    assert.match(await again.until(/<\/stream:features>/), /<starttls /)
  })

  it('gives an address its places back when connections that went through STARTTLS close', async (t) => {
    const test = await startTestServer(t, {server: {limits: {maxConnectionsPerAddress: 2}}})
    await test.addUser('alice@localhost', 'alice pw')
    for (let round = 0; round < 4; round++) {
      const client = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {localAddress: '127.0.0.5'})
      client.end()
      await client.waitClosed()
      for (let waited = 0; test.server.status().connections > 0 && waited < 2000; waited += 20) await sleep(20)
    }
  })

  it('allows only a small stanza before authentication', async (t) => {
    const test = await startTestServer(t)
    const client = await RawClient.connect(test.starttlsPort)
    t.after(() => client.end())
    client.write(`${header()}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${'A'.repeat(20 * 1024)}</auth>`)
    assert.match(await client.until(/<\/stream:stream>/), /<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text [^>]*>a stanza larger than 16384 bytes<\/text>/)
  })

  it('allows large stanzas once authenticated', async (t) => {
    const test = await startTestServer(t)
    await test.addUser('alice@localhost', 'alice pw')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'r'})
    alice.write(`<message to='alice@localhost/r'><body>${'z'.repeat(200 * 1024)}</body></message>`)
    assert.match(await alice.until(/<\/message>/), /z{1000}/)
  })

  it('refuses a resource past max_user_sessions with resource-constraint, and still lets a resource replace itself', async (t) => {
    const test = await startTestServer(t, {settings: {max_user_sessions: 2}})
    await test.addUser('alice@localhost', 'alice pw')
    await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'one'})
    const two = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'two'})
    await assert.rejects(loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'three'}), /<iq type='error' id='bind' from='localhost'><error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>this account already has the 2 sessions it may have<\/text><\/error><\/iq>/)
    const replacing = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'two'})
    assert.match(await two.until(/<\/stream:stream>/), /<conflict /)
    replacing.write("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert.match(await replacing.until(/id='p'[^>]*\/>/), /type='result'/)
    assert.equal(test.server.router.all('alice@localhost').length, 2)
  })
})

describe('a client that floods', () => {
  it('is read at its shaper\'s rate, and another client is answered meanwhile', async (t) => {
    const settings = {shaper: {normal: {rate: 100_000, burst_size: 50_000}}, shaper_rules: {c2s_shaper: 'normal'}}
    const test = await startTestServer(t, {settings})
    await test.addUser('alice@localhost', 'alice pw')
    await test.addUser('bob@localhost', 'bob pw')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'r'})
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    const body = 'f'.repeat(1000)
    // 400 KB: the burst, then about 3.5 s at 100 KB/s.
    alice.write(Array.from({length: 400}, (_, index) => `<message to='alice@localhost/r' id='f${index}'><body>${body}</body></message>`).join(''))
    alice.write("<iq type='get' id='last'><ping xmlns='urn:xmpp:ping'/></iq>")
    for (let index = 0; index < 5; index++) {
      bob.write(`<iq type='get' id='b${index}'><ping xmlns='urn:xmpp:ping'/></iq>`)
      await bob.until(new RegExp(`id='b${index}'`))
    }

    assert.doesNotMatch(alice.received, /id='last'/, 'the flood is still being read when the other client has had five answers')
    const started = Date.now()
    await alice.untilText("id='last'", 30_000)
    assert.ok(Date.now() - started > 1000, 'the flood was paced')
    assert.equal(alice.closed, false)
  })
})

describe('stream errors RFC 6120 asks for', () => {
  for (const [name, text, condition] of [
    ['text between stanzas', 'hello', 'not-well-formed'],
    ['a second stream header inside the stream', "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>", 'invalid-xml'],
  ] as const) {
    it(`ends the stream with ${condition} for ${name}, without waiting for more`, async (t) => {
      const test = await startTestServer(t)
      const client = await RawClient.connect(test.starttlsPort)
      t.after(() => client.end())
      client.write(header())
      await client.until(/<\/stream:features>/)
      client.write(text)
      assert.match(await client.until(/<\/stream:stream>/, 2000), new RegExp(`<stream:error><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>`))
    })
  }
})
