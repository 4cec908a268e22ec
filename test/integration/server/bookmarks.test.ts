/**
 * Bookmarks compatibility (XEP-0402 §5.3): a legacy client's XEP-0048
 * bookmarks in private XML storage and a new client's PEP bookmarks are
 * the same rooms. Each test gives the stanza sent and the exact answer.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {openAccountDataStore} from '../../../src/store/index.js'
import {iqReply, loginRaw, startWithUsers} from './helpers.js'

type Test = Parameters<typeof startWithUsers>[0]

const PUBSUB = 'http://jabber.org/protocol/pubsub'
const BOOKMARKS = 'urn:xmpp:bookmarks:1'
const LEGACY = 'storage:bookmarks'

async function alice(t: Test) {
  const test = await startWithUsers(t, {}, 'alice')
  const login = (resource: string) => loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource, presence: false})
  return {test, login}
}

describe('bookmarks compatibility (XEP-0402 §5.3)', () => {
  it('announces urn:xmpp:bookmarks:1#compat on the account', async (t) => {
    const {login} = await alice(t)
    const client = await login('new')
    client.write("<iq type='get' id='d1' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    assert.match(await iqReply(client, 'd1'), new RegExp(`<feature var='${BOOKMARKS}#compat'/>`))
  })

  it('gives a new client the rooms a legacy client stored, one item per room, and a legacy client what a new one published, keeping the rest as written', async (t) => {
    const {login} = await alice(t)
    const legacy = await login('legacy')
    const modern = await login('new')
    legacy.write(
      `<iq type='set' id='p1'><query xmlns='jabber:iq:private'><storage xmlns='${LEGACY}'>` +
        "<conference jid='tea@conference.localhost' name='Tea' autojoin='1'><nick>al</nick><password>s3cret</password><minimize xmlns='urn:example:client'/></conference>" +
        "<url name='Site' url='https://example.org/'/>" +
        '</storage></query></iq>',
    )
    assert.equal(await iqReply(legacy, 'p1'), `<iq type='result' id='p1' to='${legacy.jid}'/>`)

    modern.write(`<iq type='get' id='i1'><pubsub xmlns='${PUBSUB}'><items node='${BOOKMARKS}'/></pubsub></iq>`)
    assert.equal(
      await iqReply(modern, 'i1'),
      `<iq type='result' id='i1' to='${modern.jid}'><pubsub xmlns='${PUBSUB}'><items node='${BOOKMARKS}'><item id='tea@conference.localhost'>` +
        `<conference xmlns='${BOOKMARKS}' name='Tea' autojoin='true'><nick>al</nick><password>s3cret</password><extensions><minimize xmlns='urn:example:client'/></extensions></conference>` +
        '</item></items></pubsub></iq>',
    )

    modern.write(
      `<iq type='set' id='i2'><pubsub xmlns='${PUBSUB}'><publish node='${BOOKMARKS}'><item id='cake@conference.localhost'><conference xmlns='${BOOKMARKS}' name='Cake'><nick>alice</nick></conference></item></publish></pubsub></iq>`,
    )
    assert.match(await iqReply(modern, 'i2'), /^<iq type='result' id='i2'/)

    legacy.write(`<iq type='get' id='p2'><query xmlns='jabber:iq:private'><storage xmlns='${LEGACY}'/></query></iq>`)
    assert.equal(
      await iqReply(legacy, 'p2'),
      `<iq type='result' id='p2' to='${legacy.jid}'><query xmlns='jabber:iq:private'><storage xmlns='${LEGACY}'>` +
        "<conference jid='tea@conference.localhost' name='Tea' autojoin='1'><nick>al</nick><password>s3cret</password><minimize xmlns='urn:example:client'/></conference>" +
        "<url name='Site' url='https://example.org/'/>" +
        "<conference jid='cake@conference.localhost' name='Cake' autojoin='false'><nick>alice</nick></conference>" +
        '</storage></query></iq>',
    )
  })

  it('retracts the rooms a legacy client leaves out of its next list', async (t) => {
    const {login} = await alice(t)
    const legacy = await login('legacy')
    const storage = (rooms: string[]) => `<storage xmlns='${LEGACY}'>${rooms.map((room) => `<conference jid='${room}@conference.localhost' autojoin='false'/>`).join('')}</storage>`
    legacy.write(`<iq type='set' id='p1'><query xmlns='jabber:iq:private'>${storage(['tea', 'cake'])}</query></iq>`)
    await iqReply(legacy, 'p1')
    legacy.write(`<iq type='set' id='p2'><query xmlns='jabber:iq:private'>${storage(['cake'])}</query></iq>`)
    await iqReply(legacy, 'p2')
    legacy.write(`<iq type='get' id='i1'><pubsub xmlns='${PUBSUB}'><items node='${BOOKMARKS}'/></pubsub></iq>`)
    assert.equal(
      await iqReply(legacy, 'i1'),
      `<iq type='result' id='i1' to='${legacy.jid}'><pubsub xmlns='${PUBSUB}'><items node='${BOOKMARKS}'><item id='cake@conference.localhost'><conference xmlns='${BOOKMARKS}'/></item></items></pubsub></iq>`,
    )
  })

  it('moves legacy bookmarks stored before the node existed to it when a new client first publishes, losing none', async (t) => {
    const {test, login} = await alice(t)
    // As an import or an older version of the server left them: in private storage only.
    const store = await openAccountDataStore(test.config)
    t.after(() => store.close())
    await store.putPrivateItems('localhost', 'alice', [{ns: LEGACY, name: 'storage', xml: `<storage xmlns='${LEGACY}'><conference jid='old@conference.localhost' name='Old'/></storage>`}], 1_000_000)
    const modern = await login('new')
    modern.write(`<iq type='set' id='i1'><pubsub xmlns='${PUBSUB}'><publish node='${BOOKMARKS}'><item id='new@conference.localhost'><conference xmlns='${BOOKMARKS}'/></item></publish></pubsub></iq>`)
    assert.match(await iqReply(modern, 'i1'), /^<iq type='result' id='i1'/)
    modern.write(`<iq type='get' id='i2'><pubsub xmlns='${PUBSUB}'><items node='${BOOKMARKS}'/></pubsub></iq>`)
    assert.equal(
      await iqReply(modern, 'i2'),
      `<iq type='result' id='i2' to='${modern.jid}'><pubsub xmlns='${PUBSUB}'><items node='${BOOKMARKS}'>` +
        `<item id='old@conference.localhost'><conference xmlns='${BOOKMARKS}' name='Old'/></item><item id='new@conference.localhost'><conference xmlns='${BOOKMARKS}'/></item>` +
        '</items></pubsub></iq>',
    )
  })
})
