/**
 * mod_pep (XEP-0163 with the XEP-0060 subset clients use): each test sends
 * the exact stanza and checks the exact answer, and what each contact did
 * or did not receive. Clients announce entity capabilities (XEP-0115) and
 * answer the server's disco#info about them, as real clients do.
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {describe, it} from 'node:test'

import {deleteUser} from '../../../src/accounts/index.js'
import {openAccountStore} from '../../../src/store/index.js'
import {type RawClient, iqReply, loginRaw, next, startWithUsers, storeQuery, subscribe, sync} from './helpers.js'

type Test = Parameters<typeof startWithUsers>[0]
type TestServer = Awaited<ReturnType<typeof startWithUsers>>

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
const PUBSUB = 'http://jabber.org/protocol/pubsub'
const ERRORS = 'http://jabber.org/protocol/pubsub#errors'
const TUNE = 'http://jabber.org/protocol/tune'
const CAPS_NODE = 'https://xmppctl.test/client'

/** Logged in without presence: each test sends the presence (with caps or not) it needs. */
const login = (t: Test, test: TestServer, user: string, resource: string) => loginRaw(t, test.starttlsPort, user, `${user} pw`, {resource, presence: false})

/** XEP-0115 §5.1 for one identity (client/pc, no lang, name "test") and `features`. */
function capsVer(features: readonly string[]): string {
  const text = `client/pc//test<${[...features].sort().map((feature) => `${feature}<`).join('')}`
  return createHash('sha1').update(text).digest('base64')
}

/**
 * Available presence with caps for `features`; when the server asks what
 * they mean (it does once per caps), the exact query is checked and answered.
 * Returns what else the client received meanwhile.
 */
async function announce(client: RawClient, features: readonly string[], {asked = true, answer = features} = {}): Promise<string> {
  const ver = capsVer(features)
  client.write(`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='${CAPS_NODE}' ver='${ver}'/></presence>`)
  if (asked) {
    const query = await next(client, 'iq', "type='get'")
    const id = /id='([^']+)'/.exec(query)![1]
    assert.equal(query, `<iq type='get' id='${id}' from='localhost' to='${client.jid}'><query xmlns='http://jabber.org/protocol/disco#info' node='${CAPS_NODE}#${ver}'/></iq>`)
    const answered = answer.map((feature) => `<feature var='${feature}'/>`).join('')
    client.write(`<iq type='result' id='${id}' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='${CAPS_NODE}#${ver}'><identity category='client' type='pc' name='test'/>${answered}</query></iq>`)
  }

  return sync(client)
}

const NOTIFY_TUNE = ['http://jabber.org/protocol/disco#info', TUNE, `${TUNE}+notify`]
const NO_NOTIFY = ['http://jabber.org/protocol/disco#info', TUNE]

const tune = (title: string) => `<tune xmlns='${TUNE}'><title>${title}</title></tune>`
const publishOptions = (fields: Record<string, string>) =>
  `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${PUBSUB}#publish-options</value></field>${Object.entries(fields)
    .map(([name, value]) => `<field var='${name}'><value>${value}</value></field>`)
    .join('')}</x></publish-options>`

function publish(client: RawClient, id: string, node: string, item: string, options = ''): void {
  client.write(`<iq type='set' id='${id}'><pubsub xmlns='${PUBSUB}'><publish node='${node}'>${item}</publish>${options}</pubsub></iq>`)
}

async function published(client: RawClient, id: string, node: string, itemId: string, payload: string, options = ''): Promise<void> {
  publish(client, id, node, `<item id='${itemId}'>${payload}</item>`, options)
  assert.equal(await iqReply(client, id), `<iq type='result' id='${id}' to='${client.jid}'><pubsub xmlns='${PUBSUB}'><publish node='${node}'><item id='${itemId}'/></publish></pubsub></iq>`)
}

function getItems(client: RawClient, id: string, node: string, {to, attrs = '', inner = ''}: {to?: string; attrs?: string; inner?: string} = {}): void {
  client.write(`<iq type='get' id='${id}'${to ? ` to='${to}'` : ''}><pubsub xmlns='${PUBSUB}'><items node='${node}'${attrs}${inner ? `>${inner}</items>` : '/>'}</pubsub></iq>`)
}

const itemsResult = (client: RawClient, id: string, node: string, items: string, from?: string) =>
  `<iq type='result' id='${id}'${from ? ` from='${from}'` : ''} to='${client.jid}'><pubsub xmlns='${PUBSUB}'>${items ? `<items node='${node}'>${items}</items>` : `<items node='${node}'/>`}</pubsub></iq>`

const error = (client: RawClient, id: string, type: string, condition: string, {from, text, specific}: {from?: string; text?: string; specific?: string} = {}) =>
  `<iq type='error' id='${id}'${from ? ` from='${from}'` : ''} to='${client.jid}'><error type='${type}'><${condition} xmlns='${STANZAS}'/>` +
  `${text ? `<text xmlns='${STANZAS}' xml:lang='en'>${text}</text>` : ''}${specific ? `<${specific} xmlns='${ERRORS}'/>` : ''}</error></iq>`

/** The notification message, its generated id made constant. */
const withoutId = (message: string) => message.replace(/ id='pep-\d+'/, '')

describe('personal eventing (mod_pep, XEP-0163)', () => {
  it('publishes an item, creating the node, and returns it; an item without id gets one (XEP-0060 §7.1, §6.5)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice')
    const alice = await login(t, test, 'alice', 'a')
    await published(alice, 'p1', TUNE, 't1', tune('One'))
    getItems(alice, 'g1', TUNE)
    assert.equal(await iqReply(alice, 'g1'), itemsResult(alice, 'g1', TUNE, `<item id='t1'>${tune('One')}</item>`))
    publish(alice, 'p2', TUNE, `<item>${tune('Two')}</item>`)
    const generated = /<item id='([0-9a-f-]{36})'\/>/.exec(await iqReply(alice, 'p2'))?.[1]
    assert.ok(generated)
    // max_items defaults to 1 on a PEP node: the new item replaced the old one.
    getItems(alice, 'g2', TUNE)
    assert.equal(await iqReply(alice, 'g2'), itemsResult(alice, 'g2', TUNE, `<item id='${generated}'>${tune('Two')}</item>`))
  })

  it('retracts an item, and answers item-not-found for one that is not there (XEP-0060 §7.2)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice')
    const alice = await login(t, test, 'alice', 'a')
    await published(alice, 'p', TUNE, 't1', tune('One'))
    alice.write(`<iq type='set' id='r1'><pubsub xmlns='${PUBSUB}'><retract node='${TUNE}'><item id='t1'/></retract></pubsub></iq>`)
    assert.equal(await iqReply(alice, 'r1'), `<iq type='result' id='r1' to='${alice.jid}'/>`)
    getItems(alice, 'g', TUNE)
    assert.equal(await iqReply(alice, 'g'), itemsResult(alice, 'g', TUNE, ''))
    alice.write(`<iq type='set' id='r2'><pubsub xmlns='${PUBSUB}'><retract node='${TUNE}'><item id='t1'/></retract></pubsub></iq>`)
    assert.equal(await iqReply(alice, 'r2'), error(alice, 'r2', 'cancel', 'item-not-found'))
    alice.write(`<iq type='set' id='r3'><pubsub xmlns='${PUBSUB}'><retract node='urn:none'><item id='t1'/></retract></pubsub></iq>`)
    assert.equal(await iqReply(alice, 'r3'), error(alice, 'r3', 'cancel', 'item-not-found'))
  })

  it('creates a node with publish-options, and refuses a publish whose options the node does not meet (XEP-0060 §7.1.5, XEP-0223)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice')
    const alice = await login(t, test, 'alice', 'a')
    const node = 'urn:xmpp:bookmarks:1'
    const whitelist = {'pubsub#access_model': 'whitelist', 'pubsub#persist_items': 'true', 'pubsub#max_items': 'max', 'pubsub#send_last_published_item': 'never'}
    await published(alice, 'p1', node, 'room@muc.localhost', "<conference xmlns='urn:xmpp:bookmarks:1'/>", publishOptions(whitelist))
    await published(alice, 'p2', node, 'other@muc.localhost', "<conference xmlns='urn:xmpp:bookmarks:1'/>", publishOptions(whitelist))
    publish(alice, 'p3', node, "<item id='x'><conference xmlns='urn:xmpp:bookmarks:1'/></item>", publishOptions({'pubsub#access_model': 'open'}))
    assert.equal(await iqReply(alice, 'p3'), error(alice, 'p3', 'cancel', 'conflict', {text: "the node's pubsub#access_model is not open", specific: 'precondition-not-met'}))
    publish(alice, 'p4', 'urn:new', `<item id='x'>${tune('x')}</item>`, publishOptions({'pubsub#title': 'Mine'}))
    assert.equal(await iqReply(alice, 'p4'), error(alice, 'p4', 'cancel', 'conflict', {text: 'pubsub#title: this server does not support the field pubsub#title', specific: 'precondition-not-met'}))
    // max_items=max kept both bookmarks; the refused publishes changed nothing.
    getItems(alice, 'g', node)
    assert.equal(
      await iqReply(alice, 'g'),
      itemsResult(alice, 'g', node, "<item id='room@muc.localhost'><conference xmlns='urn:xmpp:bookmarks:1'/></item><item id='other@muc.localhost'><conference xmlns='urn:xmpp:bookmarks:1'/></item>"),
    )
    getItems(alice, 'g2', 'urn:new')
    assert.equal(await iqReply(alice, 'g2'), error(alice, 'g2', 'cancel', 'item-not-found'))
  })

  it('lets contacts with a presence subscription read a presence node, anyone an open one, and only the owner a whitelist one (XEP-0060 §6.5.3)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'bob')
    const alice = await login(t, test, 'alice', 'a')
    const bob = await login(t, test, 'bob', 'b')
    alice.write('<presence/>')
    bob.write('<presence/>')
    await published(alice, 'p1', TUNE, 't1', tune('One'))
    await published(alice, 'p2', 'urn:open', 'o1', tune('Open'), publishOptions({'pubsub#access_model': 'open'}))
    await published(alice, 'p3', 'urn:closed', 'c1', tune('Closed'), publishOptions({'pubsub#access_model': 'whitelist'}))
    getItems(bob, 'g1', TUNE, {to: 'alice@localhost'})
    assert.equal(await iqReply(bob, 'g1'), error(bob, 'g1', 'auth', 'not-authorized', {from: 'alice@localhost', specific: 'presence-subscription-required'}))
    getItems(bob, 'g2', 'urn:open', {to: 'alice@localhost'})
    assert.equal(await iqReply(bob, 'g2'), itemsResult(bob, 'g2', 'urn:open', `<item id='o1'>${tune('Open')}</item>`, 'alice@localhost'))
    await subscribe(bob, alice)
    getItems(bob, 'g3', TUNE, {to: 'alice@localhost'})
    assert.equal(await iqReply(bob, 'g3'), itemsResult(bob, 'g3', TUNE, `<item id='t1'>${tune('One')}</item>`, 'alice@localhost'))
    getItems(bob, 'g4', 'urn:closed', {to: 'alice@localhost'})
    assert.equal(await iqReply(bob, 'g4'), error(bob, 'g4', 'cancel', 'not-allowed', {from: 'alice@localhost', specific: 'closed-node'}))
    // disco#items lists the nodes bob may read.
    bob.write("<iq type='get' id='d' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
    assert.equal(
      await iqReply(bob, 'd'),
      `<iq type='result' id='d' from='alice@localhost' to='${bob.jid}'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='alice@localhost' node='${TUNE}'/><item jid='alice@localhost' node='urn:open'/></query></iq>`,
    )
    // disco#info of a node bob may read describes it (XEP-0060 §5.3); one he may not looks like none at all.
    bob.write(`<iq type='get' id='n1' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='urn:open'/></iq>`)
    assert.equal(
      await iqReply(bob, 'n1'),
      `<iq type='result' id='n1' from='alice@localhost' to='${bob.jid}'><query xmlns='http://jabber.org/protocol/disco#info' node='urn:open'><identity category='pubsub' type='leaf'/><feature var='${PUBSUB}'/>` +
        `<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>${PUBSUB}#meta-data</value></field><field var='pubsub#owner'><value>alice@localhost</value></field>` +
        "<field var='pubsub#access_model'><value>open</value></field><field var='pubsub#max_items'><value>1</value></field></x></query></iq>",
    )
    for (const [id, node] of [['n2', 'urn:closed'], ['n3', 'urn:none']]) {
      bob.write(`<iq type='get' id='${id}' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='${node}'/></iq>`)
      assert.equal(await iqReply(bob, id), error(bob, id, 'cancel', 'item-not-found', {from: 'alice@localhost'}))
    }

    // Only the owner publishes.
    bob.write(`<iq type='set' id='p4' to='alice@localhost'><pubsub xmlns='${PUBSUB}'><publish node='${TUNE}'><item id='x'>${tune('Bob')}</item></publish></pubsub></iq>`)
    assert.equal(await iqReply(bob, 'p4'), error(bob, 'p4', 'auth', 'forbidden', {from: 'alice@localhost'}))
  })

  it('notifies the owner and subscribed contacts whose caps ask for NODE+notify, and nobody else (§4.2)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'bob', 'carol', 'dave')
    const alice = await login(t, test, 'alice', 'a')
    const bob = await login(t, test, 'bob', 'b')
    const carol = await login(t, test, 'carol', 'c')
    const dave = await login(t, test, 'dave', 'd')
    await announce(alice, NOTIFY_TUNE)
    // The same caps: the server knows them already and asks nobody again.
    await announce(bob, NOTIFY_TUNE, {asked: false})
    await announce(dave, NOTIFY_TUNE, {asked: false})
    await announce(carol, NO_NOTIFY)
    await subscribe(bob, alice)
    await subscribe(carol, alice)
    await published(alice, 'p', TUNE, 't1', tune('Song'))
    const event = (to: string) =>
      `<message type='headline' from='alice@localhost' to='${to}'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='${TUNE}'><item id='t1'>${tune('Song')}</item></items></event></message>`
    assert.equal(withoutId(await next(alice, 'message')), event(alice.jid))
    assert.equal(withoutId(await next(bob, 'message')), event(bob.jid))
    await sync(alice)
    for (const client of [carol, dave]) assert.doesNotMatch(await sync(client), /<message/)
    // A retraction with notify='true' reaches the same resources.
    alice.write(`<iq type='set' id='r'><pubsub xmlns='${PUBSUB}'><retract node='${TUNE}' notify='true'><item id='t1'/></retract></pubsub></iq>`)
    await iqReply(alice, 'r')
    assert.equal(
      withoutId(await next(bob, 'message')),
      `<message type='headline' from='alice@localhost' to='${bob.jid}'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='${TUNE}'><retract id='t1'/></items></event></message>`,
    )
    await sync(alice)
    for (const client of [carol, dave]) assert.doesNotMatch(await sync(client), /<message/)
  })

  it('takes explicit subscriptions by the subscriber\'s own JID, notifies them without caps, lists and ends them (XEP-0060 §6.1, §6.2, §5.6)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'carol')
    const alice = await login(t, test, 'alice', 'a')
    const carol = await login(t, test, 'carol', 'c')
    alice.write('<presence/>')
    carol.write('<presence/>')
    await published(alice, 'p1', 'urn:news', 'n1', tune('First'), publishOptions({'pubsub#access_model': 'open'}))
    await published(alice, 'p2', TUNE, 't1', tune('Mine'))
    const request = (type: string, id: string, inner: string) => carol.write(`<iq type='${type}' id='${id}' to='alice@localhost'><pubsub xmlns='${PUBSUB}'>${inner}</pubsub></iq>`)
    request('set', 's1', "<subscribe node='urn:news' jid='bob@localhost'/>")
    assert.equal(await iqReply(carol, 's1'), error(carol, 's1', 'modify', 'bad-request', {from: 'alice@localhost', text: 'subscribe with your own JID, bare or full', specific: 'invalid-jid'}))
    // A presence node, and Carol is no contact of Alice's.
    request('set', 's2', `<subscribe node='${TUNE}' jid='carol@localhost'/>`)
    assert.equal(await iqReply(carol, 's2'), error(carol, 's2', 'auth', 'not-authorized', {from: 'alice@localhost', specific: 'presence-subscription-required'}))

    // Carol's client announces no caps at all: the subscription alone brings the last item (§6.1.7), then each new one.
    request('set', 's3', "<subscribe node='urn:news' jid='carol@localhost'/>")
    assert.equal(await iqReply(carol, 's3'), `<iq type='result' id='s3' from='alice@localhost' to='${carol.jid}'><pubsub xmlns='${PUBSUB}'><subscription node='urn:news' jid='carol@localhost' subscription='subscribed'/></pubsub></iq>`)
    const event = (id: string, title: string) => `<message type='headline' from='alice@localhost' to='${carol.jid}'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:news'><item id='${id}'>${tune(title)}</item></items></event>`
    assert.match(withoutId(await next(carol, 'message')), new RegExp(`^${event('n1', 'First').replaceAll('/', '\\/')}<delay xmlns='urn:xmpp:delay' from='alice@localhost' stamp='[^']+'\\/><\\/message>$`))
    await published(alice, 'p3', 'urn:news', 'n2', tune('Second'))
    assert.equal(withoutId(await next(carol, 'message')), `${event('n2', 'Second')}</message>`)

    request('get', 'l1', '<subscriptions/>')
    assert.equal(await iqReply(carol, 'l1'), `<iq type='result' id='l1' from='alice@localhost' to='${carol.jid}'><pubsub xmlns='${PUBSUB}'><subscriptions><subscription node='urn:news' jid='carol@localhost' subscription='subscribed'/></subscriptions></pubsub></iq>`)
    request('set', 'u1', "<unsubscribe node='urn:news' jid='carol@localhost'/>")
    assert.equal(await iqReply(carol, 'u1'), `<iq type='result' id='u1' from='alice@localhost' to='${carol.jid}'/>`)
    request('set', 'u2', "<unsubscribe node='urn:news' jid='carol@localhost'/>")
    assert.equal(await iqReply(carol, 'u2'), error(carol, 'u2', 'cancel', 'unexpected-request', {from: 'alice@localhost', specific: 'not-subscribed'}))
    await published(alice, 'p4', 'urn:news', 'n3', tune('Third'))
    await sync(alice)
    assert.doesNotMatch(await sync(carol), /<message/)
  })

  it('tells explicit subscribers of a full JID that a node is gone, and nobody once the access model shuts them out (XEP-0060 §8.4.2, §4.5)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'carol')
    const alice = await login(t, test, 'alice', 'a')
    const carol = await login(t, test, 'carol', 'c')
    alice.write('<presence/>')
    carol.write('<presence/>')
    await published(alice, 'p1', 'urn:news', 'n1', tune('First'), publishOptions({'pubsub#access_model': 'open', 'pubsub#send_last_published_item': 'never'}))
    carol.write(`<iq type='set' id='s' to='alice@localhost'><pubsub xmlns='${PUBSUB}'><subscribe node='urn:news' jid='${carol.jid}'/></pubsub></iq>`)
    assert.equal(await iqReply(carol, 's'), `<iq type='result' id='s' from='alice@localhost' to='${carol.jid}'><pubsub xmlns='${PUBSUB}'><subscription node='urn:news' jid='${carol.jid}' subscription='subscribed'/></pubsub></iq>`)
    // Whitelist: the subscription stays, its notifications stop.
    alice.write(`<iq type='set' id='c'><pubsub xmlns='${PUBSUB}#owner'><configure node='urn:news'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${PUBSUB}#node_config</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></configure></pubsub></iq>`)
    await iqReply(alice, 'c')
    await published(alice, 'p2', 'urn:news', 'n2', tune('Secret'))
    await sync(alice)
    assert.doesNotMatch(await sync(carol), /<message/)
    alice.write(`<iq type='set' id='c2'><pubsub xmlns='${PUBSUB}#owner'><configure node='urn:news'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${PUBSUB}#node_config</value></field><field var='pubsub#access_model'><value>open</value></field></x></configure></pubsub></iq>`)
    await iqReply(alice, 'c2')
    alice.write(`<iq type='set' id='d'><pubsub xmlns='${PUBSUB}#owner'><delete node='urn:news'/></pubsub></iq>`)
    await iqReply(alice, 'd')
    assert.equal(withoutId(await next(carol, 'message')), `<message type='headline' from='alice@localhost' to='${carol.jid}'><event xmlns='http://jabber.org/protocol/pubsub#event'><delete node='urn:news'/></event></message>`)
  })

  it('does not trust caps whose features do not hash to their ver (XEP-0115 §5.4)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'bob')
    const alice = await login(t, test, 'alice', 'a')
    const bob = await login(t, test, 'bob', 'b')
    alice.write('<presence/>')
    // Bob announces caps without +notify, then claims +notify in the answer.
    await announce(bob, NO_NOTIFY, {answer: NOTIFY_TUNE})
    await subscribe(bob, alice)
    await published(alice, 'p', TUNE, 't1', tune('Song'))
    await sync(alice)
    assert.doesNotMatch(await sync(bob), /<message/)
  })

  it('sends the last item of each node a contact\'s new resource asks for, with its date (§4.3.2)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'bob')
    const alice = await login(t, test, 'alice', 'a')
    const first = await login(t, test, 'bob', 'first')
    alice.write('<presence/>')
    await announce(first, NOTIFY_TUNE)
    await subscribe(first, alice)
    first.end()
    await published(alice, 'p', TUNE, 't1', tune('Song'))
    const bob = await login(t, test, 'bob', 'second')
    const message = (received: string) => withoutId(/<message [\s\S]*?<\/message>/.exec(received)?.[0] ?? 'no message')
    assert.match(
      message(await announce(bob, NOTIFY_TUNE, {asked: false})),
      new RegExp(
        `^<message type='headline' from='alice@localhost' to='${bob.jid}'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='${TUNE}'><item id='t1'>${tune('Song')}</item></items></event>` +
          "<delay xmlns='urn:xmpp:delay' from='alice@localhost' stamp='\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z'/></message>$",
      ),
    )
    // The owner's own new resource gets it too.
    const second = await login(t, test, 'alice', 'second')
    assert.match(message(await announce(second, NOTIFY_TUNE, {asked: false})), new RegExp(`^<message type='headline' from='alice@localhost' to='${second.jid}'><event [^>]*><items node='${TUNE}'><item id='t1'>`))
  })

  it('keeps max_items items, the newest, and returns the last N on request (XEP-0060 §6.5.7)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice')
    const alice = await login(t, test, 'alice', 'a')
    for (const id of ['i1', 'i2', 'i3']) await published(alice, `p${id}`, 'urn:log', id, tune(id), publishOptions({'pubsub#max_items': '2'}))
    getItems(alice, 'all', 'urn:log')
    assert.equal(await iqReply(alice, 'all'), itemsResult(alice, 'all', 'urn:log', `<item id='i2'>${tune('i2')}</item><item id='i3'>${tune('i3')}</item>`))
    getItems(alice, 'last', 'urn:log', {attrs: " max_items='1'"})
    assert.equal(await iqReply(alice, 'last'), itemsResult(alice, 'last', 'urn:log', `<item id='i3'>${tune('i3')}</item>`))
    getItems(alice, 'byid', 'urn:log', {inner: "<item id='i2'/><item id='i1'/>"})
    assert.equal(await iqReply(alice, 'byid'), itemsResult(alice, 'byid', 'urn:log', `<item id='i2'>${tune('i2')}</item>`))
  })

  it('refuses a payload over max_payload_size and a node over max_nodes, storing nothing', async (t) => {
    const test = await startWithUsers(t, {settings: {modules: {mod_pep: {max_payload_size: 1024, max_nodes: 1}}}}, 'alice')
    const alice = await login(t, test, 'alice', 'a')
    publish(alice, 'big', TUNE, `<item id='t1'>${tune('x'.repeat(1024))}</item>`)
    assert.equal(await iqReply(alice, 'big'), error(alice, 'big', 'modify', 'not-acceptable', {text: 'a payload is at most 1024 bytes', specific: 'payload-too-big'}))
    getItems(alice, 'g', TUNE)
    assert.equal(await iqReply(alice, 'g'), error(alice, 'g', 'cancel', 'item-not-found'))
    await published(alice, 'p1', TUNE, 't1', tune('One'))
    publish(alice, 'p2', 'urn:second', `<item id='x'>${tune('Two')}</item>`)
    assert.equal(await iqReply(alice, 'p2'), error(alice, 'p2', 'cancel', 'policy-violation', {text: 'an account has at most 1 nodes'}))
  })

  it('answers feature-not-implemented with the unsupported feature for what it does not serve (XEP-0060 §6.1.3.11)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice')
    const alice = await login(t, test, 'alice', 'a')
    alice.write(`<iq type='get' id='s'><pubsub xmlns='${PUBSUB}'><affiliations/></pubsub></iq>`)
    assert.equal(
      await iqReply(alice, 's'),
      `<iq type='error' id='s' to='${alice.jid}'><error type='cancel'><feature-not-implemented xmlns='${STANZAS}'/><unsupported xmlns='${ERRORS}' feature='retrieve-affiliations'/></error></iq>`,
    )
  })

  it('configures, deletes and lists nodes for the owner (XEP-0060 §8.2, §8.4)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice')
    const alice = await login(t, test, 'alice', 'a')
    await published(alice, 'p', TUNE, 't1', tune('One'))
    const owner = 'http://jabber.org/protocol/pubsub#owner'
    alice.write(`<iq type='get' id='c1'><pubsub xmlns='${owner}'><configure node='${TUNE}'/></pubsub></iq>`)
    assert.match(await iqReply(alice, 'c1'), /<field var='pubsub#access_model' type='list-single'><option><value>open<\/value><\/option><option><value>presence<\/value><\/option><option><value>whitelist<\/value><\/option><value>presence<\/value><\/field>/)
    alice.write(
      `<iq type='set' id='c2'><pubsub xmlns='${owner}'><configure node='${TUNE}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${PUBSUB}#node_config</value></field><field var='pubsub#access_model'><value>authorize</value></field></x></configure></pubsub></iq>`,
    )
    assert.equal(
      await iqReply(alice, 'c2'),
      `<iq type='error' id='c2' to='${alice.jid}'><error type='cancel'><feature-not-implemented xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>the access model authorize is not supported; use open, presence or whitelist</text><unsupported xmlns='${ERRORS}' feature='access-authorize'/></error></iq>`,
    )
    alice.write("<iq type='get' id='d1'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
    assert.equal(await iqReply(alice, 'd1'), `<iq type='result' id='d1' to='${alice.jid}'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='alice@localhost' node='${TUNE}'/></query></iq>`)
    alice.write(`<iq type='set' id='del'><pubsub xmlns='${owner}'><delete node='${TUNE}'/></pubsub></iq>`)
    assert.equal(await iqReply(alice, 'del'), `<iq type='result' id='del' to='${alice.jid}'/>`)
    getItems(alice, 'g', TUNE)
    assert.equal(await iqReply(alice, 'g'), error(alice, 'g', 'cancel', 'item-not-found'))
  })

  it('loses the nodes and items of a deleted account with it', async (t) => {
    const test = await startWithUsers(t, {}, 'alice')
    const alice = await login(t, test, 'alice', 'a')
    await published(alice, 'p', TUNE, 't1', tune('One'))
    const store = await openAccountStore(test.config)
    t.after(() => store.close())
    await deleteUser({config: test.config, store}, 'alice@localhost')
    assert.deepEqual(await storeQuery(test.config, 'SELECT (SELECT count(*) FROM pep_nodes) AS nodes, (SELECT count(*) FROM pep_items) AS items'), [{nodes: 0, items: 0}])
  })
})
