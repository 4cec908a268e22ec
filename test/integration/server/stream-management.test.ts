/**
 * XEP-0198 stream management: acknowledgements, resumption after a lost
 * connection, and unacknowledged messages kept when a session ends.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'


import {DEFAULT_MODULES} from '../../../src/config/modules.js'
import {storeEngine} from '../../../src/store/index.js'
import {NO_ARCHIVING, type RawClient, type TestServer, featuresAfterAuth, loginRaw, startTestServer, storeQuery, sync} from './helpers.js'

const SM = 'urn:xmpp:sm:3'
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'

async function enable(client: RawClient, resume = true): Promise<string> {
  client.write(`<enable xmlns='${SM}'${resume ? " resume='true'" : ''}/>`)
  const enabled = await client.until(/<enabled [^>]*\/>/)
  return /id='([^']+)'/.exec(enabled)?.[1] ?? ''
}

/** Accounts alice and bob, and alice's phone logged in with stream management (`resume`: with resumption); its session id. */
async function phoneWithStreamManagement(
  t: {after(fn: () => unknown): void},
  test: TestServer,
  {presence = true, resume = true}: {presence?: boolean; resume?: boolean} = {},
): Promise<{alice: RawClient; id: string}> {
  await test.addUser('alice@localhost', 'alice pw')
  await test.addUser('bob@localhost', 'bob pw')
  const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'phone', presence})
  return {alice, id: await enable(alice, resume)}
}

async function offlineCount(test: TestServer): Promise<number> {
  return (await storeQuery<{n: number}>(test.config, "SELECT count(*) AS n FROM offline_messages WHERE username = 'alice'"))[0].n
}

/**
 * bob sends alice's phone `stanza` (by default the message m1), which her client takes in and never acknowledges;
 * `beforeLoss` runs, the phone's connection is lost and not resumed. What bob is sent about it then: the error.
 */
async function errorToSenderOfLost(
  t: {after(fn: () => unknown): void},
  test: TestServer,
  {stanza = "<message to='alice@localhost/phone' type='chat' id='m1'><body>lost in transit</body></message>", beforeLoss}: {stanza?: string; beforeLoss?: () => Promise<void>} = {},
): Promise<string> {
  const name = /^<(\w+)/.exec(stanza)![1]
  const id = /id='([^']+)'/.exec(stanza)![1]
  const {alice} = await phoneWithStreamManagement(t, test)
  const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'desk'})
  bob.write(stanza)
  await alice.until(new RegExp(`id='${id}'[\\s\\S]*?</${name}>`))
  await beforeLoss?.()
  alice.socket.destroy()
  const text = await bob.until(new RegExp(`<${name} [^>]*type='error'[\\s\\S]*?</${name}>`))
  return text.slice(text.lastIndexOf(`<${name} `))
}

/** Makes every insert into the offline store fail from now on, as a store that breaks under the running server would. */
async function refuseOfflineMessages(test: TestServer): Promise<void> {
  if (storeEngine(test.config) === 'sqlite') {
    await storeQuery(test.config, "CREATE TRIGGER offline_refused BEFORE INSERT ON offline_messages BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    return
  }

  await storeQuery(test.config, "CREATE FUNCTION offline_refused() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'refused by the test'; END$$")
  await storeQuery(test.config, 'CREATE TRIGGER offline_refused BEFORE INSERT ON offline_messages FOR EACH ROW EXECUTE FUNCTION offline_refused()')
}

describe('stream management (XEP-0198)', () => {
  it('offers sm after authentication, enables it with resumption, and counts handled stanzas', async (t) => {
    const test = await startTestServer(t)
    await test.addUser('alice@localhost', 'alice pw')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    alice.write(`<enable xmlns='${SM}' resume='true'/>`)
    assert.match(await alice.until(/<enabled [^>]*\/>/), new RegExp(`<enabled xmlns='${SM}' id='[A-Za-z0-9_-]{24}' resume='true' max='300'/>$`))
    alice.write("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq><iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>")
    alice.write(`<r xmlns='${SM}'/>`)
    assert.match(await alice.until(/<a [^>]*\/>/), new RegExp(`<a xmlns='${SM}' h='2'/>$`))
  })

  it('asks for an acknowledgement after the stanzas it sent, one request at a time, so what the client took in is not stored offline again', async (t) => {
    const test = await startTestServer(t, {settings: NO_ARCHIVING, server: {limits: {resumeTimeoutMs: 300}}})
    const {alice} = await phoneWithStreamManagement(t, test, {presence: false})
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'b', presence: false})
    const message = (id: string) => `<message to='alice@localhost/phone' id='${id}'><body>${id}</body></message>`
    const received = (id: string) => `<message to='alice@localhost/phone' id='${id}' from='bob@localhost/b'><body>${id}</body></message>`
    bob.write(message('m1'))
    assert.equal(await alice.until(/<r [^>]*\/>/), `${received('m1')}<r xmlns='${SM}'/>`)
    // A request is outstanding: m2 comes without another.
    bob.write(message('m2'))
    await sync(bob)
    alice.write("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert.equal(await alice.until(/id='p1'[^>]*\/>/), `${received('m2')}<iq type='result' id='p1' to='alice@localhost/phone'/>`)
    // The answer covers m1 only (it was the client's count when the request came): the server asks again, for m2 and the pong.
    alice.write(`<a xmlns='${SM}' h='1'/>`)
    assert.equal(await alice.until(/<r [^>]*\/>/), `<r xmlns='${SM}'/>`)
    alice.write(`<a xmlns='${SM}' h='3'/>`)
    bob.write(message('m3'))
    assert.equal(await alice.until(/<r [^>]*\/>/), `${received('m3')}<r xmlns='${SM}'/>`)
    alice.write(`<a xmlns='${SM}' h='4'/>`)
    await sync(alice)
    alice.socket.destroy()
    for (let waited = 0; test.server.router.all('alice@localhost').length > 0 && waited < 3000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(test.server.router.all('alice@localhost').length, 0)
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(await offlineCount(test), 0, 'every message was acknowledged')
  })

  it('refuses enable before binding, and a count higher than what was sent', async (t) => {
    const test = await startTestServer(t)
    await test.addUser('alice@localhost', 'alice pw')
    const early = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {bind: false})
    early.write(`<enable xmlns='${SM}'/>`)
    assert.equal(await early.until(/<\/failed>/), `<failed xmlns='${SM}'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>`)
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    await enable(alice, false)
    alice.write(`<a xmlns='${SM}' h='7'/>`)
    assert.match(await alice.until(/<\/stream:stream>/), new RegExp(`<failed xmlns='${SM}' h='0'><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed><stream:error><undefined-condition `))
  })

  it('resumes a lost session on a new connection: unacknowledged stanzas are sent again, and contacts never saw it leave', async (t) => {
    const test = await startTestServer(t)
    const {alice, id} = await phoneWithStreamManagement(t, test, {presence: false})
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    bob.write("<message to='alice@localhost/phone' id='m1'><body>one</body></message><message to='alice@localhost/phone' id='m2'><body>two</body></message>")
    await alice.until(/id='m2'[\s\S]*?<\/message>/)
    alice.write(`<a xmlns='${SM}' h='0'/>`)
    alice.socket.destroy()
    for (let waited = 0; test.server.status().connections > 1 + 0 && waited < 2000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
    bob.write("<message to='alice@localhost/phone' id='m3'><body>three</body></message>")
    bob.write("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
    await bob.until(/id='sync'/)

    const again = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {bind: false})
    // Alice's client had taken in m1 only.
    again.write(`<resume xmlns='${SM}' previd='${id}' h='0'/>`)
    const resumed = await again.until(/id='m3'[\s\S]*?<\/message>/)
    assert.match(resumed, new RegExp(`^<resumed xmlns='${SM}' h='0' previd='${id}'/>`))
    assert.deepEqual([...resumed.matchAll(/<message [^>]*id='(m\d)'/g)].map((match) => match[1]), ['m1', 'm2', 'm3'])
    assert.doesNotMatch(bob.received, /type='unavailable'/)
    assert.equal(test.server.router.all('alice@localhost').length, 1)
    again.write("<iq type='get' id='after'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert.match(await again.until(/id='after'[^>]*\/>/), /type='result'/)
  })

  it('stores a session\'s unacknowledged messages once when a resumption acknowledges more than was sent', async (t) => {
    const test = await startTestServer(t, {settings: NO_ARCHIVING, server: {limits: {resumeTimeoutMs: 500}}})
    const {alice, id} = await phoneWithStreamManagement(t, test, {presence: false})
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    bob.write("<message to='alice@localhost/phone' id='m1'><body>one</body></message>")
    await alice.until(/id='m1'[\s\S]*?<\/message>/)
    alice.socket.destroy()
    const again = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {bind: false})
    again.write(`<resume xmlns='${SM}' previd='${id}' h='5'/>`)
    assert.match(await again.until(/<\/stream:stream>/), new RegExp(`^<failed xmlns='${SM}' h='0'><undefined-condition xmlns='${STANZAS}'/></failed><stream:error><undefined-condition `))
    // The session that was not resumed ends at its timeout and stores m1; the connection that failed to resume it stores nothing.
    for (let waited = 0; test.server.router.all('alice@localhost').length > 0 && waited < 3000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(await offlineCount(test), 1)
  })

  it('lets only the same account resume, and only a session that exists', async (t) => {
    const test = await startTestServer(t)
    await test.addUser('alice@localhost', 'alice pw')
    await test.addUser('mallory@localhost', 'mallory pw')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    const id = await enable(alice)
    for (const [user, previd] of [['mallory', id], ['alice', 'no-such-session']]) {
      const client = await loginRaw(t, test.starttlsPort, user, `${user} pw`, {bind: false})
      client.write(`<resume xmlns='${SM}' previd='${previd}' h='0'/>`)
      assert.equal(await client.until(/<\/failed>/), `<failed xmlns='${SM}'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>`)
    }
  })

  it('stores unacknowledged messages offline when the session is not resumed in time, and then says it left', async (t) => {
    const test = await startTestServer(t, {settings: NO_ARCHIVING, server: {limits: {resumeTimeoutMs: 500}}})
    const {alice} = await phoneWithStreamManagement(t, test)
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    bob.write("<message to='alice@localhost/phone' id='m1'><body>lost in transit</body></message>")
    await alice.until(/id='m1'[\s\S]*?<\/message>/)
    alice.socket.destroy()
    await new Promise((resolve) => setTimeout(resolve, 1500))
    assert.equal(await offlineCount(test), 1)
    assert.equal(test.server.router.all('alice@localhost').length, 0)

    const back = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    assert.match(await back.until(/id='m1'[\s\S]*?<\/message>/), /<body>lost in transit<\/body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='[^']+'\/><\/message>$/)
  })

  it('never stores a carbon offline: one its resource did not acknowledge goes with the session', async (t) => {
    const test = await startTestServer(t, {settings: NO_ARCHIVING, server: {limits: {resumeTimeoutMs: 500}}})
    await test.addUser('alice@localhost', 'alice pw')
    await test.addUser('bob@localhost', 'bob pw')
    const phone = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'phone'})
    phone.write("<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
    await phone.until(/id='c1'/)
    await enable(phone)
    const laptop = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'laptop'})
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'desk'})
    bob.write("<message to='alice@localhost/laptop' type='chat' id='m1'><body>to the laptop</body></message>")
    await laptop.until(/id='m1'[\s\S]*?<\/message>/)
    assert.equal(
      await phone.until(/<message from='alice@localhost'[\s\S]*?<\/received><\/message>/).then((text) => text.slice(text.lastIndexOf("<message from='alice@localhost'"))),
      "<message from='alice@localhost' to='alice@localhost/phone' type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='alice@localhost/laptop' type='chat' id='m1' from='bob@localhost/desk'><body>to the laptop</body></message></forwarded></received></message>",
    )
    // The phone never acknowledges the carbon, and does not come back within resume_timeout.
    phone.socket.destroy()
    await new Promise((resolve) => setTimeout(resolve, 1500))
    assert.deepEqual(test.server.router.all('alice@localhost').map((session) => session.fullJid), ['alice@localhost/laptop'])
    assert.equal(await offlineCount(test), 0)
  })

  it('stores unacknowledged messages of a session without resumption when its connection drops', async (t) => {
    const test = await startTestServer(t)
    const {alice} = await phoneWithStreamManagement(t, test, {resume: false})
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw')
    bob.write("<message to='alice@localhost/phone' id='m1'><body>one</body></message><message to='alice@localhost/phone' id='m2'><body>two</body></message>")
    await alice.until(/id='m2'[\s\S]*?<\/message>/)
    alice.write(`<a xmlns='${SM}' h='1'/>`)
    alice.write("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
    await alice.until(/id='sync'/)
    alice.socket.destroy()
    for (let waited = 0; (await offlineCount(test)) === 0 && waited < 3000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(await offlineCount(test), 1, 'only m2, which was not acknowledged')
  })

  it('copies an unacknowledged message to the other resources once, when it came, not again when it is stored offline', async (t) => {
    const test = await startTestServer(t, {settings: NO_ARCHIVING, server: {limits: {resumeTimeoutMs: 300}}})
    await test.addUser('alice@localhost', 'alice pw')
    await test.addUser('bob@localhost', 'bob pw')
    const phone = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'phone'})
    await enable(phone)
    const laptop = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'laptop'})
    laptop.write("<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
    await laptop.until(/id='c1'/)
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'desk'})
    bob.write("<message to='alice@localhost/phone' type='chat' id='m1'><body>to the phone</body></message>")
    await phone.until(/id='m1'[\s\S]*?<\/message>/)
    const carbon =
      "<message from='alice@localhost' to='alice@localhost/laptop' type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='alice@localhost/phone' type='chat' id='m1' from='bob@localhost/desk'><body>to the phone</body></message></forwarded></received></message>"
    assert.equal(await laptop.until(/<\/received><\/message>/).then((text) => text.slice(text.lastIndexOf("<message from='alice@localhost'"))), carbon)
    phone.socket.destroy()
    for (let waited = 0; (await offlineCount(test)) === 0 && waited < 3000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(await offlineCount(test), 1)
    // Nothing more for the laptop before its ping's answer: no second copy, and never a <sent/> one of bob's message.
    laptop.write("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert.doesNotMatch(await laptop.until(/id='p1'/), /<message/)
  })

  it('returns unacknowledged messages to their sender when the account may store no more offline (max_user_offline_messages)', async (t) => {
    const test = await startTestServer(t, {settings: {...NO_ARCHIVING, max_user_offline_messages: 0}, server: {limits: {resumeTimeoutMs: 300}}})
    assert.equal(
      await errorToSenderOfLost(t, test),
      `<message type='error' id='m1' from='alice@localhost/phone' to='bob@localhost/desk'><error type='cancel'><service-unavailable xmlns='${STANZAS}'/></error></message>`,
    )
    assert.equal(await offlineCount(test), 0)
  })

  it('returns unacknowledged messages to their sender when the store fails to keep them, rather than lose them', async (t) => {
    const test = await startTestServer(t, {settings: NO_ARCHIVING, server: {limits: {resumeTimeoutMs: 300}}})
    assert.equal(
      await errorToSenderOfLost(t, test, {beforeLoss: () => refuseOfflineMessages(test)}),
      `<message type='error' id='m1' from='alice@localhost/phone' to='bob@localhost/desk'><error type='cancel'><internal-server-error xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>the message was not delivered, and the server cannot store it now; send it again later</text></error></message>`,
    )
  })

  it('answers an iq request the lost session never acknowledged with an error, so its sender does not wait forever (RFC 6120 §10.5.3.2)', async (t) => {
    const test = await startTestServer(t, {settings: NO_ARCHIVING, server: {limits: {resumeTimeoutMs: 300}}})
    assert.equal(
      await errorToSenderOfLost(t, test, {stanza: "<iq to='alice@localhost/phone' type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>"}),
      `<iq type='error' id='v1' from='alice@localhost/phone' to='bob@localhost/desk'><error type='cancel'><service-unavailable xmlns='${STANZAS}'/></error></iq>`,
    )
  })
})

/** The default modules, with mod_stream_mgmt's options replaced by `options` (archiving off, so only offline storage keeps messages). */
function withStreamMgmt(options: Record<string, unknown>) {
  return {settings: {modules: {...NO_ARCHIVING.modules, mod_stream_mgmt: options}}}
}


describe('mod_stream_mgmt options (ejabberd\'s names)', () => {
  it('resume_timeout: a session whose connection is lost waits that long for its client, then ends', async (t) => {
    const test = await startTestServer(t, withStreamMgmt({resume_timeout: 1}))
    await test.addUser('alice@localhost', 'alice pw')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    alice.write(`<enable xmlns='${SM}' resume='true'/>`)
    const enabled = await alice.until(/<enabled [^>]*\/>/)
    const id = /id='([^']+)'/.exec(enabled)?.[1]
    assert.equal(enabled, `<enabled xmlns='${SM}' id='${id}' resume='true' max='1'/>`)
    alice.socket.destroy()
    await new Promise((resolve) => setTimeout(resolve, 400))
    assert.equal(test.server.router.all('alice@localhost').length, 1, 'still waiting for a resumption')
    for (let waited = 0; test.server.router.all('alice@localhost').length > 0 && waited < 3000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(test.server.router.all('alice@localhost').length, 0, 'gone after resume_timeout')
    const late = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {bind: false})
    late.write(`<resume xmlns='${SM}' previd='${id}' h='0'/>`)
    assert.equal(await late.until(/<\/failed>/), `<failed xmlns='${SM}'><item-not-found xmlns='${STANZAS}'/></failed>`)
  })

  it('max_resume_timeout: a client\'s max is honoured up to it; without one, resume_timeout applies', async (t) => {
    const test = await startTestServer(t, withStreamMgmt({resume_timeout: 60, max_resume_timeout: 120}))
    await test.addUser('alice@localhost', 'alice pw')
    const cases: Array<[string, string]> = [
      [" max='600'", '120'],
      [" max='90'", '90'],
      [" max='10'", '10'],
      ['', '60'],
      [" max='soon'", '60'],
    ]
    for (const [requested, granted] of cases) {
      const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
      alice.write(`<enable xmlns='${SM}' resume='true'${requested}/>`)
      assert.match(await alice.until(/<enabled [^>]*\/>/), new RegExp(`^<enabled xmlns='${SM}' id='[A-Za-z0-9_-]{24}' resume='true' max='${granted}'/>$`), requested)
      alice.end()
    }
  })

  it('resume_timeout 0: stream management without resumption, whatever the client asks', async (t) => {
    const test = await startTestServer(t, withStreamMgmt({resume_timeout: 0}))
    await test.addUser('alice@localhost', 'alice pw')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    alice.write(`<enable xmlns='${SM}' resume='true' max='60'/>`)
    assert.equal(await alice.until(/<enabled [^>]*\/>/), `<enabled xmlns='${SM}'/>`)
  })

  it('max_ack_queue: one stanza more than it left unacknowledged ends the client\'s stream with policy-violation', async (t) => {
    const test = await startTestServer(t, withStreamMgmt({max_ack_queue: 2}))
    const {alice} = await phoneWithStreamManagement(t, test, {presence: false, resume: false})
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'b', presence: false})
    const message = (id: string) => `<message to='alice@localhost/phone' id='${id}'><body>${id}</body></message>`
    bob.write(message('m1') + message('m2'))
    await alice.until(/id='m2'[\s\S]*?<\/message>/)
    bob.write(message('m3'))
    // The <r/> after m1 and m2 went unanswered; m3 is not sent.
    assert.equal(
      await alice.until(/<\/stream:stream>/),
      `<r xmlns='${SM}'/><stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>` +
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>more than 2 stanzas left unacknowledged</text></stream:error></stream:stream>",
    )
  })

  it('max_ack_queue during offline delivery: the stream ends, and each message stays stored once', async (t) => {
    const test = await startTestServer(t, withStreamMgmt({max_ack_queue: 3}))
    await test.addUser('alice@localhost', 'alice pw')
    await test.addUser('bob@localhost', 'bob pw')
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'b', presence: false})
    for (let index = 0; index < 6; index++) bob.write(`<message to='alice@localhost' type='chat' id='m${index}'><body>${index}</body></message>`)
    await sync(bob)
    assert.equal(await offlineCount(test), 6)
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'phone', presence: false})
    await enable(alice, false)
    alice.write('<presence/>')
    // Her client acknowledges nothing: the fourth message is one more than max_ack_queue.
    assert.match(await alice.until(/<\/stream:stream>/), /<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text [^>]*>more than 3 stanzas left unacknowledged<\/text><\/stream:error><\/stream:stream>$/)
    const stored = async () => (await storeQuery<{stanza: string}>(test.config, "SELECT stanza FROM offline_messages WHERE username = 'alice'")).map((row) => /id='(m\d)'/.exec(row.stanza)?.[1]).sort()
    for (let waited = 0; (await stored()).length < 6 && waited < 3000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.deepEqual(await stored(), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5'])
  })

  it('without mod_stream_mgmt, offers no <sm/> and answers <enable/> and <resume/> with feature-not-implemented', async (t) => {
    const {mod_stream_mgmt: _left, ...modules} = DEFAULT_MODULES
    const test = await startTestServer(t, {settings: {modules}})
    await test.addUser('alice@localhost', 'alice pw')
    assert.doesNotMatch(await featuresAfterAuth(t, test.starttlsPort, 'alice', 'alice pw'), /urn:xmpp:sm:3/)
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    alice.write(`<enable xmlns='${SM}' resume='true'/>`)
    assert.equal(await alice.until(/<\/failed>/), `<failed xmlns='${SM}'><feature-not-implemented xmlns='${STANZAS}'/></failed>`)
    const other = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {bind: false})
    other.write(`<resume xmlns='${SM}' previd='abc' h='0'/>`)
    assert.equal(await other.until(/<\/failed>/), `<failed xmlns='${SM}'><feature-not-implemented xmlns='${STANZAS}'/></failed>`)
    // The stream goes on (§6: recoverable).
    alice.write("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert.equal(await alice.until(/id='p'[^>]*\/>/), `<iq type='result' id='p' to='${alice.jid}'/>`)
  })
})
