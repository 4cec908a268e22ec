/**
 * Rooms for users of other servers (XEP-0045 over federation): a peer server
 * connects to the room service's own domain (conference.HOST), as a remote
 * user's server does to deliver a join, and the room's answers come back.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {OCCUPANT_ID, loginRaw, next, roomIdPlaceholders} from '../server/helpers.js'
import {s2sServer} from './servers.js'

const ROOM = 'tea@conference.localhost'
const MUC_USER = 'http://jabber.org/protocol/muc#user'

describe('rooms for users of other servers', () => {
  it('takes a stream to the room service\'s domain: a remote user joins, and talks with a local occupant', async (t) => {
    const s = await s2sServer(t)
    await s.addUser('alice@localhost', 'alice pw')
    const alice = await loginRaw(t, s.starttlsPort, 'alice', 'alice pw', {resource: 'r'})
    alice.write(`<presence to='${ROOM}/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
    await alice.until(/<subject\/><\/message>/)
    // What bob's server does for his join: a stream of its own to conference.localhost (XEP-0288: our answers on it).
    const peer = await s.peer('peer.test', {bidi: true, to: 'conference.localhost'})
    peer.write(`<presence from='bob@peer.test/x' to='${ROOM}/Bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
    // §7.2.3: the occupants, then its own presence (110), then the subject.
    assert.equal(
      roomIdPlaceholders(await peer.until(/<subject\/><\/message>/)),
      `<presence to='bob@peer.test/x' from='${ROOM}/Alice'><x xmlns='${MUC_USER}'><item affiliation='owner' role='moderator'/></x>${OCCUPANT_ID}</presence>` +
        `<presence to='bob@peer.test/x' from='${ROOM}/Bob'><x xmlns='${MUC_USER}'><item affiliation='none' role='participant' jid='bob@peer.test/x'/><status code='110'/></x>${OCCUPANT_ID}</presence>` +
        `<message type='groupchat' id='MID' to='bob@peer.test/x' from='${ROOM}'><subject/></message>`,
    )
    assert.match(roomIdPlaceholders(await next(alice, 'presence', `from='${ROOM}/Bob'`)), /<item affiliation='none' role='participant' jid='bob@peer.test\/x'\/>/)
    peer.write(`<message type='groupchat' from='bob@peer.test/x' to='${ROOM}' id='g1'><body>hello from afar</body></message>`)
    assert.equal(
      roomIdPlaceholders(await next(alice, 'message', "id='g1'")),
      `<message type='groupchat' id='g1' to='alice@localhost/r' from='${ROOM}/Bob'><body>hello from afar</body>${OCCUPANT_ID}<stanza-id xmlns='urn:xmpp:sid:0' id='SID' by='${ROOM}'/></message>`,
    )
    assert.match(roomIdPlaceholders(await next(peer, 'message', "id='g1'")), new RegExp(`^<message type='groupchat' id='g1' to='bob@peer.test/x' from='${ROOM}/Bob'><body>hello from afar</body>`))
  })
})
