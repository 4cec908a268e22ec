/**
 * mod_vcard (XEP-0054 vcard-temp) and mod_private (XEP-0049 private XML
 * storage, with XEP-0048 bookmarks in it): each test sends a stanza and
 * checks the exact answer.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'


import {deleteUser} from '../../../src/accounts/index.js'
import {openAccountStore} from '../../../src/store/index.js'
import {type RawClient, type TestServer, iqReply, loginRaw, startWithUsers as withUsers, storeQuery} from './helpers.js'

/** Sends `stanza` and returns the answer to its id. */
async function ask(client: RawClient, stanza: string): Promise<string> {
  client.write(stanza)
  return iqReply(client, /id='([^']+)'/.exec(stanza)![1])
}

const error = (id: string, from: string | undefined, to: string, type: string, condition: string, text?: string) =>
  `<iq type='error' id='${id}'${from ? ` from='${from}'` : ''} to='${to}'><error type='${type}'><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
  `${text ? `<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>${text}</text>` : ''}</error></iq>`

const VCARD = "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>alice</NICKNAME><PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard>"
const BOOKMARKS =
  "<storage xmlns='storage:bookmarks'><conference jid='tea@conference.localhost' autojoin='true' name='Tea party'><nick>alice</nick><password>secret</password></conference>" +
  "<url name='Wonderland' url='https://wonderland.example/'/></storage>"

async function rows(test: TestServer, table: 'vcards' | 'private_storage', username: string): Promise<number> {
  return (await storeQuery<{n: number}>(test.config, `SELECT count(*) AS n FROM ${table} WHERE host = 'localhost' AND username = ?`, [username]))[0].n
}

describe('vCards (mod_vcard, XEP-0054)', () => {
  it('answers an empty vCard to its owner when none is stored, stores a set and gives it back (§3.1, §3.2)', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    assert.equal(await ask(alice, "<iq type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>"), `<iq type='result' id='v1' to='${alice.jid}'><vCard xmlns='vcard-temp'/></iq>`)
    assert.equal(await ask(alice, `<iq type='set' id='v2'>${VCARD}</iq>`), `<iq type='result' id='v2' to='${alice.jid}'/>`)
    assert.equal(await ask(alice, "<iq type='get' id='v3'><vCard xmlns='vcard-temp'/></iq>"), `<iq type='result' id='v3' to='${alice.jid}'>${VCARD}</iq>`)
    // Addressed to the own bare JID, as some clients do.
    assert.equal(await ask(alice, "<iq type='get' id='v4' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>"), `<iq type='result' id='v4' from='alice@localhost' to='${alice.jid}'>${VCARD}</iq>`)
  })

  it('gives anyone an account\'s vCard, and the same service-unavailable for an account without one and one that does not exist (§3.3)', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob', 'carol')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    await ask(alice, `<iq type='set' id='v1'>${VCARD}</iq>`)
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {presence: false})
    assert.equal(await ask(bob, "<iq type='get' id='v2' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>"), `<iq type='result' id='v2' from='alice@localhost' to='${bob.jid}'>${VCARD}</iq>`)
    for (const [id, to] of [['none', 'carol@localhost'], ['absent', 'nobody@localhost']]) {
      assert.equal(await ask(bob, `<iq type='get' id='${id}' to='${to}'><vCard xmlns='vcard-temp'/></iq>`), error(id, to, bob.jid, 'cancel', 'service-unavailable'))
    }
  })

  it('refuses a set to another account, existing or not, and leaves its vCard alone (§3.2)', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    for (const [id, to] of [['s1', 'bob@localhost'], ['s2', 'nobody@localhost']]) {
      assert.equal(await ask(alice, `<iq type='set' id='${id}' to='${to}'>${VCARD}</iq>`), error(id, to, alice.jid, 'auth', 'forbidden'))
    }

    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {presence: false})
    assert.equal(await ask(bob, "<iq type='get' id='g'><vCard xmlns='vcard-temp'/></iq>"), `<iq type='result' id='g' to='${bob.jid}'><vCard xmlns='vcard-temp'/></iq>`)
  })

  it('refuses a vCard larger than max_size and keeps the one stored; an empty set removes it', async (t) => {
    const test = await withUsers(t, {settings: {modules: {mod_vcard: {max_size: 1024}}}}, 'alice', 'bob')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    await ask(alice, `<iq type='set' id='v1' to='alice@localhost'>${VCARD}</iq>`)
    const large = `<vCard xmlns='vcard-temp'><DESC>${'x'.repeat(1000)}</DESC></vCard>`
    assert.equal(await ask(alice, `<iq type='set' id='big'>${large}</iq>`), error('big', undefined, alice.jid, 'modify', 'not-acceptable', 'the vCard is larger than 1024 bytes'))
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {presence: false})
    assert.equal(await ask(bob, "<iq type='get' id='kept' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>"), `<iq type='result' id='kept' from='alice@localhost' to='${bob.jid}'>${VCARD}</iq>`)
    assert.equal(await ask(alice, "<iq type='set' id='clear'><vCard xmlns='vcard-temp'/></iq>"), `<iq type='result' id='clear' to='${alice.jid}'/>`)
    assert.equal(await ask(bob, "<iq type='get' id='gone' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>"), error('gone', 'alice@localhost', bob.jid, 'cancel', 'service-unavailable'))
    assert.equal(await rows(test, 'vcards', 'alice'), 0)
  })

  it('advertises vcard-temp on the server and on the account (§4)', async (t) => {
    const test = await withUsers(t, {settings: {modules: {mod_disco: {}, mod_vcard: {}}}}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    const features = "<feature var='http://jabber.org/protocol/disco#info'/><feature var='http://jabber.org/protocol/disco#items'/><feature var='vcard-temp'/>"
    assert.equal(
      await ask(alice, "<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"),
      `<iq type='result' id='d1' from='localhost' to='${alice.jid}'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' type='im' name='xmppctl'/>${features}</query></iq>`,
    )
    assert.equal(
      await ask(alice, "<iq type='get' id='d2'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"),
      `<iq type='result' id='d2' to='${alice.jid}'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='account' type='registered'/>${features}</query></iq>`,
    )
  })
})

describe('private XML storage (mod_private, XEP-0049)', () => {
  it('answers an item never stored as asked, stores a set and gives it back', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    const get = "<iq type='get' id='p1'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>"
    assert.equal(await ask(alice, get), `<iq type='result' id='p1' to='${alice.jid}'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>`)
    const prefs = "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>"
    assert.equal(await ask(alice, `<iq type='set' id='p2'><query xmlns='jabber:iq:private'>${prefs}</query></iq>`), `<iq type='result' id='p2' to='${alice.jid}'/>`)
    assert.equal(await ask(alice, get.replace('p1', 'p3')), `<iq type='result' id='p3' to='${alice.jid}'><query xmlns='jabber:iq:private'>${prefs}</query></iq>`)
    // Another element name in the same namespace is another item.
    assert.equal(
      await ask(alice, "<iq type='get' id='p4'><query xmlns='jabber:iq:private'><other xmlns='exodus:prefs'/></query></iq>"),
      `<iq type='result' id='p4' to='${alice.jid}'><query xmlns='jabber:iq:private'><other xmlns='exodus:prefs'/></query></iq>`,
    )
  })

  it('gives XEP-0048 bookmarks back exactly as stored, and forgets them when set empty', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    assert.equal(await ask(alice, `<iq type='set' id='b1'><query xmlns='jabber:iq:private'>${BOOKMARKS}</query></iq>`), `<iq type='result' id='b1' to='${alice.jid}'/>`)
    const get = "<iq type='get' id='b2'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>"
    assert.equal(await ask(alice, get), `<iq type='result' id='b2' to='${alice.jid}'><query xmlns='jabber:iq:private'>${BOOKMARKS}</query></iq>`)
    await ask(alice, "<iq type='set' id='b3'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>")
    assert.equal(await ask(alice, get.replace('b2', 'b4')), `<iq type='result' id='b4' to='${alice.jid}'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`)
    assert.equal(await rows(test, 'private_storage', 'alice'), 0)
  })

  it('keeps a prefix declared on the query with the item that uses it', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    await ask(alice, "<iq type='set' id='x1'><query xmlns='jabber:iq:private' xmlns:g='urn:example:g'><prefs xmlns='urn:example:prefs' g:level='2'/></query></iq>")
    assert.equal(
      await ask(alice, "<iq type='get' id='x2'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query></iq>"),
      `<iq type='result' id='x2' to='${alice.jid}'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs' g:level='2' xmlns:g='urn:example:g'/></query></iq>`,
    )
  })

  it('lets no other account read or write it, existing or not', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    await ask(alice, `<iq type='set' id='b1'><query xmlns='jabber:iq:private'>${BOOKMARKS}</query></iq>`)
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {presence: false})
    for (const [id, type, to] of [['g1', 'get', 'alice@localhost'], ['s1', 'set', 'alice@localhost'], ['g2', 'get', 'nobody@localhost']]) {
      const payload = type === 'get' ? "<storage xmlns='storage:bookmarks'/>" : "<storage xmlns='storage:bookmarks'><url name='x' url='https://x.example/'/></storage>"
      assert.equal(await ask(bob, `<iq type='${type}' id='${id}' to='${to}'><query xmlns='jabber:iq:private'>${payload}</query></iq>`), error(id, to, bob.jid, 'auth', 'forbidden'))
    }

    assert.equal(
      await ask(alice, "<iq type='get' id='b2'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>"),
      `<iq type='result' id='b2' to='${alice.jid}'><query xmlns='jabber:iq:private'>${BOOKMARKS}</query></iq>`,
    )
  })

  it('refuses a query without a child, a child without a namespace of its own, and reserved namespaces (§2.3)', async (t) => {
    const test = await withUsers(t, {}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    for (const [id, query, condition, text] of [
      ['e1', "<query xmlns='jabber:iq:private'/>", 'bad-request', 'the query needs a child element'],
      ['e2', "<query xmlns='jabber:iq:private'><prefs/></query>", 'bad-request', 'each child needs a namespace of its own'],
      ['e3', "<query xmlns='jabber:iq:private'><vCard xmlns='vcard-temp'><FN>Hamlet</FN></vCard></query>", 'not-acceptable', 'the namespace vcard-temp is reserved'],
      ['e4', "<query xmlns='jabber:iq:private'><query xmlns='jabber:iq:roster'/></query>", 'not-acceptable', 'the namespace jabber:iq:roster is reserved'],
      ['e5', "<query xmlns='jabber:iq:private'><x xmlns='http://jabber.org/protocol/muc'/></query>", 'not-acceptable', 'the namespace http://jabber.org/protocol/muc is reserved'],
      ['e6', "<query xmlns='jabber:iq:private'><a xmlns='urn:a'>1</a><a xmlns='urn:a'>2</a></query>", 'bad-request', 'two items named a in urn:a'],
    ]) {
      assert.equal(await ask(alice, `<iq type='set' id='${id}'>${query}</iq>`), error(id, undefined, alice.jid, 'modify', condition, text))
    }

    assert.equal(
      await ask(alice, "<iq type='get' id='e7'><query xmlns='jabber:iq:private'><vCard xmlns='vcard-temp'/></query></iq>"),
      error('e7', undefined, alice.jid, 'modify', 'not-acceptable', 'the namespace vcard-temp is reserved'),
    )
    assert.equal(await rows(test, 'private_storage', 'alice'), 0)
  })

  it('refuses an item larger than max_size, and a set that would pass max_total_size, storing nothing of it', async (t) => {
    const test = await withUsers(t, {settings: {modules: {mod_private: {max_size: 2048, max_total_size: 4096}}}}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    const item = (name: string, bytes: number) => `<${name} xmlns='urn:example'>${'x'.repeat(bytes)}</${name}>`
    assert.equal(
      await ask(alice, `<iq type='set' id='big'><query xmlns='jabber:iq:private'>${item('a', 2100)}</query></iq>`),
      error('big', undefined, alice.jid, 'modify', 'not-acceptable', 'the item a in urn:example is larger than 2048 bytes'),
    )
    for (const name of ['a', 'b', 'c']) assert.equal(await ask(alice, `<iq type='set' id='${name}'><query xmlns='jabber:iq:private'>${item(name, 1200)}</query></iq>`), `<iq type='result' id='${name}' to='${alice.jid}'/>`)
    // a grows by 300 bytes and d is new: past 4096 together, so a stays as it was.
    assert.equal(
      await ask(alice, `<iq type='set' id='full'><query xmlns='jabber:iq:private'>${item('a', 1500)}${item('d', 1200)}</query></iq>`),
      error('full', undefined, alice.jid, 'wait', 'resource-constraint', 'private storage is limited to 4096 bytes per account'),
    )
    assert.equal(
      await ask(alice, "<iq type='get' id='g'><query xmlns='jabber:iq:private'><a xmlns='urn:example'/><d xmlns='urn:example'/></query></iq>"),
      `<iq type='result' id='g' to='${alice.jid}'><query xmlns='jabber:iq:private'>${item('a', 1200)}<d xmlns='urn:example'/></query></iq>`,
    )
    // Removing an item (an empty set) frees its room.
    assert.equal(await ask(alice, "<iq type='set' id='rm'><query xmlns='jabber:iq:private'><b xmlns='urn:example'/></query></iq>"), `<iq type='result' id='rm' to='${alice.jid}'/>`)
    assert.equal(await ask(alice, `<iq type='set' id='d'><query xmlns='jabber:iq:private'>${item('d', 1200)}</query></iq>`), `<iq type='result' id='d' to='${alice.jid}'/>`)
  })

  it('is advertised on the server', async (t) => {
    const test = await withUsers(t, {settings: {modules: {mod_disco: {}, mod_private: {}}}}, 'alice')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    assert.equal(
      await ask(alice, "<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"),
      `<iq type='result' id='d1' from='localhost' to='${alice.jid}'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' type='im' name='xmppctl'/>` +
        "<feature var='http://jabber.org/protocol/disco#info'/><feature var='http://jabber.org/protocol/disco#items'/><feature var='jabber:iq:private'/></query></iq>",
    )
  })
})

describe('user delete', () => {
  it('removes the account\'s vCard and private XML, so an account made again under the name has none', async (t) => {
    const test = await withUsers(t, {}, 'alice', 'bob')
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    await ask(alice, `<iq type='set' id='v'>${VCARD}</iq>`)
    await ask(alice, `<iq type='set' id='p'><query xmlns='jabber:iq:private'>${BOOKMARKS}</query></iq>`)
    alice.end()
    assert.deepEqual([await rows(test, 'vcards', 'alice'), await rows(test, 'private_storage', 'alice')], [1, 1])
    const store = await openAccountStore(test.config)
    t.after(() => store.close())
    await deleteUser({config: test.config, store}, 'alice@localhost')
    assert.deepEqual([await rows(test, 'vcards', 'alice'), await rows(test, 'private_storage', 'alice')], [0, 0])
    await test.addUser('alice@localhost', 'new pw')
    const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {presence: false})
    assert.equal(await ask(bob, "<iq type='get' id='g' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>"), error('g', 'alice@localhost', bob.jid, 'cancel', 'service-unavailable'))
    const again = await loginRaw(t, test.starttlsPort, 'alice', 'new pw', {presence: false})
    assert.equal(
      await ask(again, "<iq type='get' id='b'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>"),
      `<iq type='result' id='b' to='${again.jid}'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
    )
  })
})
