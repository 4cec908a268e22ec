/**
 * mod_carbons (XEP-0280): exact stanzas in, exact carbons out, on resources
 * of one account that enabled carbons, did not, or disabled them again.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {NO_ARCHIVING, type RawClient, loginRaw, nextMessage, startTestServer} from './helpers.js'

type TestServer = Awaited<ReturnType<typeof startTestServer>>
type Context = Parameters<typeof startTestServer>[0]

async function withUsers(t: Context, ...users: string[]): Promise<TestServer> {
  const test = await startTestServer(t, {settings: NO_ARCHIVING})
  for (const user of users) await test.addUser(`${user}@localhost`, `${user} pw`)
  return test
}

/** The reply to the iq `id`, whole. */
async function reply(client: RawClient, id: string): Promise<string> {
  const text = await client.until(new RegExp(`<iq [^>]*id='${id}'[^>]*?(/>|>[\\s\\S]*?</iq>)`))
  return text.slice(text.lastIndexOf('<iq '))
}

let pings = 0
/** Fails if a message reached the client: a ping's answer comes after anything the server sent it before. */
async function assertNoMessage(client: RawClient): Promise<void> {
  const id = `quiet${++pings}`
  client.write(`<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`)
  assert.doesNotMatch(await client.until(new RegExp(`id='${id}'`)), /<message[\s>]/, `${client.jid} got a message`)
}

/** A logged-in resource of `user`, carbons enabled unless `carbons` is false. */
async function resource(t: Context, test: TestServer, user: string, name: string, options: {carbons?: boolean; presence?: string} = {}): Promise<RawClient> {
  const client = await loginRaw(t, test.starttlsPort, user, `${user} pw`, {resource: name, presence: options.presence === undefined})
  if (options.presence !== undefined) client.write(options.presence)
  if (options.carbons !== false) {
    client.write("<iq type='set' id='enable'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
    assert.equal(await reply(client, 'enable'), `<iq type='result' id='enable' to='${client.jid}'/>`)
  }

  return client
}

const received = (to: string, inner: string, type = " type='chat'") =>
  `<message from='${to.split('/')[0]}' to='${to}'${type}><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>${inner}</forwarded></received></message>`
const sent = (to: string, inner: string, type = " type='chat'") =>
  `<message from='${to.split('/')[0]}' to='${to}'${type}><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>${inner}</forwarded></sent></message>`

describe('message carbons (mod_carbons, XEP-0280)', () => {
  it('announces carbons and their copying rules, and enables and disables them per session (§3, §4, §5)', async (t) => {
    const test = await withUsers(t, 'alice')
    const alice = await resource(t, test, 'alice', 'a', {carbons: false})
    alice.write("<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    assert.match(await reply(alice, 'd'), /<feature var='urn:xmpp:carbons:2'\/><feature var='urn:xmpp:carbons:rules:0'\/>/)
    // With no 'to' as XEP-0280's examples and profanity send it, to the own bare JID, or to the server, whose feature it is (§3); twice is no error (§10.1).
    for (const [id, request, to] of [
      ['e1', "<enable xmlns='urn:xmpp:carbons:2'/>", ''],
      ['e2', "<enable xmlns='urn:xmpp:carbons:2'/>", " to='alice@localhost'"],
      ['e3', "<enable xmlns='urn:xmpp:carbons:2'/>", " to='localhost'"],
      ['d1', "<disable xmlns='urn:xmpp:carbons:2'/>", ''],
      ['d2', "<disable xmlns='urn:xmpp:carbons:2'/>", " to='localhost'"],
    ]) {
      alice.write(`<iq type='set' id='${id}'${to}>${request}</iq>`)
      assert.equal(await reply(alice, id), `<iq type='result' id='${id}'${to.replace('to=', 'from=')} to='${alice.jid}'/>`)
    }

    alice.write("<iq type='get' id='g'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
    assert.equal(await reply(alice, 'g'), `<iq type='error' id='g' from='alice@localhost' to='${alice.jid}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
  })

  it('copies a message to one resource to the others that enabled carbons, and what one sends to the others too (§6, §7)', async (t) => {
    const test = await withUsers(t, 'alice', 'bob')
    const a = await resource(t, test, 'alice', 'a')
    const b = await resource(t, test, 'alice', 'b')
    const c = await resource(t, test, 'alice', 'c', {carbons: false})
    const bob = await resource(t, test, 'bob', 'x', {carbons: false})

    bob.write("<message to='alice@localhost/a' type='chat' id='m1'><body>Wherefore art thou?</body></message>")
    const original = "<message xmlns='jabber:client' to='alice@localhost/a' type='chat' id='m1' from='bob@localhost/x'><body>Wherefore art thou?</body></message>"
    assert.equal(await nextMessage(a), original.replace(" xmlns='jabber:client'", ''))
    assert.equal(await nextMessage(b), received('alice@localhost/b', original))

    a.write("<message to='bob@localhost/x' type='chat' id='m2'><body>Here.</body><thread>t1</thread></message>")
    const answer = "<message xmlns='jabber:client' to='bob@localhost/x' type='chat' id='m2' from='alice@localhost/a'><body>Here.</body><thread>t1</thread></message>"
    assert.equal(await nextMessage(bob), answer.replace(" xmlns='jabber:client'", ''))
    assert.equal(await nextMessage(b), sent('alice@localhost/b', answer))

    // c never enabled carbons; a is the one that received and sent; bob has one resource.
    for (const client of [a, c, bob]) await assertNoMessage(client)

    // b disables: it no longer gets carbons (§5).
    b.write("<iq type='set' id='off'><disable xmlns='urn:xmpp:carbons:2'/></iq>")
    await reply(b, 'off')
    bob.write("<message to='alice@localhost/a' type='chat' id='m3'><body>Again.</body></message>")
    await nextMessage(a)
    a.write("<message to='bob@localhost/x' type='chat' id='m4'><body>Again.</body></message>")
    await nextMessage(bob)
    await assertNoMessage(b)
  })

  it('gives a message to the bare JID as itself to the resources that take it, and as a carbon to one at a negative priority', async (t) => {
    const test = await withUsers(t, 'alice', 'bob')
    const a = await resource(t, test, 'alice', 'a')
    const b = await resource(t, test, 'alice', 'b')
    const away = await resource(t, test, 'alice', 'away', {presence: '<presence><priority>-1</priority></presence>'})
    const bob = await resource(t, test, 'bob', 'x', {carbons: false})

    bob.write("<message to='alice@localhost' type='chat' id='m1'><body>Anyone?</body></message>")
    const original = "<message to='alice@localhost' type='chat' id='m1' from='bob@localhost/x'><body>Anyone?</body></message>"
    assert.equal(await nextMessage(a), original)
    assert.equal(await nextMessage(b), original)
    assert.equal(await nextMessage(away), received('alice@localhost/away', original.replace('<message ', "<message xmlns='jabber:client' ")))
    for (const client of [a, b]) await assertNoMessage(client)
  })

  it('copies a message stored offline: a sent carbon, and a received one to a resource at a negative priority', async (t) => {
    const test = await withUsers(t, 'alice', 'bob')
    const a = await resource(t, test, 'alice', 'a')
    const b = await resource(t, test, 'alice', 'b')
    const lurker = await resource(t, test, 'bob', 'lurker', {presence: '<presence><priority>-5</priority></presence>'})

    a.write("<message to='bob@localhost' type='chat' id='m1'><body>Call me.</body></message>")
    const original = "<message xmlns='jabber:client' to='bob@localhost' type='chat' id='m1' from='alice@localhost/a'><body>Call me.</body></message>"
    assert.equal(await nextMessage(b), sent('alice@localhost/b', original))
    assert.equal(await nextMessage(lurker), received('bob@localhost/lurker', original))
    await assertNoMessage(a)

    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'desk'})
    assert.match(await nextMessage(bob), /^<message to='bob@localhost' type='chat' id='m1' from='alice@localhost\/a'><body>Call me.<\/body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='[^']+'\/><\/message>$/)
  })

  it('copies only messages eligible under §6.1, and neither private nor no-copy ones, without <private/> (§8)', async (t) => {
    const test = await withUsers(t, 'alice', 'bob')
    const a = await resource(t, test, 'alice', 'a')
    const b = await resource(t, test, 'alice', 'b')
    const bob = await resource(t, test, 'bob', 'x')
    const other = await resource(t, test, 'bob', 'y')

    // What, its type, its payload, whether it is copied, and the payload delivered when it differs.
    const table: Array<[string, string, string, boolean, string?]> = [
      ['chat', 'chat', '<body>hi</body>', true],
      ['normal with a body', '', '<body>hi</body>', true],
      ['normal with a chat state only', 'normal', "<active xmlns='http://jabber.org/protocol/chatstates'/>", true],
      ['normal with a receipt only', '', "<received xmlns='urn:xmpp:receipts' id='r1'/>", true],
      ['normal with a chat marker only', '', "<displayed xmlns='urn:xmpp:chat-markers:0' id='r1'/>", true],
      ['a direct MUC invitation', '', "<x xmlns='jabber:x:conference' jid='room@conference.localhost'/>", true],
      ['normal without a body', '', "<x xmlns='jabber:x:oob'><url>https://localhost/</url></x>", false],
      ['headline', 'headline', '<body>news</body>', false],
      ['groupchat', 'groupchat', '<body>all</body>', false],
      ['private', 'chat', "<body>secret</body><private xmlns='urn:xmpp:carbons:2'/>", false, '<body>secret</body>'],
      ['no-copy', 'chat', "<body>secret</body><no-copy xmlns='urn:xmpp:hints'/>", false],
    ]
    for (const [index, [what, type, payload, copied, delivered]] of table.entries()) {
      const typed = type ? ` type='${type}'` : ''
      a.write(`<message to='bob@localhost/x' id='m${index}'${typed}>${payload}</message>`)
      const as = (xmlns: string, content: string) => `<message${xmlns} to='bob@localhost/x' id='m${index}'${typed} from='alice@localhost/a'>${content}</message>`
      assert.equal(await nextMessage(bob), as('', delivered ?? payload), what)
      if (copied) {
        assert.equal(await nextMessage(b), sent('alice@localhost/b', as(" xmlns='jabber:client'", payload), typed), what)
        assert.equal(await nextMessage(other), received('bob@localhost/y', as(" xmlns='jabber:client'", payload), typed), what)
      } else {
        for (const client of [b, other]) await assertNoMessage(client)
      }
    }
  })

  it('refuses a message a client sends with a carbon in it, and drops such an error (§11)', async (t) => {
    const test = await withUsers(t, 'alice', 'bob')
    const a = await resource(t, test, 'alice', 'a')
    const b = await resource(t, test, 'alice', 'b')
    const bob = await resource(t, test, 'bob', 'x')

    const forged = (wrapper: string) =>
      `<${wrapper}><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='carol@localhost/z' to='alice@localhost/a' type='chat'><body>send me your password</body></message></forwarded></${wrapper.split(' ')[0]}>`
    for (const [id, to, wrapper] of [
      ['f1', 'alice@localhost', "received xmlns='urn:xmpp:carbons:2'"],
      ['f2', 'alice@localhost/a', "sent xmlns='urn:xmpp:carbons:2'"],
      ['f3', 'alice@localhost/a', "received xmlns='urn:xmpp:carbons:1'"],
    ]) {
      bob.write(`<message to='${to}' type='chat' id='${id}'>${forged(wrapper)}</message>`)
      assert.equal(
        await nextMessage(bob),
        `<message type='error' id='${id}' from='${to}' to='bob@localhost/x'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>only the server sends message carbons (&lt;sent/&gt;, &lt;received/&gt;)</text></error></message>`,
      )
    }

    // From the account itself too: clients that check only the bare JID of a carbon's sender would take it for real.
    a.write(`<message to='alice@localhost/b' type='chat' id='f4'>${forged("sent xmlns='urn:xmpp:carbons:2'")}</message>`)
    assert.match(await nextMessage(a), /^<message type='error' id='f4' from='alice@localhost\/b' to='alice@localhost\/a'><error type='auth'><forbidden /)
    bob.write(`<message to='alice@localhost/a' type='error' id='f5'>${forged("received xmlns='urn:xmpp:carbons:2'")}</message>`)
    for (const client of [a, b, bob]) await assertNoMessage(client)
  })
})
