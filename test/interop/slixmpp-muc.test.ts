/**
 * slixmpp's XEP-0045 plugin (Debian python3-slixmpp) against mod_muc: two
 * real clients join a room, a late joiner gets history, each sees the
 * other's messages, and the owner kicks the other.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {startTestServer} from '../integration/server/helpers.js'
import {runSlixmpp, slixmppAvailable} from './clients.js'

describe('slixmpp\'s group chat plugin against the server', {skip: slixmppAvailable || process.env.CI === 'true' ? false : 'python3-slixmpp is not installed'}, () => {
  it('joins, gets history, talks both ways and is kicked with 307', async (t) => {
    const server = await startTestServer(t, {settings: {disable_sasl_scram_downgrade_protection: true}})
    await server.addUser('alice@localhost', 'alice pw')
    await server.addUser('bob@localhost', 'bob pw')
    const events = await runSlixmpp(
      {alice: 'alice@localhost/slix', password_alice: 'alice pw', bob: 'bob@localhost/slix', password_bob: 'bob pw', port: server.starttlsPort, room: 'tea@conference.localhost', timeout: 30},
      'muc.py',
    )
    assert.deepEqual(events, [
      // slixmpp counts its own presence among the occupants.
      {event: 'joined', who: 'alice', codes: [110, 201], affiliation: 'owner', occupants: 1},
      {event: 'joined', who: 'bob', codes: [110], affiliation: 'none', occupants: ['Alice', 'Bob'], history: ['hello from alice']},
      {event: 'heard', who: 'alice', frm: 'tea@conference.localhost/Bob', body: 'hi alice'},
      {event: 'heard', who: 'bob', frm: 'tea@conference.localhost/Alice', body: 'welcome bob'},
      {event: 'kicked', codes: [110, 307], reason: 'bye'},
      {event: 'roster', who: 'alice', nicks: ['Alice']},
    ])
  })
})
