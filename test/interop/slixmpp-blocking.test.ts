/**
 * slixmpp's XEP-0191 plugin (Debian python3-slixmpp) against mod_blocking:
 * it reads our blocklist, pushes and blocked-message errors, and what it
 * blocks holds on the server after it leaves.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {loginRaw, startTestServer} from '../integration/server/helpers.js'
import {runSlixmpp, slixmppAvailable} from './clients.js'

describe('slixmpp\'s blocking command against the server', {skip: slixmppAvailable ? false : 'python3-slixmpp is not installed'}, () => {
  it('gets the list, blocks with a push, sees <blocked/> on its message, unblocks, and the block holds after it left', async (t) => {
    const server = await startTestServer(t, {settings: {disable_sasl_scram_downgrade_protection: true}})
    await server.addUser('alice@localhost', 'alice pw')
    await server.addUser('bob@localhost', 'bob pw')
    const bob = await loginRaw(t, server.starttlsPort, 'bob', 'bob pw', {resource: 'b', presence: false})
    const events = await runSlixmpp(
      {jid: 'alice@localhost/slix', password: 'alice pw', mechanism: 'SCRAM-SHA-256', port: server.starttlsPort, block: ['bob@localhost', 'spammer.example'], message_to: 'bob@localhost', unblock: ['spammer.example']},
      'blocking.py',
    )
    assert.deepEqual(events, [
      {event: 'blocklist', items: []},
      {event: 'blocked'},
      {event: 'push', action: 'block', items: ['bob@localhost', 'spammer.example']},
      {event: 'message_error', frm: 'bob@localhost', condition: 'not-acceptable', blocked: true},
      {event: 'unblocked'},
      {event: 'push', action: 'unblock', items: ['spammer.example']},
      {event: 'blocklist', items: ['bob@localhost']},
    ])
    // alice is offline: bob's message is refused as blocked, not stored for her.
    bob.write("<message to='alice@localhost' type='chat' id='m1'><body>hi</body></message>")
    assert.equal(
      await bob.until(/<message [^>]*id='m1'[\s\S]*?<\/message>/),
      "<message type='error' id='m1' from='alice@localhost' to='bob@localhost/b'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
    )
  })
})
