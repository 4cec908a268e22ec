/**
 * mod_blocking (XEP-0191): each test sends the exact stanza and checks the
 * exact answer, and what the other side did or did not receive.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {deleteUser} from '../../../src/accounts/index.js'
import {openAccountStore} from '../../../src/store/index.js'
import {NO_ARCHIVING, type RawClient, loginRaw, next, startTestServer, subscribe, sync} from './helpers.js'

type TestServer = Awaited<ReturnType<typeof startTestServer>>

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'

async function withUsers(t: Parameters<typeof startTestServer>[0], options: Parameters<typeof startTestServer>[1], ...users: string[]): Promise<TestServer> {
  const test = await startTestServer(t, {...options, settings: {...NO_ARCHIVING, ...options?.settings}})
  for (const user of users) await test.addUser(`${user}@localhost`, `${user} pw`)
  return test
}

const login = (t: Parameters<typeof startTestServer>[0], test: TestServer, user: string, resource: string, presence = true) =>
  loginRaw(t, test.starttlsPort, user, `${user} pw`, {resource, presence})

/** A server with alice and bob, logged in as alice/a and bob/b with initial presence. */
async function aliceAndBob(t: Parameters<typeof startTestServer>[0]): Promise<{test: TestServer; alice: RawClient; bob: RawClient}> {
  const test = await withUsers(t, {}, 'alice', 'bob')
  return {test, alice: await login(t, test, 'alice', 'a'), bob: await login(t, test, 'bob', 'b')}
}

/** The iq with this id, whole. */
async function reply(client: RawClient, id: string): Promise<string> {
  const text = await client.until(new RegExp(`<iq [^>]*id='${id}'[^>]*?(/>|>[\\s\\S]*?</iq>)`))
  return text.slice(text.lastIndexOf('<iq '))
}

const block = (client: RawClient, id: string, ...jids: string[]) =>
  client.write(`<iq type='set' id='${id}'><block xmlns='urn:xmpp:blocking'>${jids.map((jid) => `<item jid='${jid}'/>`).join('')}</block></iq>`)
const unblock = (client: RawClient, id: string, ...jids: string[]) =>
  client.write(`<iq type='set' id='${id}'><unblock xmlns='urn:xmpp:blocking'>${jids.map((jid) => `<item jid='${jid}'/>`).join('')}</unblock></iq>`)

async function blocked(client: RawClient, id: string, ...jids: string[]): Promise<void> {
  block(client, id, ...jids)
  assert.equal(await reply(client, id), `<iq type='result' id='${id}' to='${client.jid}'/>`)
}

describe('blocking command (mod_blocking, XEP-0191)', () => {
  it('announces urn:xmpp:blocking in the server\'s disco#info (§3.1)', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await login(t, test, 'alice', 'a', false)
    alice.write("<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    assert.match(await reply(alice, 'd'), /<feature var='urn:xmpp:blocking'\/>/)
  })

  it('returns the blocklist, empty and then with items normalised and sorted (§3.2)', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await login(t, test, 'alice', 'a', false)
    alice.write("<iq type='get' id='l1'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
    assert.equal(await reply(alice, 'l1'), `<iq type='result' id='l1' to='${alice.jid}'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
    await blocked(alice, 'b1', 'Romeo@Montague.NET', 'iago@shakespeare.lit/Evil', 'example.net')
    alice.write("<iq type='get' id='l2'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
    assert.equal(
      await reply(alice, 'l2'),
      `<iq type='result' id='l2' to='${alice.jid}'><blocklist xmlns='urn:xmpp:blocking'><item jid='example.net'/><item jid='iago@shakespeare.lit/Evil'/><item jid='romeo@montague.net'/></blocklist></iq>`,
    )
  })

  it('refuses a block without items (bad-request) and an item that is not a JID (jid-malformed), changing nothing (§3.3)', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await login(t, test, 'alice', 'a', false)
    alice.write("<iq type='set' id='b0'><block xmlns='urn:xmpp:blocking'/></iq>")
    assert.equal(
      await reply(alice, 'b0'),
      `<iq type='error' id='b0' to='${alice.jid}'><error type='modify'><bad-request xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>a block needs at least one item</text></error></iq>`,
    )
    for (const [id, command] of [
      ['b1', 'block'],
      ['u1', 'unblock'],
    ]) {
      alice.write(`<iq type='set' id='${id}'><${command} xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/><item jid='@localhost'/></${command}></iq>`)
      assert.equal(await reply(alice, id), `<iq type='error' id='${id}' to='${alice.jid}'><error type='modify'><jid-malformed xmlns='${STANZAS}'/></error></iq>`)
    }

    alice.write("<iq type='get' id='l'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
    assert.equal(await reply(alice, 'l'), `<iq type='result' id='l' to='${alice.jid}'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
  })

  it('pushes blocks and unblocks to every resource that fetched the list, and only to those (§3.3, §3.4, §3.5)', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const fetched = await login(t, test, 'alice', 'fetched', false)
    fetched.write("<iq type='get' id='l'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
    await reply(fetched, 'l')
    const other = await login(t, test, 'alice', 'other', false)
    await blocked(other, 'b1', 'bob@localhost', 'carol@localhost')
    assert.match(
      await next(fetched, 'iq', "type='set'"),
      /^<iq type='set' id='block-push-\d+' to='alice@localhost\/fetched'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'\/><item jid='carol@localhost'\/><\/block><\/iq>$/,
    )
    other.write("<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></unblock></iq>")
    assert.equal(await reply(other, 'u1'), `<iq type='result' id='u1' to='${other.jid}'/>`)
    assert.match(await next(fetched, 'iq', "type='set'"), /^<iq type='set' id='block-push-\d+' to='alice@localhost\/fetched'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost'\/><\/unblock><\/iq>$/)
    other.write("<iq type='set' id='u2'><unblock xmlns='urn:xmpp:blocking'/></iq>")
    assert.equal(await reply(other, 'u2'), `<iq type='result' id='u2' to='${other.jid}'/>`)
    assert.match(await next(fetched, 'iq', "type='set'"), /^<iq type='set' id='block-push-\d+' to='alice@localhost\/fetched'><unblock xmlns='urn:xmpp:blocking'\/><\/iq>$/)
    assert.doesNotMatch(await sync(other), /block-push/)
    fetched.write("<iq type='get' id='l2'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
    assert.equal(await reply(fetched, 'l2'), `<iq type='result' id='l2' to='${fetched.jid}'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
  })

  it('answers a blocked sender\'s message and iq with service-unavailable and delivers none of them (§3.3)', async (t) => {
    const {alice, bob} = await aliceAndBob(t)
    await subscribe(bob, alice)
    await blocked(alice, 'b1', 'bob@localhost')
    bob.write("<message to='alice@localhost' type='chat' id='m1'><body>hello?</body></message>")
    assert.equal(await next(bob, 'message', "id='m1'"), `<message type='error' id='m1' from='alice@localhost' to='${bob.jid}'><error type='cancel'><service-unavailable xmlns='${STANZAS}'/></error></message>`)
    bob.write("<message to='alice@localhost/a' id='m2'><body>hello?</body></message>")
    assert.equal(await next(bob, 'message', "id='m2'"), `<message type='error' id='m2' from='alice@localhost/a' to='${bob.jid}'><error type='cancel'><service-unavailable xmlns='${STANZAS}'/></error></message>`)
    // A headline is dropped without an answer, as for an account that is offline.
    bob.write("<message to='alice@localhost' type='headline' id='m3'><body>news</body></message>")
    for (const [id, to, query] of [
      ['i1', 'alice@localhost/a', "<ping xmlns='urn:xmpp:ping'/>"],
      ['i2', 'alice@localhost', "<query xmlns='http://jabber.org/protocol/disco#info'/>"],
      ['i3', 'alice@localhost', "<query xmlns='jabber:iq:last'/>"],
    ]) {
      bob.write(`<iq type='get' id='${id}' to='${to}'>${query}</iq>`)
      assert.equal(await reply(bob, id), `<iq type='error' id='${id}' from='${to}' to='${bob.jid}'><error type='cancel'><service-unavailable xmlns='${STANZAS}'/></error></iq>`)
    }

    assert.doesNotMatch(await sync(bob), /id='m3'/)
    assert.doesNotMatch(await sync(alice), /from='bob@localhost/)
  })

  it('delivers none of a blocked sender\'s presence: notifications, directed, subscription requests, probes (§3.3)', async (t) => {
    const {test, alice, bob} = await aliceAndBob(t)
    await subscribe(alice, bob)
    await subscribe(bob, alice)
    await blocked(alice, 'b1', 'bob@localhost')
    await next(bob, 'presence', "type='unavailable'")
    await next(alice, 'presence', "type='unavailable'")
    bob.write("<presence><show>chat</show><status>broadcast</status></presence>")
    bob.write("<presence to='alice@localhost/a'><status>directed</status></presence>")
    bob.write("<presence type='unsubscribe' to='alice@localhost'/>")
    bob.write("<presence type='probe' to='alice@localhost'/>")
    assert.doesNotMatch(await sync(bob), /<presence [^>]*from='alice@localhost/)
    assert.doesNotMatch(await sync(alice), /from='bob@localhost/)
    // A resource alice logs in later is not shown bob's presence either.
    const later = await login(t, test, 'alice', 'later')
    assert.doesNotMatch(await sync(later), /<presence [^>]*from='bob@localhost/)
    // The unsubscribe did not reach alice's roster either: bob still gets her presence once unblocked.
    unblock(alice, 'u1', 'bob@localhost')
    await reply(alice, 'u1')
    assert.equal(await next(bob, 'presence', "from='alice@localhost/a'"), `<presence from='alice@localhost/a' to='${bob.jid}'/>`)
  })

  it('refuses what the user sends to a blocked JID with not-acceptable and <blocked/>, and routes none of it (§3.3)', async (t) => {
    const {alice, bob} = await aliceAndBob(t)
    await blocked(alice, 'b1', 'bob@localhost')
    const refused = (name: string, id: string, from: string) =>
      `<${name} type='error' id='${id}' from='${from}' to='${alice.jid}'><error type='cancel'><not-acceptable xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>you have blocked this JID</text><blocked xmlns='urn:xmpp:blocking:errors'/></error></${name}>`
    alice.write("<message to='bob@localhost' type='chat' id='o1'><body>Can you hear me now?</body></message>")
    assert.equal(await next(alice, 'message', "id='o1'"), refused('message', 'o1', 'bob@localhost'))
    alice.write("<iq type='get' id='o2' to='bob@localhost/b'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert.equal(await reply(alice, 'o2'), refused('iq', 'o2', 'bob@localhost/b'))
    alice.write("<presence type='subscribe' to='bob@localhost' id='o3'/>")
    assert.equal(await next(alice, 'presence', "id='o3'"), refused('presence', 'o3', 'bob@localhost'))
    // An error is not answered with an error; it is just not routed.
    alice.write("<message to='bob@localhost/b' type='error' id='o4'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
    assert.doesNotMatch(await sync(alice), /id='o4'/)
    assert.doesNotMatch(await sync(bob), /from='alice@localhost/)
  })

  it('sends unavailable presence to a blocked contact from each available resource, then no more presence (§3.3)', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const one = await login(t, test, 'alice', 'one')
    await login(t, test, 'alice', 'two')
    const bob = await login(t, test, 'bob', 'b')
    await subscribe(bob, one)
    await sync(bob)
    await blocked(one, 'b1', 'bob@localhost')
    const received = await bob.until(/<presence [^>]*from='alice@localhost\/two'[^>]*\/>/)
    assert.match(received, new RegExp(`<presence type='unavailable' from='alice@localhost/one' to='${bob.jid}'/>`))
    assert.match(received, new RegExp(`<presence type='unavailable' from='alice@localhost/two' to='${bob.jid}'/>$`))
    one.write('<presence><show>away</show></presence>')
    await sync(one)
    assert.doesNotMatch(await sync(bob), /from='alice@localhost/)
    // bob's login after the block does not show him alice's presence either.
    const later = await login(t, test, 'bob', 'later')
    assert.doesNotMatch(await sync(later), /<presence [^>]*from='alice@localhost/)
  })

  it('tells the user\'s resources that a blocked contact is unavailable, and shows it again after unblocking', async (t) => {
    const {alice, bob} = await aliceAndBob(t)
    await subscribe(alice, bob)
    await blocked(alice, 'b1', 'bob@localhost')
    assert.equal(await next(alice, 'presence', "from='bob@localhost/b'"), `<presence type='unavailable' from='bob@localhost/b' to='${alice.jid}'/>`)
    unblock(alice, 'u1', 'bob@localhost')
    assert.equal(await reply(alice, 'u1'), `<iq type='result' id='u1' to='${alice.jid}'/>`)
    assert.equal(await next(alice, 'presence', "from='bob@localhost/b'"), `<presence from='bob@localhost/b' to='${alice.jid}'/>`)
  })

  it('sends the current presence to an unblocked contact allowed to see it, and delivers its stanzas again (§3.4, §3.5)', async (t) => {
    const {alice, bob} = await aliceAndBob(t)
    await subscribe(bob, alice)
    alice.write('<presence><show>dnd</show><status>busy</status></presence>')
    await next(bob, 'presence', "from='alice@localhost/a'")
    await blocked(alice, 'b1', 'bob@localhost', 'carol@localhost')
    await next(bob, 'presence', "type='unavailable'")
    alice.write("<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'/></iq>")
    assert.equal(await reply(alice, 'u1'), `<iq type='result' id='u1' to='${alice.jid}'/>`)
    assert.equal(await next(bob, 'presence', "from='alice@localhost/a'"), `<presence from='alice@localhost/a' to='${bob.jid}'><show>dnd</show><status>busy</status></presence>`)
    bob.write("<message to='alice@localhost' type='chat' id='m1'><body>back</body></message>")
    assert.equal(await next(alice, 'message', "id='m1'"), `<message to='alice@localhost' type='chat' id='m1' from='${bob.jid}'><body>back</body></message>`)
  })

  it('matches a domain item against every JID of the domain, and never blocks the user\'s own resources (§6, §5)', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const one = await login(t, test, 'alice', 'one')
    const two = await login(t, test, 'alice', 'two')
    const bob = await login(t, test, 'bob', 'b')
    await blocked(one, 'b1', 'localhost', 'example.net')
    bob.write("<message to='alice@localhost/one' type='chat' id='m1'><body>hi</body></message>")
    assert.match(await next(bob, 'message', "id='m1'"), /^<message type='error' id='m1' [^>]*><error type='cancel'><service-unavailable /)
    one.write("<message to='friend@example.net' type='chat' id='m2'><body>hi</body></message>")
    assert.match(await next(one, 'message', "id='m2'"), /<not-acceptable [^>]*\/>.*<blocked xmlns='urn:xmpp:blocking:errors'\/>/)
    one.write("<message to='alice@localhost/two' type='chat' id='m3'><body>note to self</body></message>")
    assert.equal(await next(two, 'message', "id='m3'"), "<message to='alice@localhost/two' type='chat' id='m3' from='alice@localhost/one'><body>note to self</body></message>")
  })

  it('blocks only the resource a full-JID item names', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const alice = await login(t, test, 'alice', 'a')
    const phone = await login(t, test, 'bob', 'phone')
    const desk = await login(t, test, 'bob', 'desk')
    await blocked(alice, 'b1', 'bob@localhost/phone')
    phone.write("<message to='alice@localhost' type='chat' id='m1'><body>from the phone</body></message>")
    assert.match(await next(phone, 'message', "id='m1'"), /<service-unavailable /)
    desk.write("<message to='alice@localhost' type='chat' id='m2'><body>from the desk</body></message>")
    assert.equal(await next(alice, 'message', "id='m2'"), "<message to='alice@localhost' type='chat' id='m2' from='bob@localhost/desk'><body>from the desk</body></message>")
  })

  it('drops a blocked contact\'s pending subscription request, which no later login brings back', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const bob = await login(t, test, 'bob', 'b')
    bob.write("<presence type='subscribe' to='alice@localhost'/>")
    await sync(bob)
    const alice = await login(t, test, 'alice', 'a')
    await next(alice, 'presence', "type='subscribe'")
    await blocked(alice, 'b1', 'bob@localhost')
    const again = await login(t, test, 'alice', 'again')
    assert.doesNotMatch(await sync(again), /type='subscribe'/)
  })

  it('refuses a block past max_items with resource-constraint, blocking none of its items', async (t) => {
    const test = await withUsers(t, {settings: {modules: {mod_blocking: {max_items: 2, cache_size: 100}, mod_ping: {}}}}, 'alice')
    const alice = await login(t, test, 'alice', 'a', false)
    await blocked(alice, 'b1', 'one@localhost')
    block(alice, 'b2', 'two@localhost', 'three@localhost')
    assert.equal(
      await reply(alice, 'b2'),
      `<iq type='error' id='b2' to='${alice.jid}'><error type='wait'><resource-constraint xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>a blocklist holds at most 2 JIDs</text></error></iq>`,
    )
    // Blocking again what is blocked adds nothing, so it passes.
    await blocked(alice, 'b3', 'one@localhost', 'two@localhost')
    alice.write("<iq type='get' id='l'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
    assert.equal(await reply(alice, 'l'), `<iq type='result' id='l' to='${alice.jid}'><blocklist xmlns='urn:xmpp:blocking'><item jid='one@localhost'/><item jid='two@localhost'/></blocklist></iq>`)
  })

  it('keeps blocking after the list left the cache, read back from the store', async (t) => {
    const test = await withUsers(t, {settings: {modules: {mod_blocking: {max_items: 10, cache_size: 1}, mod_ping: {}}}}, 'alice', 'bob', 'carol')
    const alice = await login(t, test, 'alice', 'a')
    const bob = await login(t, test, 'bob', 'b')
    const carol = await login(t, test, 'carol', 'c')
    await blocked(alice, 'b1', 'bob@localhost')
    // carol's and bob's lists now take the cache's one place.
    await blocked(carol, 'b2', 'dave@localhost')
    bob.write("<message to='carol@localhost' type='chat' id='m0'><body>hi</body></message>")
    await next(carol, 'message', "id='m0'")
    bob.write("<message to='alice@localhost' type='chat' id='m1'><body>hi</body></message>")
    assert.equal(await next(bob, 'message', "id='m1'"), `<message type='error' id='m1' from='alice@localhost' to='${bob.jid}'><error type='cancel'><service-unavailable xmlns='${STANZAS}'/></error></message>`)
  })

  it('forgets the blocklist of a deleted account: one created again under its name starts with none', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await login(t, test, 'alice', 'a', false)
    await blocked(alice, 'b1', 'bob@localhost')
    const store = await openAccountStore(test.config)
    t.after(() => store.close())
    await deleteUser({config: test.config, store}, 'alice@localhost')
    test.server.notify({type: 'user-deleted', jid: 'alice@localhost'})
    await test.addUser('alice@localhost', 'alice pw')
    const again = await login(t, test, 'alice', 'a', false)
    again.write("<iq type='get' id='l'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
    assert.equal(await reply(again, 'l'), `<iq type='result' id='l' to='${again.jid}'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
  })
})
