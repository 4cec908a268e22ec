/**
 * mod_mam (XEP-0313) and its stanza ids (XEP-0359): the exact stanza sent,
 * the exact answer, and the archive ids the messages carried on their way.
 */
import assert from 'node:assert/strict'
import {setTimeout as sleep} from 'node:timers/promises'
import {describe, it} from 'node:test'


import {deleteUser} from '../../../src/accounts/index.js'
import {openAccountStore} from '../../../src/store/index.js'
import {type RawClient, iqReply, loginRaw, nextMessage, startWithUsers, storeQuery} from './helpers.js'

type Context = Parameters<typeof startWithUsers>[0]
type TestServer = Awaited<ReturnType<typeof startWithUsers>>

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'

const login = (t: Context, test: TestServer, user: string, resource: string) => loginRaw(t, test.starttlsPort, user, `${user} pw`, {resource})

/** The archive id a delivered message carries for `by`. */
function stanzaId(message: string, by: string): string {
  const found = new RegExp(`<stanza-id xmlns='urn:xmpp:sid:0' id='(\\d+)' by='${by}'/>`).exec(message)
  assert.ok(found, `no stanza-id by ${by} in ${message}`)
  return found[1]
}

/** What the archive sends for one message: the result with its id, the delay derived from it, the message as archived. */
function result(to: string, queryid: string, id: string, archived: string): string {
  const stamp = new Date(Math.floor(Number(id) / 1000)).toISOString()
  return `<message from='${to.split('/')[0]}' to='${to}'><result xmlns='urn:xmpp:mam:2' queryid='${queryid}' id='${id}'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='${stamp}'/>${archived}</forwarded></result></message>`
}

function fin(to: string, iqId: string, ids: readonly string[], count: number, firstIndex: number, complete: boolean): string {
  const page = ids.length > 0 ? `<first index='${firstIndex}'>${ids[0]}</first><last>${ids.at(-1)}</last>` : ''
  return `<iq type='result' id='${iqId}' to='${to}'><fin xmlns='urn:xmpp:mam:2'${complete ? " complete='true'" : ''}><set xmlns='http://jabber.org/protocol/rsm'>${page}<count>${count}</count></set></fin></iq>`
}

const form = (fields: Record<string, string>) =>
  `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>${Object.entries(fields)
    .map(([name, value]) => `<field var='${name}'><value>${value}</value></field>`)
    .join('')}</x>`

/** Sends the query and returns the result messages, then the iq's answer. */
async function query(client: RawClient, iqId: string, body: string): Promise<{results: string[]; answer: string}> {
  client.write(`<iq type='set' id='${iqId}'><query xmlns='urn:xmpp:mam:2' queryid='q-${iqId}'>${body}</query></iq>`)
  const text = await client.until(new RegExp(`<iq [^>]*id='${iqId}'[^>]*(/>|>[\\s\\S]*?</iq>)`))
  const at = text.lastIndexOf('<iq ')
  const results = text.slice(0, at).match(/<message from=[\s\S]*?<\/forwarded><\/result><\/message>/g) ?? []
  return {results, answer: text.slice(at)}
}

/** `from` sends `body` to bob@localhost as chat; bob receives it; returns the archive id bob's copy carries and the message as archived. */
async function chat(from: RawClient, to: RawClient, id: string, body: string): Promise<{id: string; archived: string}> {
  const toBare = to.jid.split('/')[0]
  from.write(`<message to='${toBare}' type='chat' id='${id}'><body>${body}</body></message>`)
  const received = await nextMessage(to)
  // Archive ids are microseconds, the query form's times milliseconds: each message in a millisecond of its own, so a time filter can tell them apart.
  await sleep(2)
  const archived = `<message xmlns='jabber:client' to='${toBare}' type='chat' id='${id}' from='${from.jid}'><body>${body}</body></message>`
  return {id: stanzaId(received, toBare), archived}
}

describe('message archive (mod_mam, XEP-0313) and stanza ids (XEP-0359)', () => {
  it('announces the archive and stanza ids on the account, and gives the query form (§4.1.5)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice')
    const alice = await login(t, test, 'alice', 'a')
    alice.write("<iq type='get' id='d' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    const info = await iqReply(alice, 'd')
    for (const feature of ['urn:xmpp:mam:2', 'urn:xmpp:mam:2#extended', 'urn:xmpp:sid:0']) assert.match(info, new RegExp(`<feature var='${feature}'/>`))

    alice.write("<iq type='get' id='f'><query xmlns='urn:xmpp:mam:2'/></iq>")
    assert.equal(
      await iqReply(alice, 'f'),
      `<iq type='result' id='f' to='${alice.jid}'><query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='with' type='jid-single'/><field var='start' type='text-single'/><field var='end' type='text-single'/><field var='before-id' type='text-single'/><field var='after-id' type='text-single'/><field var='ids' type='list-multi'/></x></query></iq>`,
    )
  })

  it('gives a message its stanza id live and offline, removes ids clients claim for the accounts, and keeps others\' (XEP-0359 §3, §5)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'bob')
    const alice = await login(t, test, 'alice', 'a')
    const bob = await login(t, test, 'bob', 'b')
    alice.write(
      "<message to='bob@localhost/b' type='chat' id='m1'><body>Hi</body><stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='Bob@localhost'/><stanza-id xmlns='urn:xmpp:sid:0' id='x' by='alice@localhost'/><stanza-id xmlns='urn:xmpp:sid:0' id='kept' by='room@muc.example'/></message>",
    )
    const live = await nextMessage(bob)
    const id = stanzaId(live, 'bob@localhost')
    assert.equal(
      live,
      `<message to='bob@localhost/b' type='chat' id='m1' from='alice@localhost/a'><body>Hi</body><stanza-id xmlns='urn:xmpp:sid:0' id='kept' by='room@muc.example'/><stanza-id xmlns='urn:xmpp:sid:0' id='${id}' by='bob@localhost'/></message>`,
    )

    bob.end()
    await new Promise((resolve) => setTimeout(resolve, 100))
    alice.write("<message to='bob@localhost' type='chat' id='m2'><body>Still there?</body></message>")
    // A round trip to the server: the message is stored by then.
    alice.write("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
    await iqReply(alice, 'p')
    const later = await login(t, test, 'bob', 'c')
    const offline = await nextMessage(later)
    const offlineId = stanzaId(offline, 'bob@localhost')
    assert.ok(BigInt(offlineId) > BigInt(id), `${offlineId} after ${id}`)
    assert.match(offline, new RegExp(`^<message to='bob@localhost' type='chat' id='m2' from='alice@localhost/a'><body>Still there\\?</body><stanza-id xmlns='urn:xmpp:sid:0' id='${offlineId}' by='bob@localhost'/><delay xmlns='urn:xmpp:delay' from='localhost' stamp='[^']+'/></message>$`))
  })

  it('gives the carbon of a message the id the message carries (mod_mam before mod_carbons)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'bob')
    const alice = await login(t, test, 'alice', 'a')
    const other = await login(t, test, 'alice', 'b')
    other.write("<iq type='set' id='c'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
    await iqReply(other, 'c')
    const bob = await login(t, test, 'bob', 'x')
    bob.write("<message to='alice@localhost/a' type='chat' id='m1'><body>Hi</body></message>")
    const id = stanzaId(await nextMessage(alice), 'alice@localhost')
    assert.equal(
      await nextMessage(other),
      `<message from='alice@localhost' to='alice@localhost/b' type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='alice@localhost/a' type='chat' id='m1' from='bob@localhost/x'><body>Hi</body><stanza-id xmlns='urn:xmpp:sid:0' id='${id}' by='alice@localhost'/></message></forwarded></received></message>`,
    )
  })

  it('answers a query by with, by time and by page with exactly the matching messages, in order (§4.1, XEP-0059)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'bob', 'carol')
    const alice = await login(t, test, 'alice', 'a')
    const bob = await login(t, test, 'bob', 'b')
    const carol = await login(t, test, 'carol', 'c')
    const first = await chat(alice, bob, 'm1', 'one')
    const second = await chat(bob, alice, 'm2', 'two')
    await chat(alice, carol, 'm3', 'to carol')
    const third = await chat(alice, bob, 'm4', 'three')

    // Alice's archive with bob: her outgoing messages under her own archive ids, bob's under the id her copy carried.
    const all = await query(alice, 'w', form({with: 'bob@localhost'}))
    assert.equal(all.results.length, 3)
    const ids = all.results.map((message) => /<result xmlns='urn:xmpp:mam:2' queryid='q-w' id='(\d+)'>/.exec(message)![1])
    assert.equal(ids[1], second.id)
    assert.deepEqual(all.results, [result(alice.jid, 'q-w', ids[0], first.archived), result(alice.jid, 'q-w', second.id, second.archived), result(alice.jid, 'q-w', ids[2], third.archived)])
    assert.equal(all.answer, fin(alice.jid, 'w', ids, 3, 0, true))

    // Bob's archive holds what he received under the ids it carried.
    const bobs = await query(bob, 'b1', '')
    const bobIds = bobs.results.map((message) => /id='(\d+)'>/.exec(message)![1])
    assert.deepEqual([bobIds.length, bobIds[0], bobIds[2]], [3, first.id, third.id])

    // Pages of two, forwards, then backwards from the end (<before/> empty: the last page).
    const page1 = await query(alice, 'p1', `${form({with: 'bob@localhost'})}<set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set>`)
    assert.equal(page1.answer, fin(alice.jid, 'p1', ids.slice(0, 2), 3, 0, false))
    const page2 = await query(alice, 'p2', `${form({with: 'bob@localhost'})}<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><after>${ids[1]}</after></set>`)
    assert.equal(page2.answer, fin(alice.jid, 'p2', ids.slice(2), 3, 2, true))
    const last = await query(alice, 'l', `${form({with: 'bob@localhost'})}<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set>`)
    assert.equal(last.answer, fin(alice.jid, 'l', ids.slice(1), 3, 1, false))
    const before = await query(alice, 'b', `${form({with: 'bob@localhost'})}<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before>${ids[1]}</before></set>`)
    assert.equal(before.answer, fin(alice.jid, 'b', ids.slice(0, 1), 3, 0, true))
    // <flip-page/> (#extended): the same page, newest first.
    const flipped = await query(alice, 'fl', `${form({with: 'bob@localhost'})}<set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set><flip-page/>`)
    assert.deepEqual(flipped.results, [result(alice.jid, 'q-fl', second.id, second.archived), result(alice.jid, 'q-fl', ids[0], first.archived)])

    // A full JID matches that resource only: what bob/b sent, not what alice sent to the bare JID. Time bounds are inclusive.
    assert.deepEqual((await query(alice, 'r', form({with: 'bob@localhost/b'}))).results, [result(alice.jid, 'q-r', second.id, second.archived)])
    assert.equal((await query(alice, 'r2', form({with: 'bob@localhost/other'}))).answer, fin(alice.jid, 'r2', [], 0, 0, true))
    const at = (id: string) => new Date(Math.floor(Number(id) / 1000)).toISOString()
    const from = await query(alice, 's', form({with: 'bob@localhost', start: at(ids[2])}))
    assert.deepEqual(from.answer, fin(alice.jid, 's', ids.slice(2), 1, 0, true))
    const until = await query(alice, 'e', form({with: 'bob@localhost', end: new Date(Math.floor(Number(ids[1]) / 1000) - 1).toISOString()}))
    assert.equal(until.answer, fin(alice.jid, 'e', ids.slice(0, 1), 1, 0, true))
    // after-id and before-id (#extended) filter, unlike RSM's after and before, which page.
    const between = await query(alice, 'x', form({with: 'bob@localhost', 'after-id': ids[0], 'before-id': ids[2]}))
    assert.equal(between.answer, fin(alice.jid, 'x', [ids[1]], 1, 0, true))
    // With no filter: carol's message too.
    assert.equal((await query(alice, 'n', '')).results.length, 4)
  })

  it('refuses a page after an id the archive does not hold with item-not-found, and a bad form with bad-request', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'bob', 'carol')
    const alice = await login(t, test, 'alice', 'a')
    const bob = await login(t, test, 'bob', 'b')
    const carol = await login(t, test, 'carol', 'c')
    await chat(alice, bob, 'm0', 'hello')
    const {id} = await chat(bob, carol, 'm1', 'hello')
    // A message between bob and carol is not in alice's archive (one alice sent or received would be, under the same id).
    for (const [iqId, body] of [
      ['u1', "<set xmlns='http://jabber.org/protocol/rsm'><after>12345</after></set>"],
      ['u2', `<set xmlns='http://jabber.org/protocol/rsm'><before>${id}</before></set>`],
      ['u3', form({'after-id': 'nonsense'})],
    ]) {
      const {results, answer} = await query(alice, iqId, body)
      assert.deepEqual(results, [])
      assert.equal(answer, `<iq type='error' id='${iqId}' to='${alice.jid}'><error type='cancel'><item-not-found xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>no message in the archive has that id</text></error></iq>`)
    }

    const bad = await query(alice, 'bad', form({start: 'yesterday'}))
    assert.equal(bad.answer, `<iq type='error' id='bad' to='${alice.jid}'><error type='modify'><bad-request xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>the start field is not an XEP-0082 date and time (2024-05-01T12:00:00Z)</text></error></iq>`)
    const other = await query(alice, 'other', form({colour: 'blue'}))
    assert.match(other.answer, /<bad-request [^>]*\/><text [^>]*>the query form has no field colour; fields: FORM_TYPE, with, start, end, before-id, after-id, ids<\/text>/)
    // Another account's archive is not the sender's to read.
    alice.write("<iq type='set' id='theirs' to='bob@localhost'><query xmlns='urn:xmpp:mam:2'/></iq>")
    assert.match(await iqReply(alice, 'theirs'), /^<iq type='error' id='theirs' from='bob@localhost' to='alice@localhost\/a'><error type='cancel'><service-unavailable /)
  })

  it('answers urn:xmpp:mam:1 queries and preferences in urn:xmpp:mam:1, for clients that know only it', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'bob')
    const alice = await login(t, test, 'alice', 'a')
    const bob = await login(t, test, 'bob', 'b')
    alice.write("<iq type='get' id='d' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    assert.match(await iqReply(alice, 'd'), /<feature var='urn:xmpp:mam:1'\/>/)
    const {id, archived} = await chat(alice, bob, 'm1', 'hello')
    const mam1 = (text: string) => text.replaceAll('urn:xmpp:mam:2', 'urn:xmpp:mam:1')
    bob.write(`<iq type='set' id='q1'><query xmlns='urn:xmpp:mam:1' queryid='q-q1'>${mam1(form({with: 'alice@localhost'}))}</query></iq>`)
    const text = await bob.until(/<iq [^>]*id='q1'[\s\S]*?<\/iq>/)
    assert.equal(text, mam1(result(bob.jid, 'q-q1', id, archived) + fin(bob.jid, 'q1', [id], 1, 0, true)))
    bob.write("<iq type='set' id='p1'><prefs xmlns='urn:xmpp:mam:1' default='roster'><always><jid>carol@localhost</jid></always><never/></prefs></iq>")
    assert.equal(
      await iqReply(bob, 'p1'),
      `<iq type='result' id='p1' to='${bob.jid}'><prefs xmlns='urn:xmpp:mam:1' default='roster'><always><jid>carol@localhost</jid></always><never/></prefs></iq>`,
    )
  })

  it('caps a page at max_page_size', async (t) => {
    const test = await startWithUsers(t, {settings: {modules: {mod_mam: {default: 'always', max_page_size: 2}}}}, 'alice', 'bob')
    const alice = await login(t, test, 'alice', 'a')
    const bob = await login(t, test, 'bob', 'b')
    for (let n = 0; n < 3; n++) await chat(alice, bob, `m${n}`, `n${n}`)
    const {results, answer} = await query(alice, 'big', "<set xmlns='http://jabber.org/protocol/rsm'><max>1000</max></set>")
    assert.equal(results.length, 2)
    assert.match(answer, /^<iq type='result' id='big' to='alice@localhost\/a'><fin xmlns='urn:xmpp:mam:2'><set [^>]*><first index='0'>\d+<\/first><last>\d+<\/last><count>3<\/count><\/set><\/fin><\/iq>$/)
  })

  it('keeps preferences per account and archives as they say: never, always for a JID, roster (§6)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'bob', 'carol')
    const alice = await login(t, test, 'alice', 'a')
    const bob = await login(t, test, 'bob', 'b')
    const carol = await login(t, test, 'carol', 'c')
    alice.write("<iq type='get' id='g'><prefs xmlns='urn:xmpp:mam:2'/></iq>")
    assert.equal(await iqReply(alice, 'g'), `<iq type='result' id='g' to='${alice.jid}'><prefs xmlns='urn:xmpp:mam:2' default='always'><always/><never/></prefs></iq>`)

    // Bob archives nothing: his copy gets no stanza id, and alice's outgoing copy is still archived.
    bob.write("<iq type='set' id='s'><prefs xmlns='urn:xmpp:mam:2' default='never'/></iq>")
    assert.equal(await iqReply(bob, 's'), `<iq type='result' id='s' to='${bob.jid}'><prefs xmlns='urn:xmpp:mam:2' default='never'><always/><never/></prefs></iq>`)
    alice.write("<message to='bob@localhost' type='chat' id='m1'><body>Not kept by bob</body></message>")
    assert.equal(await nextMessage(bob), "<message to='bob@localhost' type='chat' id='m1' from='alice@localhost/a'><body>Not kept by bob</body></message>")
    assert.equal((await query(bob, 'bq', '')).answer, fin(bob.jid, 'bq', [], 0, 0, true))
    assert.equal((await query(alice, 'aq', '')).results.length, 1)

    // Alice: only her roster's contacts, carol always, bob never.
    alice.write("<iq type='set' id='s2'><prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>Carol@localhost</jid></always><never><jid>bob@localhost</jid></never></prefs></iq>")
    assert.equal(
      await iqReply(alice, 's2'),
      `<iq type='result' id='s2' to='${alice.jid}'><prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>carol@localhost</jid></always><never><jid>bob@localhost</jid></never></prefs></iq>`,
    )
    bob.write("<message to='alice@localhost' type='chat' id='m2'><body>Never</body></message>")
    assert.doesNotMatch(await nextMessage(alice), /stanza-id/)
    await chat(carol, alice, 'm3', 'Always')
    assert.equal((await query(alice, 'aq2', '')).results.length, 2)

    alice.write("<iq type='set' id='bad'><prefs xmlns='urn:xmpp:mam:2' default='sometimes'/></iq>")
    assert.equal(await iqReply(alice, 'bad'), `<iq type='error' id='bad' to='${alice.jid}'><error type='modify'><bad-request xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>default must be always, never or roster</text></error></iq>`)
  })

  it('archives neither a message with a no-store hint (XEP-0334) nor one without a body, nor a headline', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'bob')
    const alice = await login(t, test, 'alice', 'a')
    const bob = await login(t, test, 'bob', 'b')
    for (const message of [
      "<message to='bob@localhost' type='chat' id='h1'><body>Secret</body><no-store xmlns='urn:xmpp:hints'/></message>",
      "<message to='bob@localhost' type='chat' id='h2'><body>Passing</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>",
      "<message to='bob@localhost' type='chat' id='h3'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
      "<message to='bob@localhost' type='headline' id='h4'><body>News</body></message>",
    ]) {
      alice.write(message)
      assert.doesNotMatch(await nextMessage(bob), /stanza-id/)
    }

    // <store/> asks for a message without a body to be kept.
    alice.write("<message to='bob@localhost' type='chat' id='h5'><store xmlns='urn:xmpp:hints'/><x xmlns='jabber:x:oob'><url>https://example.org/a.png</url></x></message>")
    stanzaId(await nextMessage(bob), 'bob@localhost')
    assert.equal((await query(alice, 'q', '')).results.length, 1)
    assert.equal((await query(bob, 'q', '')).results.length, 1)
  })

  it('loses the archive with the account (user delete)', async (t) => {
    const test = await startWithUsers(t, {}, 'alice', 'bob')
    const alice = await login(t, test, 'alice', 'a')
    const bob = await login(t, test, 'bob', 'b')
    await chat(alice, bob, 'm1', 'hello')
    await chat(bob, alice, 'm2', 'hi')
    // A query writes what is queued first.
    assert.equal((await query(bob, 'q', '')).results.length, 2)
    const store = await openAccountStore(test.config)
    t.after(() => store.close())
    await deleteUser({config: test.config, store}, 'bob@localhost')
    const count = async (username: string) => (await storeQuery<{n: number}>(test.config, 'SELECT count(*) AS n FROM archive_messages WHERE username = ?', [username]))[0].n
    assert.equal(await count('bob'), 0)
    assert.equal(await count('alice'), 2)
    // Each message was stored once for both archives, and outlives bob's entries in alice's.
    assert.deepEqual(await storeQuery(test.config, 'SELECT refs FROM archive_stanzas'), [{refs: 1}, {refs: 1}])
  })
})
