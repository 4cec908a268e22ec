/**
 * Federation (issue 15) between real servers, inside a private network
 * namespace with real DNS (netns.ts): our server against a second instance
 * of itself, against Prosody 0.12 and against ejabberd 23.01. Certificates
 * from a private CA every server trusts give SASL EXTERNAL; a self-signed
 * one needs dialback, which s2s_secure_auth refuses. Needs root, unshare,
 * dnsmasq (dnsmasq-base), prosody and ejabberd: skipped without them, and
 * failing under CI=true.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import {after, before, describe, it} from 'node:test'

import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {startSlixmpp} from '../../interop/clients.js'
import {type RawClient, iqReply, next} from '../server/helpers.js'
import {type Pki, createPki, enterNamespace, startDns} from './netns.js'
import {externalS2s, loginOurs, startEjabberd, startOurs, startProsody} from './servers.js'

const missing = await enterNamespace()
const skip = missing !== undefined && process.env.CI !== 'true' ? missing : false

/** Every test domain: ours on .2 and .3, Prosody on .4, ejabberd on .5; one that refuses, one that never answers, one without DNS. */
const A = {domain: 'a.test', address: '127.0.0.2'}
const B = {domain: 'b.test', address: '127.0.0.3'}
const P = {domain: 'p.test', address: '127.0.0.4'}
const E = {domain: 'e.test', address: '127.0.0.5'}
const REFUSING = {domain: 'refusing.test', address: '127.0.0.8'}
const SILENT = {domain: 'silent.test', address: '127.0.0.9'}

let pki: Pki
let stopDns: (() => Promise<void>) | undefined

/** The attributes of a stanza's opening tag. */
const attributes = (text: string): Record<string, string> => Object.fromEntries([...text.slice(0, text.indexOf('>')).matchAll(/ ([\w:]+)='([^']*)'/g)].map((match) => [match[1], match[2]]))

const roster = async (client: RawClient, id: string) => iqReply((client.write(`<iq type='get' id='${id}'><query xmlns='jabber:iq:roster'/></iq>`), client), id)

/**
 * alice (of our server at A) makes tea@conference.a.test; `user`, of another server, joins it through that
 * server (which connects to conference.a.test), hears alice and answers (slixmpp's XEP-0045 plugin, muc_member.py).
 */
async function talkInRoomWith(t: {after(fn: () => unknown): void}, user: {jid: string; password: string; address: [string, number]}, peer: {log(): string}): Promise<void> {
  const alice = await loginOurs(t, A.address, A.domain, 'alice')
  const room = 'tea@conference.a.test'
  alice.write(`<presence to='${room}/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
  await alice.until(/<subject\/><\/message>/)
  const member = startSlixmpp(t, {...user, room, nick: 'Remote', expect: 'Alice', reply: 'hello from afar', timeout: 30}, 'muc_member.py')
  await member.next('joined', 20_000).catch((error: Error) => assert.fail(`${error.message}\n${peer.log().slice(-6000)}`))
  assert.match(await next(alice, 'presence', `from='${room}/Remote'`), new RegExp(`<item affiliation='none' role='participant' jid='${user.jid.replaceAll('.', '\\.')}/[^']+'/>`))
  alice.write(`<message type='groupchat' to='${room}' id='g1'><body>welcome</body></message>`)
  assert.deepEqual(await member.next('groupchat'), {event: 'groupchat', nick: 'Alice', body: 'welcome'})
  assert.match(await next(alice, 'message', "id='g1'"), /<body>welcome<\/body>/)
  assert.match(await next(alice, 'message', `from='${room}/Remote'`), /^<message type='groupchat' [^>]*><body>hello from afar<\/body>/)
}

describe('federation between real servers', {skip}, () => {
  before(async () => {
    if (missing) throw new Error(missing)
    stopDns = await startDns([A, B, P, E, REFUSING, SILENT])
    pki = createPki(mkdtempSync(path.join(os.tmpdir(), 'xmppctl-pki-')))
  })
  after(async () => {
    await stopDns?.()
    if (pki) rmSync(pki.dir, {recursive: true, force: true})
  })

  describe('our server against a second instance of itself', () => {
    it('CA-signed certificates: SASL EXTERNAL both ways, a message round trip, a subscription ending in "both" on both sides', async (t) => {
      const a = await startOurs(t, {...A, cert: pki.issue(A.domain), ca: pki.ca, users: ['alice']})
      const b = await startOurs(t, {...B, cert: pki.issue(B.domain), ca: pki.ca, users: ['bob']})
      const alice = await loginOurs(t, A.address, A.domain, 'alice')
      const bob = await loginOurs(t, B.address, B.domain, 'bob')

      alice.write("<message to='bob@b.test' type='chat' id='m1'><body>hello bob</body></message>")
      assert.equal(await next(bob, 'message'), "<message to='bob@b.test' type='chat' id='m1' from='alice@a.test/r'><body>hello bob</body></message>")
      bob.write("<message to='alice@a.test/r' type='chat' id='m2'><body>hello alice</body></message>")
      assert.equal(await next(alice, 'message'), "<message to='alice@a.test/r' type='chat' id='m2' from='bob@b.test/r'><body>hello alice</body></message>")

      // iq to the peer's domain (answered by its mod_ping) and to a full JID there (answered by the client), and back.
      alice.write("<iq type='get' to='b.test' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
      assert.equal(await iqReply(alice, 'p1'), "<iq type='result' id='p1' from='b.test' to='alice@a.test/r'/>")
      alice.write("<iq type='get' to='bob@b.test/r' id='v1'><query xmlns='jabber:iq:version'/></iq>")
      assert.equal(await iqReply(bob, 'v1'), "<iq type='get' to='bob@b.test/r' id='v1' from='alice@a.test/r'><query xmlns='jabber:iq:version'/></iq>")
      bob.write("<iq type='result' to='alice@a.test/r' id='v1'><query xmlns='jabber:iq:version'><name>raw</name></query></iq>")
      assert.equal(await iqReply(alice, 'v1'), "<iq type='result' to='alice@a.test/r' id='v1' from='bob@b.test/r'><query xmlns='jabber:iq:version'><name>raw</name></query></iq>")
      alice.write("<iq type='get' to='nobody@b.test/x' id='v2'><query xmlns='jabber:iq:version'/></iq>")
      assert.equal(await iqReply(alice, 'v2'), "<iq type='error' id='v2' from='nobody@b.test/x' to='alice@a.test/r'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")

      alice.write("<presence type='subscribe' to='bob@b.test'/>")
      assert.equal(await next(bob, 'presence', "type='subscribe'"), "<presence type='subscribe' to='bob@b.test' from='alice@a.test'/>")
      bob.write("<presence type='subscribed' to='alice@a.test'/>")
      // The approval brings bob's presence to alice over s2s (RFC 6121 §3.1.5), then his own request.
      assert.equal(await next(alice, 'presence', "from='bob@b.test/r'"), "<presence from='bob@b.test/r' to='alice@a.test'/>")
      bob.write("<presence type='subscribe' to='alice@a.test'/>")
      assert.equal(await next(alice, 'presence', "type='subscribe'"), "<presence type='subscribe' to='alice@a.test' from='bob@b.test'/>")
      alice.write("<presence type='subscribed' to='bob@b.test'/>")
      assert.equal(await next(bob, 'presence', "from='alice@a.test/r'"), "<presence from='alice@a.test/r' to='bob@b.test'/>")
      assert.match(await roster(alice, 'r1'), /<item [^>]*jid='bob@b.test'[^>]*subscription='both'/)
      assert.match(await roster(bob, 'r2'), /<item [^>]*jid='alice@a.test'[^>]*subscription='both'/)

      // XEP-0288: b.test's certificate verified, so a.test asked for bidi: one stream carries everything, both ways.
      const [outgoing, ...moreOfA] = a.server.s2sConnections()
      assert.deepEqual({...outgoing, since: undefined, address: undefined}, {direction: 'outgoing', local: 'a.test', remote: ['b.test'], state: 'ready', auth: 'EXTERNAL', tls: 'TLSv1.3', since: undefined, address: undefined, queued: 0, certificateVerified: true, bidi: true})
      assert.deepEqual(moreOfA, [])
      const [incoming, ...moreOfB] = b.server.s2sConnections()
      assert.deepEqual([incoming.direction, incoming.remote, incoming.auth, incoming.bidi], ['incoming', ['a.test'], 'EXTERNAL', true])
      assert.deepEqual(moreOfB, [])
    })

    it('a self-signed certificate: dialback (XEP-0220) for that side, SASL EXTERNAL for the other, and messages both ways', async (t) => {
      const a = await startOurs(t, {...A, cert: pki.selfSigned(A.domain), ca: pki.ca, users: ['alice']})
      const b = await startOurs(t, {...B, cert: pki.issue(B.domain), ca: pki.ca, users: ['bob']})
      const alice = await loginOurs(t, A.address, A.domain, 'alice')
      const bob = await loginOurs(t, B.address, B.domain, 'bob')
      alice.write("<message to='bob@b.test' type='chat' id='m1'><body>via dialback</body></message>")
      assert.equal(await next(bob, 'message'), "<message to='bob@b.test' type='chat' id='m1' from='alice@a.test/r'><body>via dialback</body></message>")
      bob.write("<message to='alice@a.test' type='chat' id='m2'><body>via EXTERNAL</body></message>")
      assert.equal(await next(alice, 'message'), "<message to='alice@a.test' type='chat' id='m2' from='bob@b.test/r'><body>via EXTERNAL</body></message>")
      assert.deepEqual(
        a.server.s2sConnections().filter((info) => info.state === 'ready').map((info) => [info.direction, info.remote, info.auth]).sort(),
        [['incoming', ['b.test'], 'EXTERNAL'], ['outgoing', ['b.test'], 'dialback']],
      )
      assert.deepEqual(b.server.s2sConnections().find((info) => info.direction === 'incoming')?.auth, 'dialback')
    })

    it('a message from the other server to an account that is offline is stored, and delivered at its next login (RFC 6121 §8.5.2)', async (t) => {
      await startOurs(t, {...A, cert: pki.issue(A.domain), ca: pki.ca, users: ['alice']})
      await startOurs(t, {...B, cert: pki.issue(B.domain), ca: pki.ca, users: ['bob']})
      const bob = await loginOurs(t, B.address, B.domain, 'bob')
      bob.write("<message to='alice@a.test' type='chat' id='o1'><body>while you were away</body></message>")
      // Nothing bounces: alice's server took it for offline storage.
      bob.write("<iq type='get' to='a.test' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
      assert.equal(await iqReply(bob, 'p1'), "<iq type='result' id='p1' from='a.test' to='bob@b.test/r'/>")
      assert.equal(bob.received.includes("type='error'"), false)
      const alice = await loginOurs(t, A.address, A.domain, 'alice')
      assert.match(await next(alice, 'message'), /^<message to='alice@a.test' type='chat' id='o1' from='bob@b.test\/r'><body>while you were away<\/body><delay xmlns='urn:xmpp:delay' from='a.test' stamp='[^']+'\/><\/message>$/)
    })

    it('s2s_secure_auth refuses dialback: the message bounces with remote-server-not-found', async (t) => {
      await startOurs(t, {...A, cert: pki.selfSigned(A.domain), ca: pki.ca, users: ['alice']})
      const b = await startOurs(t, {...B, cert: pki.issue(B.domain), ca: pki.ca, users: ['bob'], settings: {s2s_secure_auth: true}})
      const alice = await loginOurs(t, A.address, A.domain, 'alice')
      alice.write("<message to='bob@b.test' type='chat' id='m1'><body>refused</body></message>")
      assert.equal(
        await next(alice, 'message'),
        "<message type='error' id='m1' from='bob@b.test' to='alice@a.test/r'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
      )
      assert.deepEqual(b.server.s2sConnections().filter((info) => info.remote.includes('a.test')), [])
    })

    it('an unreachable domain bounces within s2s_dns_timeout + s2s_connect_timeout: no DNS, a refused connection, a peer that never answers', async (t) => {
      const silent = net.createServer(() => {})
      await new Promise<void>((resolve) => silent.listen(5269, SILENT.address, resolve))
      t.after(() => silent.close())
      await startOurs(t, {...A, cert: pki.issue(A.domain), ca: pki.ca, users: ['alice'], settings: {s2s_dns_timeout: 1, s2s_connect_timeout: 1}})
      const alice = await loginOurs(t, A.address, A.domain, 'alice')
      const bounce = (id: string, from: string, condition: string, type = 'cancel') =>
        `<message type='error' id='${id}' from='${from}' to='alice@a.test/r'><error type='${type}'><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`
      let started = Date.now()
      alice.write("<message to='x@nowhere.test' id='n1'><body>?</body></message>")
      assert.equal(await next(alice, 'message'), bounce('n1', 'x@nowhere.test', 'remote-server-not-found'))
      alice.write("<message to='x@refusing.test' id='n2'><body>?</body></message>")
      assert.equal(await next(alice, 'message'), bounce('n2', 'x@refusing.test', 'remote-server-not-found'))
      assert.ok(Date.now() - started < 1500, `${Date.now() - started} ms`)
      started = Date.now()
      alice.write("<message to='x@silent.test' id='n3'><body>?</body></message>")
      alice.write("<message to='y@silent.test' id='n4'><body>?</body></message>")
      assert.equal(await next(alice, 'message'), bounce('n3', 'x@silent.test', 'remote-server-timeout', 'wait'))
      assert.equal(await next(alice, 'message'), bounce('n4', 'y@silent.test', 'remote-server-timeout', 'wait'))
      const elapsed = Date.now() - started
      assert.ok(elapsed >= 1900 && elapsed < 3000, `${elapsed} ms`)
      // Until the retry delay passes, what is sent there bounces at once.
      alice.write("<message to='x@silent.test' id='n5'><body>?</body></message>")
      assert.equal(await next(alice, 'message', "id='n5'"), bounce('n5', 'x@silent.test', 'remote-server-timeout', 'wait'))
    })

    it('a stanza from a domain the stream did not authenticate ends the stream with invalid-from (RFC 6120 §4.9.3.9)', async (t) => {
      await startOurs(t, {...A, cert: pki.issue(A.domain), ca: pki.ca, users: ['alice']})
      // STARTTLS is offered alone and required; EXTERNAL follows for a CA-signed certificate (externalS2s checks both).
      const client = await externalS2s(t, {address: A.address, port: 5269, domain: 'a.test', peer: 'peer.test', cert: pki.issue('peer.test'), ca: pki.ca})
      client.write("<message from='mallory@elsewhere.test/x' to='alice@a.test' id='f1'><body>forged</body></message>")
      assert.match(
        await client.until(/<\/stream:stream>/),
        /<stream:error><invalid-from xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>elsewhere.test is not authenticated on this stream<\/text><\/stream:error><\/stream:stream>$/,
      )
    })
  })

  describe('our server against Prosody 0.12', () => {
    it('CA-signed certificates: a message round trip started on each side, and a subscription ending in "both" on both sides', async (t) => {
      const a = await startOurs(t, {...A, cert: pki.issue(A.domain), ca: pki.ca, users: ['alice']})
      const prosody = await startProsody(t, {...P, cert: pki.issue(P.domain), ca: pki.ca, users: ['pat']})
      const alice = await loginOurs(t, A.address, A.domain, 'alice')
      const pat = startSlixmpp(t, {jid: 'pat@p.test', password: 'pat pw', address: [P.address, 5222], cafile: pki.ca, send: {to: 'alice@a.test', body: 'hello from prosody'}}, 'federation.py')
      await pat.next('session').catch((error: Error) => assert.fail(`${error.message}\n${prosody.log()}`))
      assert.match(await next(alice, 'message').catch((error: Error) => assert.fail(`${error.message}\n${prosody.log().slice(-6000)}`)), /^<message [^>]*from='pat@p.test\/[^']+'[^>]*><body>hello from prosody<\/body><\/message>$/)
      alice.write("<message to='pat@p.test' type='chat' id='m1'><body>hello pat</body></message>")
      assert.deepEqual(await pat.next('message'), {event: 'message', type: 'chat', frm: 'alice@a.test/r', body: 'hello pat', error: null})
      assert.match(await next(alice, 'message'), /^<message [^>]*type='chat'[^>]*><body>echo: hello pat<\/body><\/message>$/)

      // pat accepts and asks back (auto_authorize, auto_subscribe); alice accepts.
      alice.write("<presence type='subscribe' to='pat@p.test'/>")
      // Prosody's attribute order varies from run to run.
      const request = await next(alice, 'presence', "type='subscribe'")
      assert.match(request, /^<presence [^>]*\/>$/)
      assert.deepEqual({...attributes(request), id: undefined}, {from: 'pat@p.test', to: 'alice@a.test', type: 'subscribe', 'xml:lang': 'en', id: undefined})
      alice.write("<presence type='subscribed' to='pat@p.test'/>")
      for (;;) {
        const event = await pat.next('roster')
        if (event.contact === 'alice@a.test' && event.subscription === 'both') break
      }

      assert.match(await roster(alice, 'r1'), /<item [^>]*jid='pat@p.test'[^>]*subscription='both'/)
      const auth = a.server.s2sConnections().filter((info) => info.state === 'ready').map((info) => [info.direction, info.auth]).sort()
      assert.deepEqual(auth, [['incoming', 'EXTERNAL'], ['outgoing', 'EXTERNAL']])
    })

    it('a Prosody user joins a room here (its server connects to conference.a.test) and talks with a local occupant', async (t) => {
      await startOurs(t, {...A, cert: pki.issue(A.domain), ca: pki.ca, users: ['alice']})
      const prosody = await startProsody(t, {...P, cert: pki.issue(P.domain), ca: pki.ca, users: ['pat']})
      await talkInRoomWith(t, {jid: 'pat@p.test', password: 'pat pw', address: [P.address, 5222]}, prosody)
    })

    it('self-signed certificates on both sides: dialback both ways, and a message round trip', async (t) => {
      const a = await startOurs(t, {...A, cert: pki.selfSigned(A.domain), ca: pki.ca, users: ['alice']})
      await startProsody(t, {...P, cert: pki.selfSigned(P.domain), ca: pki.ca, users: ['pat']})
      const alice = await loginOurs(t, A.address, A.domain, 'alice')
      const pat = startSlixmpp(t, {jid: 'pat@p.test', password: 'pat pw', address: [P.address, 5222]}, 'federation.py')
      await pat.next('session')
      alice.write("<message to='pat@p.test' type='chat' id='m1'><body>hello pat</body></message>")
      assert.deepEqual(await pat.next('message'), {event: 'message', type: 'chat', frm: 'alice@a.test/r', body: 'hello pat', error: null})
      assert.match(await next(alice, 'message'), /^<message [^>]*type='chat'[^>]*><body>echo: hello pat<\/body><\/message>$/)
      const auth = a.server.s2sConnections().filter((info) => info.state === 'ready').map((info) => [info.direction, info.auth]).sort()
      assert.deepEqual(auth, [['incoming', 'dialback'], ['outgoing', 'dialback']])
    })

    it('Prosody with s2s_secure_auth refuses our self-signed certificate: the message bounces with remote-server-not-found', async (t) => {
      await startOurs(t, {...A, cert: pki.selfSigned(A.domain), ca: pki.ca, users: ['alice']})
      await startProsody(t, {...P, cert: pki.issue(P.domain), ca: pki.ca, users: ['pat'], secureAuth: true})
      const alice = await loginOurs(t, A.address, A.domain, 'alice')
      alice.write("<message to='pat@p.test' type='chat' id='m1'><body>refused</body></message>")
      assert.equal(
        await next(alice, 'message'),
        "<message type='error' id='m1' from='pat@p.test' to='alice@a.test/r'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
      )
    })

    it('our s2s_secure_auth refuses Prosody\'s self-signed certificate: its message never reaches alice, ours bounces', async (t) => {
      const a = await startOurs(t, {...A, cert: pki.issue(A.domain), ca: pki.ca, users: ['alice'], settings: {s2s_secure_auth: true}})
      await startProsody(t, {...P, cert: pki.selfSigned(P.domain), ca: pki.ca, users: ['pat']})
      const alice = await loginOurs(t, A.address, A.domain, 'alice')
      alice.write("<message to='pat@p.test' type='chat' id='m1'><body>refused</body></message>")
      assert.equal(
        await next(alice, 'message'),
        "<message type='error' id='m1' from='pat@p.test' to='alice@a.test/r'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
      )
      const pat = startSlixmpp(t, {jid: 'pat@p.test', password: 'pat pw', address: [P.address, 5222], send: {to: 'alice@a.test', body: 'let me in'}}, 'federation.py')
      await pat.next('session')
      // Our server answers Prosody's dialback with not-authorized: no stream from p.test authenticates, nothing reaches alice.
      const deadline = Date.now() + 2000
      while (Date.now() < deadline && !a.server.s2sConnections().some((info) => info.direction === 'incoming' && info.auth === 'none')) await new Promise((resolve) => setTimeout(resolve, 50))
      await new Promise((resolve) => setTimeout(resolve, 500))
      assert.deepEqual(a.server.s2sConnections().filter((info) => info.direction === 'incoming' && info.remote.length > 0), [])
      assert.equal(alice.received.includes('let me in'), false)
    })
  })

  describe('our server against ejabberd 23.01', () => {
    it('CA-signed certificates: a message round trip started on each side, and a subscription ending in "both" on both sides', async (t) => {
      // ejabberd 23.01's xmpp library crashes on a certificate with an XmppAddr (xmpp_stream_pkix:get_cert_domains, badarg): ours has a DNS-ID only here.
      const a = await startOurs(t, {...A, cert: pki.issue(A.domain, {dnsOnly: true}), ca: pki.ca, users: ['alice']})
      const ejabberd = await startEjabberd(t, {...E, cert: pki.issue(E.domain), ca: pki.ca, users: ['eve']})
      const alice = await loginOurs(t, A.address, A.domain, 'alice')
      const eve = startSlixmpp(t, {jid: 'eve@e.test', password: 'eve pw', address: [E.address, 5222], cafile: pki.ca, send: {to: 'alice@a.test', body: 'hello from ejabberd'}}, 'federation.py')
      await eve.next('session', 20_000)
      assert.match(await next(alice, 'message').catch((error: Error) => assert.fail(`${error.message}\n${ejabberd.log().slice(-6000)}`)), /^<message [^>]*><body>hello from ejabberd<\/body><\/message>$/)
      alice.write("<message to='eve@e.test' type='chat' id='m1'><body>hello eve</body></message>")
      assert.deepEqual(await eve.next('message').catch((error: Error) => assert.fail(`${error.message}\n${ejabberd.log().slice(-8000)}`)), {event: 'message', type: 'chat', frm: 'alice@a.test/r', body: 'hello eve', error: null})
      assert.match(await next(alice, 'message'), /^<message [^>]*type='chat'[^>]*><body>echo: hello eve<\/body><\/message>$/)

      alice.write("<presence type='subscribe' to='eve@e.test'/>")
      const request = await next(alice, 'presence', "type='subscribe'")
      assert.equal(attributes(request).from, 'eve@e.test')
      alice.write("<presence type='subscribed' to='eve@e.test'/>")
      for (;;) {
        const event = await eve.next('roster')
        if (event.contact === 'alice@a.test' && event.subscription === 'both') break
      }

      assert.match(await roster(alice, 'r1'), /<item [^>]*jid='eve@e.test'[^>]*subscription='both'/)
      const auth = a.server.s2sConnections().filter((info) => info.state === 'ready').map((info) => [info.direction, info.auth]).sort()
      assert.deepEqual(auth, [['incoming', 'EXTERNAL'], ['outgoing', 'EXTERNAL']])
    })

    it('an ejabberd user joins a room here (its server connects to conference.a.test) and talks with a local occupant', async (t) => {
      await startOurs(t, {...A, cert: pki.issue(A.domain, {dnsOnly: true}), ca: pki.ca, users: ['alice']})
      const ejabberd = await startEjabberd(t, {...E, cert: pki.issue(E.domain), ca: pki.ca, users: ['eve']})
      await talkInRoomWith(t, {jid: 'eve@e.test', password: 'eve pw', address: [E.address, 5222]}, ejabberd)
    })

    it('self-signed certificates on both sides: dialback both ways, and a message round trip', async (t) => {
      const a = await startOurs(t, {...A, cert: pki.selfSigned(A.domain), ca: pki.ca, users: ['alice']})
      await startEjabberd(t, {...E, cert: pki.selfSigned(E.domain), ca: pki.ca, users: ['eve']})
      const alice = await loginOurs(t, A.address, A.domain, 'alice')
      const eve = startSlixmpp(t, {jid: 'eve@e.test', password: 'eve pw', address: [E.address, 5222]}, 'federation.py')
      await eve.next('session', 20_000)
      alice.write("<message to='eve@e.test' type='chat' id='m1'><body>hello eve</body></message>")
      assert.deepEqual(await eve.next('message'), {event: 'message', type: 'chat', frm: 'alice@a.test/r', body: 'hello eve', error: null})
      assert.match(await next(alice, 'message'), /^<message [^>]*type='chat'[^>]*><body>echo: hello eve<\/body><\/message>$/)
      const auth = a.server.s2sConnections().filter((info) => info.state === 'ready').map((info) => [info.direction, info.auth]).sort()
      assert.deepEqual(auth, [['incoming', 'dialback'], ['outgoing', 'dialback']])
    })
  })
})
