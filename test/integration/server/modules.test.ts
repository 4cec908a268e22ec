/**
 * The server's modules (src/server/modules) and the RFC 6121 points of the
 * IM issue: each test sends a stanza and checks the exact answer.
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {describe, it} from 'node:test'

import {type RawClient, featuresAfterAuth, iqReply as reply, loginRaw, startWithUsers as withUsers} from './helpers.js'

/** alice (after fetching her roster) subscribes to bob's presence and bob approves: bob's roster then has alice as "from". */
async function subscribe(alice: RawClient, bob: RawClient): Promise<void> {
  alice.write("<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>")
  await alice.until(/id='roster'/)
  alice.write("<presence type='subscribe' to='bob@localhost'/>")
  await bob.until(/<presence [^>]*type='subscribe'[^>]*\/>/)
  bob.write("<presence type='subscribed' to='alice@localhost'/>")
  await alice.until(/<presence [^>]*type='subscribed'/)
}

describe('service discovery (mod_disco)', () => {
  it('lists the server identity and every default module\'s features', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    alice.write("<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    assert.equal(
      await reply(alice, 'd'),
      `<iq type='result' id='d' from='localhost' to='${alice.jid}'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' type='im' name='xmppctl'/>` +
        "<feature var='http://jabber.org/protocol/disco#info'/><feature var='http://jabber.org/protocol/disco#items'/><feature var='jabber:iq:last'/><feature var='jabber:iq:private'/><feature var='jabber:iq:register'/><feature var='jabber:iq:roster'/>" +
        "<feature var='msgoffline'/><feature var='presence'/><feature var='urn:xmpp:blocking'/><feature var='urn:xmpp:carbons:2'/><feature var='urn:xmpp:carbons:rules:0'/><feature var='urn:xmpp:ping'/><feature var='urn:xmpp:time'/><feature var='vcard-temp'/></query></iq>",
    )
  })

  it('announces the server\'s caps (XEP-0115 §6.3) in the stream features, and answers disco#info for that node#ver', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const features = await featuresAfterAuth(t, test.starttlsPort, 'alice', 'alice pw')
    const caps = /<c xmlns='http:\/\/jabber.org\/protocol\/caps' hash='sha-1' node='https:\/\/github.com\/xmppctl\/xmppctl' ver='([^']+)'\/>/.exec(features)
    assert.ok(caps, features)
    const node = `https://github.com/xmppctl/xmppctl#${caps[1]}`
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    alice.write(`<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='${node}'/></iq>`)
    const info = await reply(alice, 'd')
    assert.match(info, new RegExp(`^<iq type='result' id='d' from='localhost' to='${alice.jid}'><query xmlns='http://jabber.org/protocol/disco#info' node='${node}'><identity category='server' type='im' name='xmppctl'/><feature `))
    // §5.1 by hand: identity, then the features in octet order, each followed by '<'.
    const featureVars = [...info.matchAll(/<feature var='([^']+)'\/>/g)].map((match) => match[1]).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    const text = `server/im//xmppctl<${featureVars.map((feature) => `${feature}<`).join('')}`
    assert.equal(createHash('sha1').update(text).digest('base64'), caps[1])
    alice.write("<iq type='get' id='e' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='https://github.com/xmppctl/xmppctl#stale'/></iq>")
    assert.match(await reply(alice, 'e'), /<error type='cancel'><item-not-found /)
  })

  it('adds XEP-0157 contact addresses from mod_disco\'s server_info', async (t) => {
    const modules = {mod_disco: {server_info: [{name: 'abuse-addresses', urls: ['mailto:abuse@localhost', 'xmpp:abuse@localhost']}]}}
    const test = await withUsers(t, {settings: {modules}}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    alice.write("<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    assert.match(
      await reply(alice, 'd'),
      /<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>http:\/\/jabber.org\/network\/serverinfo<\/value><\/field><field var='abuse-addresses'><value>mailto:abuse@localhost<\/value><value>xmpp:abuse@localhost<\/value><\/field><\/x>/,
    )
  })

  it('answers for the user\'s own account, and for another account only to contacts it shares presence with', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    alice.write("<iq type='get' id='own'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    assert.equal(
      await reply(alice, 'own'),
      `<iq type='result' id='own' to='${alice.jid}'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='account' type='registered'/><identity category='pubsub' type='pep'/>` +
        "<feature var='http://jabber.org/protocol/disco#info'/><feature var='http://jabber.org/protocol/disco#items'/>" +
        ['', ...'access-open access-presence access-whitelist auto-create config-node create-and-configure create-nodes delete-items delete-nodes filtered-notifications item-ids last-published persistent-items presence-notifications publish publish-options retract-items retrieve-items retrieve-subscriptions subscribe'.split(' ').map((feature) => `#${feature}`)]
          .map((feature) => `<feature var='http://jabber.org/protocol/pubsub${feature}'/>`)
          .join('') +
        "<feature var='urn:xmpp:bookmarks:1#compat'/><feature var='urn:xmpp:mam:1'/><feature var='urn:xmpp:mam:2'/><feature var='urn:xmpp:mam:2#extended'/><feature var='urn:xmpp:sid:0'/><feature var='vcard-temp'/></query></iq>",
    )
    for (const [id, to] of [['stranger', 'bob@localhost'], ['absent', 'nobody@localhost']]) {
      alice.write(`<iq type='get' id='${id}' to='${to}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
      assert.equal(await reply(alice, id), `<iq type='error' id='${id}' from='${to}' to='${alice.jid}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
    }

    await subscribe(alice, bob)
    alice.write("<iq type='get' id='contact' to='bob@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    assert.match(await reply(alice, 'contact'), /^<iq type='result' id='contact' from='bob@localhost' [^>]*><query [^>]*><identity category='account' type='registered'\/>/)
  })
})

describe('entity time, last activity, version (mod_time, mod_last, mod_version)', () => {
  it('tells the time in UTC with the offset (XEP-0202)', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    alice.write("<iq type='get' id='t' to='localhost'><time xmlns='urn:xmpp:time'/></iq>")
    const answer = await reply(alice, 't')
    const utc = /<utc>([^<]+)<\/utc>/.exec(answer)?.[1]
    assert.match(answer, /^<iq type='result' id='t' from='localhost' [^>]*><time xmlns='urn:xmpp:time'><tzo>[+-]\d\d:\d\d<\/tzo><utc>[^<]+<\/utc><\/time><\/iq>$/)
    assert.ok(Math.abs(Date.parse(utc!) - Date.now()) < 5000)
  })

  it('gives the server\'s uptime, and a contact\'s time since it left with its status, and refuses strangers (XEP-0012)', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob', 'eve')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    alice.write("<iq type='get' id='up' to='localhost'><query xmlns='jabber:iq:last'/></iq>")
    assert.match(await reply(alice, 'up'), /^<iq type='result' id='up' from='localhost' [^>]*><query xmlns='jabber:iq:last' seconds='\d+'\/><\/iq>$/)
    await subscribe(alice, bob)
    alice.write("<iq type='get' id='online' to='bob@localhost'><query xmlns='jabber:iq:last'/></iq>")
    assert.equal(await reply(alice, 'online'), `<iq type='result' id='online' from='bob@localhost' to='${alice.jid}'><query xmlns='jabber:iq:last' seconds='0'/></iq>`)
    bob.write("<presence type='unavailable'><status>gone fishing</status></presence>")
    await alice.until(/<presence [^>]*type='unavailable'[\s\S]*?<\/presence>/)
    alice.write("<iq type='get' id='left' to='bob@localhost'><query xmlns='jabber:iq:last'/></iq>")
    assert.match(await reply(alice, 'left'), /^<iq type='result' id='left' from='bob@localhost' [^>]*><query xmlns='jabber:iq:last' seconds='[0-9]'>gone fishing<\/query><\/iq>$/)
    const eve = await loginRaw(t, test.starttlsPort, 'eve', 'eve pw', {presence: false})
    eve.write("<iq type='get' id='spy' to='bob@localhost'><query xmlns='jabber:iq:last'/></iq>")
    assert.equal(await reply(eve, 'spy'), `<iq type='error' id='spy' from='bob@localhost' to='${eve.jid}'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
  })

  it('keeps software version off by default, and answers it when mod_version is enabled', async (t) => {
    const off = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, off.starttlsPort, 'alice', 'alice pw', {presence: false})
    alice.write("<iq type='get' id='v' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
    assert.equal(await reply(alice, 'v'), `<iq type='error' id='v' from='localhost' to='${alice.jid}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
    const on = await withUsers(t, {settings: {modules: {mod_version: {show_os: false}}}}, 'alice')
    const again = await loginRaw(t, on.starttlsPort, 'alice', 'alice pw', {presence: false})
    again.write("<iq type='get' id='v' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
    assert.match(await reply(again, 'v'), /^<iq type='result' id='v' from='localhost' [^>]*><query xmlns='jabber:iq:version'><name>xmppctl<\/name><version>[^<]+<\/version><\/query><\/iq>$/)
    // Only the listed modules run: mod_ping is off on this server.
    again.write("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert.match(await reply(again, 'p'), /type='error'[\s\S]*<service-unavailable /)
  })
})

describe('RFC 6121 points', () => {
  it('delivers a stored subscription request complete, extensions included (§3.1.3)', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    alice.write("<presence type='subscribe' to='bob@localhost' id='sub1'><preauth xmlns='urn:xmpp:pars:0' token='T0K3N'/><nick xmlns='http://jabber.org/protocol/nick'>Alice</nick></presence>")
    alice.write("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
    await alice.until(/id='sync'/)
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    assert.match(
      await bob.until(/<presence [^>]*type='subscribe'[\s\S]*?<\/presence>/),
      /<presence type='subscribe' to='bob@localhost' id='sub1' from='alice@localhost'><preauth xmlns='urn:xmpp:pars:0' token='T0K3N'\/><nick xmlns='http:\/\/jabber.org\/protocol\/nick'>Alice<\/nick><\/presence>$/,
    )
  })

  it('answers a probe with unsubscribed unless the contact shares its presence, and with unavailable when it is offline (§4.3.2)', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    for (const to of ['nobody@localhost', 'bob@localhost']) {
      alice.write(`<presence type='probe' to='${to}'/>`)
      assert.match(await alice.until(/<presence [^>]*type='unsubscribed'[^>]*\/>/), new RegExp(`<presence type='unsubscribed' from='${to}' to='${alice.jid}'/>$`))
    }

    await subscribe(alice, bob)
    bob.end()
    await alice.until(/<presence [^>]*type='unavailable'[^>]*\/>/)
    alice.write("<presence type='probe' to='bob@localhost'/>")
    assert.match(await alice.until(/<presence [^>]*type='unavailable'[^>]*\/>/), new RegExp(`<presence type='unavailable' from='bob@localhost' to='${alice.jid}'/>$`))
  })

  it('pushes an approval only to resources that fetched the roster (§3.1.6)', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const interested = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'interested'})
    interested.write("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")
    await interested.until(/id='r'/)
    const plain = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'plain'})
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    await subscribe(interested, bob)
    plain.write("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
    const seen = await plain.until(/id='p'[^>]*\/>/)
    assert.doesNotMatch(seen, /type='subscribed'/)
  })
})

describe('nothing vanishes', () => {
  it('bounces presence to a room on a domain the server does not serve, so a join does not wait forever', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    alice.write("<presence to='room@conference.example.net/alice' id='join'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    assert.match(
      await alice.until(/<presence [^>]*type='error'[\s\S]*?<\/presence>/),
      new RegExp(`<presence type='error' id='join' from='room@conference.example.net/alice' to='${alice.jid}'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>$`),
    )
  })

  it('bounces a subscription request to another server and to the server itself', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    alice.write("<presence type='subscribe' to='friend@example.net' id='s1'/><presence type='subscribe' to='localhost' id='s2'/>")
    assert.match(await alice.until(/id='s1'[\s\S]*?<\/presence>/), /<remote-server-not-found /)
    assert.match(await alice.until(/id='s2'[\s\S]*?<\/presence>/), /<service-unavailable /)
  })

  it('returns a groupchat message to an account\'s bare JID, online or not, rather than drop it (RFC 6121 §8.5.2.1.2, §8.5.2.2.2)', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    alice.write("<message type='groupchat' to='bob@localhost' id='g1'><body>to no room</body></message>")
    const expected = (id: string) => `<message type='error' id='${id}' from='bob@localhost' to='${alice.jid}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`
    const offline = await alice.until(/id='g1'[\s\S]*?<\/message>/)
    assert.equal(offline.slice(offline.lastIndexOf('<message ')), expected('g1'))
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    alice.write("<message type='groupchat' to='bob@localhost' id='g2'><body>to no room</body></message>")
    const online = await alice.until(/id='g2'[\s\S]*?<\/message>/)
    assert.equal(online.slice(online.lastIndexOf('<message ')), expected('g2'))
    bob.write("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert.doesNotMatch(await bob.until(/id='p1'/), /to no room/)
  })
})
