/**
 * Roster versioning (RFC 6121 §2.6) and subscription pre-approval (§3.4) in
 * mod_roster: each test sends stanzas and checks the exact answers and pushes.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {RawClient, type TestServer, featuresAfterAuth, header, iqReply as reply, loginRaw, next, startWithUsers as withUsers, sync} from './helpers.js'

/** The stream features of an authenticated stream, up to and with mod_roster's (the modules after it add theirs: caps, csi). */
const FEATURES_AFTER_AUTH =
  "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session><sm xmlns='urn:xmpp:sm:3'/>" +
  "<ver xmlns='urn:xmpp:features:rosterver'/><sub xmlns='urn:xmpp:features:pre-approval'/>"

/** The stream features an authenticated stream of `username` is offered. */
async function featuresOf(t: Parameters<typeof withUsers>[0], port: number, username: string): Promise<string> {
  const text = await featuresAfterAuth(t, port, username, `${username} pw`)
  return text.slice(text.indexOf('<stream:features>'))
}

let gets = 0
/** The answer to a roster get with `ver` (no ver attribute when undefined). */
async function rosterGet(client: RawClient, ver?: string): Promise<string> {
  const id = `get${++gets}`
  client.write(`<iq type='get' id='${id}'><query xmlns='jabber:iq:roster'${ver === undefined ? '' : ` ver='${ver}'`}/></iq>`)
  return reply(client, id)
}

/** The next roster push, whole. */
async function nextPush(client: RawClient): Promise<string> {
  return next(client, 'iq', "type='set'")
}

/** The version a roster result or push carries. */
function versionOf(stanza: string): string {
  const ver = /<query xmlns='jabber:iq:roster' ver='([^']+)'/.exec(stanza)?.[1]
  assert.ok(ver, `no version in ${stanza}`)
  return ver
}

/** The change counter of a version ("<counter>-<epoch>"): versions are opaque to clients, not to these tests. */
function counterOf(ver: string): number {
  const match = /^(\d+)-[0-9a-f]{12}$/.exec(ver)
  assert.ok(match, `unexpected version format ${ver}`)
  return Number(match[1])
}

/** Everything `client` received up to a ping answered now, without the ping's answer: what the server sent it meanwhile. */
async function nothingMore(client: RawClient): Promise<void> {
  assert.match(await sync(client), /^<iq type='result' id='sync\d+' [^>]*\/>$/)
}

describe('roster versioning (RFC 6121 §2.6)', () => {
  it('announces roster versioning and pre-approval after authentication, and only then (§2.6.1, §3.4.1)', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    assert.ok((await featuresOf(t, test.starttlsPort, 'alice')).startsWith(FEATURES_AFTER_AUTH))
    const client = await RawClient.connect(test.starttlsPort)
    t.after(() => client.end())
    client.write(header())
    assert.doesNotMatch(await client.until(/<\/stream:features>/), /rosterver|pre-approval/)
    client.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await client.until(/<proceed[^>]*\/>/)
    await client.startTls()
    client.write(header())
    assert.doesNotMatch(await client.until(/<\/stream:features>/), /rosterver|pre-approval/)
  })

  it('a server without mod_roster announces neither', async (t) => {
    const test = await withUsers(t, {settings: {modules: {mod_ping: {}}}}, 'alice')
    assert.equal(
      await featuresOf(t, test.starttlsPort, 'alice'),
      "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>",
    )
  })

  it('answers a get with the current version by an empty result and pushes nothing; a stale, unknown or absent version gets the whole roster and its version (§2.6.3)', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'pc'})
    // A roster that never changed has a version too.
    assert.equal(await rosterGet(alice, ''), "<iq type='result' id='get1' to='alice@localhost/pc'><query xmlns='jabber:iq:roster' ver='0'/></iq>")
    alice.write("<iq type='set' id='add'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'><group>Friends</group></item></query></iq>")
    assert.equal(await reply(alice, 'add'), "<iq type='result' id='add' to='alice@localhost/pc'/>")
    const push = await nextPush(alice)
    const current = versionOf(push)
    assert.match(push, new RegExp(`^<iq type='set' id='push\\d+' to='alice@localhost/pc'><query xmlns='jabber:iq:roster' ver='${current}'><item jid='bob@localhost' name='Bob' subscription='none'><group>Friends</group></item></query></iq>$`))

    assert.equal(await rosterGet(alice, current), "<iq type='result' id='get2' to='alice@localhost/pc'/>")
    await nothingMore(alice)

    const full = `<query xmlns='jabber:iq:roster' ver='${current}'><item jid='bob@localhost' name='Bob' subscription='none'><group>Friends</group></item></query>`
    assert.equal(await rosterGet(alice, '0'), `<iq type='result' id='get3' to='alice@localhost/pc'>${full}</iq>`)
    assert.equal(await rosterGet(alice, 'made-up'), `<iq type='result' id='get4' to='alice@localhost/pc'>${full}</iq>`)
    assert.equal(await rosterGet(alice), `<iq type='result' id='get5' to='alice@localhost/pc'>${full}</iq>`)

    // A new session holding the version gets the empty result too: the version lives in the store, not the session.
    const later = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'phone'})
    assert.equal(await rosterGet(later, current), "<iq type='result' id='get6' to='alice@localhost/phone'/>")
  })

  it('moves the version with every change (set, subscription, removal), pushes carry it, and no version comes back (§2.6.3)', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'pc'})
    await rosterGet(alice)
    const versions: string[] = []
    const expectPush = async (item: string): Promise<void> => {
      const push = await nextPush(alice)
      const ver = versionOf(push)
      assert.match(push, new RegExp(`^<iq type='set' id='push\\d+' to='alice@localhost/pc'><query xmlns='jabber:iq:roster' ver='${ver}'>${item}</query></iq>$`))
      versions.push(ver)
    }

    alice.write("<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='carol@localhost'/></query></iq>")
    await expectPush("<item jid='carol@localhost' subscription='none'/>")
    alice.write("<iq type='set' id='s2'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='Carol'/></query></iq>")
    await expectPush("<item jid='carol@localhost' name='Carol' subscription='none'/>")
    alice.write("<presence type='subscribe' to='bob@localhost'/>")
    await expectPush("<item jid='bob@localhost' subscription='none' ask='subscribe'/>")
    alice.write("<iq type='set' id='s3'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' subscription='remove'/></query></iq>")
    await expectPush("<item jid='carol@localhost' subscription='remove'/>")
    // The same item as before the removal: a version of its own all the same.
    alice.write("<iq type='set' id='s4'><query xmlns='jabber:iq:roster'><item jid='carol@localhost'/></query></iq>")
    await expectPush("<item jid='carol@localhost' subscription='none'/>")

    assert.equal(new Set(versions).size, versions.length, `a version repeats: ${versions.join(' ')}`)
    const counters = versions.map(counterOf)
    assert.deepEqual(counters, [...counters].sort((a, b) => a - b), `versions out of order: ${versions.join(' ')}`)
    // Each version before the last is stale: the whole roster, with the last version.
    for (const stale of versions.slice(0, -1)) assert.equal(versionOf(await rosterGet(alice, stale)), versions.at(-1))
    assert.match(await rosterGet(alice, versions.at(-1)), /^<iq type='result' id='get\d+' to='alice@localhost\/pc'\/>$/)
  })
})

describe('subscription pre-approval (RFC 6121 §3.4)', () => {
  /** alice (pc) and bob (phone), available, each having fetched the roster: both get pushes and subscription requests. */
  async function aliceAndBob(t: {after(fn: () => unknown): void}): Promise<{test: TestServer; alice: RawClient; bob: RawClient}> {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'pc'})
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'phone'})
    await rosterGet(alice)
    await rosterGet(bob)
    return {test, alice, bob}
  }

  it('stores a pre-approval on the roster item, then approves the contact\'s request without asking the user', async (t) => {
    const {test, alice, bob} = await aliceAndBob(t)

    bob.write("<presence type='subscribed' to='alice@localhost'/>")
    const preApproval = await nextPush(bob)
    const preApproved = versionOf(preApproval)
    assert.match(preApproval, new RegExp(`^<iq type='set' id='push\\d+' to='bob@localhost/phone'><query xmlns='jabber:iq:roster' ver='${preApproved}'><item jid='alice@localhost' subscription='none' approved='true'/></query></iq>$`))
    // Nothing reaches alice: she asked for nothing yet.
    await sync(bob)
    await nothingMore(alice)
    assert.equal(
      await rosterGet(bob),
      `<iq type='result' id='get${gets}' to='bob@localhost/phone'><query xmlns='jabber:iq:roster' ver='${preApproved}'><item jid='alice@localhost' subscription='none' approved='true'/></query></iq>`,
    )

    alice.write("<presence type='subscribe' to='bob@localhost'/>")
    assert.match(await nextPush(alice), /^<iq type='set' id='push\d+' to='alice@localhost\/pc'><query xmlns='jabber:iq:roster' ver='[^']+'><item jid='bob@localhost' subscription='none' ask='subscribe'\/><\/query><\/iq>$/)
    assert.match(await nextPush(alice), /^<iq type='set' id='push\d+' to='alice@localhost\/pc'><query xmlns='jabber:iq:roster' ver='[^']+'><item jid='bob@localhost' subscription='to'\/><\/query><\/iq>$/)
    assert.equal(await next(alice, 'presence'), "<presence type='subscribed' from='bob@localhost' to='alice@localhost'/>")
    assert.equal(await next(alice, 'presence'), "<presence from='bob@localhost/phone' to='alice@localhost/pc'/>")

    // bob's side: the pre-approval used up, "from" now; the request itself never shown to him.
    const approval = await nextPush(bob)
    assert.match(approval, new RegExp(`^<iq type='set' id='push\\d+' to='bob@localhost/phone'><query xmlns='jabber:iq:roster' ver='[^']+'><item jid='alice@localhost' subscription='from'/></query></iq>$`))
    assert.ok(counterOf(versionOf(approval)) > counterOf(preApproved))
    await nothingMore(bob)
    const again = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'tablet'})
    assert.doesNotMatch(await sync(again), /type='subscribe'/)
  })

  it('unsubscribed cancels a pre-approval, and the contact\'s request is then the user\'s to answer', async (t) => {
    const {alice, bob} = await aliceAndBob(t)
    bob.write("<presence type='subscribed' to='alice@localhost'/>")
    await nextPush(bob)

    bob.write("<presence type='unsubscribed' to='alice@localhost'/>")
    assert.match(await nextPush(bob), /^<iq type='set' id='push\d+' to='bob@localhost\/phone'><query xmlns='jabber:iq:roster' ver='[^']+'><item jid='alice@localhost' subscription='none'\/><\/query><\/iq>$/)
    await sync(bob)
    // There was nothing to cancel on alice's side.
    await nothingMore(alice)

    alice.write("<presence type='subscribe' to='bob@localhost'/>")
    assert.match(await nextPush(alice), /<item jid='bob@localhost' subscription='none' ask='subscribe'\/>/)
    assert.equal(await next(bob, 'presence', "type='subscribe'"), "<presence type='subscribe' to='bob@localhost' from='alice@localhost'/>")
    await nothingMore(bob)
    await nothingMore(alice)
  })

  it('a subscribed to a contact with a pending request approves it; to a contact already subscribed, or in a roster set, changes nothing', async (t) => {
    const {alice, bob} = await aliceAndBob(t)

    alice.write("<presence type='subscribe' to='bob@localhost'/>")
    await next(bob, 'presence', "type='subscribe'")
    bob.write("<presence type='subscribed' to='alice@localhost'/>")
    // An approval: "from" at once, no pre-approval flag.
    assert.match(await nextPush(bob), /<item jid='alice@localhost' subscription='from'\/>/)
    await next(alice, 'presence', "type='subscribed'")
    await sync(alice)

    bob.write("<presence type='subscribed' to='alice@localhost'/>")
    await nothingMore(bob)
    await nothingMore(alice)

    // RFC 6121 §2.1.2.1: 'approved' in a roster set is ignored.
    bob.write("<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' approved='true'/></query></iq>")
    assert.match(await nextPush(bob), /<item jid='carol@localhost' subscription='none'\/>/)
  })

  it('a pre-approval held while the user is offline still answers the request', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'phone'})
    bob.write("<presence type='subscribed' to='alice@localhost'/>")
    await sync(bob)
    bob.end()
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'pc'})
    await rosterGet(alice)
    alice.write("<presence type='subscribe' to='bob@localhost'/>")
    assert.equal(await next(alice, 'presence', "type='subscribed'"), "<presence type='subscribed' from='bob@localhost' to='alice@localhost'/>")
    const back = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'tablet', presence: false})
    assert.match(await rosterGet(back), /<item jid='alice@localhost' subscription='from'\/><\/query><\/iq>$/)
    back.write('<presence/>')
    assert.doesNotMatch(await sync(back), /type='subscribe'/)
  })
})
