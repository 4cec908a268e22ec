/**
 * XEP-0191 blocking against users of other servers: what a blocked remote
 * user sends is refused as it is for a local one (§3.3), and the refusal
 * goes back over federation, so that its client does not wait forever.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {iqReply, loginRaw} from '../server/helpers.js'
import {s2sServer} from './servers.js'

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'

describe('blocking users of other servers (XEP-0191 §3.3)', () => {
  it('answers a blocked remote user\'s iq request and message with service-unavailable, over the peer\'s stream', async (t) => {
    const s = await s2sServer(t)
    await s.addUser('alice@localhost', 'alice pw')
    const alice = await loginRaw(t, s.starttlsPort, 'alice', 'alice pw', {resource: 'a'})
    alice.write("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='bob@peer.test'/></block></iq>")
    assert.match(await iqReply(alice, 'b1'), /^<iq type='result'/)
    const peer = await s.peer('peer.test', {bidi: true})
    peer.write("<iq type='get' id='v1' from='bob@peer.test/x' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>")
    assert.equal(await iqReply(peer, 'v1'), `<iq type='error' id='v1' from='alice@localhost' to='bob@peer.test/x'><error type='cancel'><service-unavailable xmlns='${STANZAS}'/></error></iq>`)
    peer.write("<iq type='get' id='v2' from='bob@peer.test/x' to='alice@localhost/a'><query xmlns='jabber:iq:version'/></iq>")
    assert.equal(await iqReply(peer, 'v2'), `<iq type='error' id='v2' from='alice@localhost/a' to='bob@peer.test/x'><error type='cancel'><service-unavailable xmlns='${STANZAS}'/></error></iq>`)
    peer.write("<message type='chat' id='m1' from='bob@peer.test/x' to='alice@localhost'><body>let me in</body></message>")
    const bounced = await peer.until(/<message [^>]*id='m1'[\s\S]*?<\/message>/)
    assert.equal(
      bounced.slice(bounced.lastIndexOf('<message ')),
      `<message type='error' id='m1' from='alice@localhost' to='bob@peer.test/x'><error type='cancel'><service-unavailable xmlns='${STANZAS}'/></error></message>`,
    )
    // Nothing of it reached alice.
    alice.write("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert.doesNotMatch(await alice.until(/id='p1'/), /let me in|vcard-temp|iq:version/)
  })
})
