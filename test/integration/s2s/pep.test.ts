/**
 * PEP for users of other servers (XEP-0163 over federation): a remote user
 * reads a local account's nodes within their access model, as its client does
 * for an OMEMO bundle or an avatar, over an authenticated s2s stream.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {iqReply, loginRaw} from '../server/helpers.js'
import {s2sServer} from './servers.js'

const PUBSUB = 'http://jabber.org/protocol/pubsub'
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
const NEWS = "<news xmlns='urn:example:news'>first</news>"

describe('PEP for users of other servers', () => {
  it('answers a remote user\'s items query by the node\'s access model (XEP-0060 §6.5, §6.5.3)', async (t) => {
    const s = await s2sServer(t)
    await s.addUser('alice@localhost', 'alice pw')
    const alice = await loginRaw(t, s.starttlsPort, 'alice', 'alice pw', {resource: 'a'})
    const publish = async (id: string, node: string, access: string) => {
      alice.write(
        `<iq type='set' id='${id}'><pubsub xmlns='${PUBSUB}'><publish node='${node}'><item id='n1'>${NEWS}</item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${PUBSUB}#publish-options</value></field><field var='pubsub#access_model'><value>${access}</value></field></x></publish-options></pubsub></iq>`,
      )
      assert.match(await iqReply(alice, id), /^<iq type='result'/)
    }
    await publish('p1', 'urn:example:open', 'open')
    await publish('p2', 'urn:example:contacts', 'presence')
    // Bidirectional (XEP-0288): the answers come back on the peer's own stream.
    const peer = await s.peer('peer.test', {bidi: true})
    peer.write(`<iq type='get' id='r1' from='bob@peer.test/x' to='alice@localhost'><pubsub xmlns='${PUBSUB}'><items node='urn:example:open'/></pubsub></iq>`)
    assert.equal(await iqReply(peer, 'r1'), `<iq type='result' id='r1' from='alice@localhost' to='bob@peer.test/x'><pubsub xmlns='${PUBSUB}'><items node='urn:example:open'><item id='n1'>${NEWS}</item></items></pubsub></iq>`)
    // Bob is no contact of Alice's: a presence node stays closed to him.
    peer.write(`<iq type='get' id='r2' from='bob@peer.test/x' to='alice@localhost'><pubsub xmlns='${PUBSUB}'><items node='urn:example:contacts'/></pubsub></iq>`)
    assert.equal(
      await iqReply(peer, 'r2'),
      `<iq type='error' id='r2' from='alice@localhost' to='bob@peer.test/x'><error type='auth'><not-authorized xmlns='${STANZAS}'/><presence-subscription-required xmlns='${PUBSUB}#errors'/></error></iq>`,
    )
    // Publishing stays the owner's.
    peer.write(`<iq type='set' id='r3' from='bob@peer.test/x' to='alice@localhost'><pubsub xmlns='${PUBSUB}'><publish node='urn:example:open'><item id='n2'>${NEWS}</item></publish></pubsub></iq>`)
    assert.equal(await iqReply(peer, 'r3'), `<iq type='error' id='r3' from='alice@localhost' to='bob@peer.test/x'><error type='auth'><forbidden xmlns='${STANZAS}'/></error></iq>`)
  })
})
