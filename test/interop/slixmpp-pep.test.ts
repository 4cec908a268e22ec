/**
 * slixmpp's XEP-0163 and XEP-0172 plugins (Debian python3-slixmpp) against
 * mod_pep: a nickname one user publishes reaches a contact whose client
 * asks for it in its entity capabilities, and not a stranger whose client
 * asks for it just the same.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {loginRaw, startWithUsers, subscribe} from '../integration/server/helpers.js'
import {runSlixmpp, slixmppAvailable} from './clients.js'

// Under CI a missing slixmpp fails the tests (a .ci/run that forgot the package must not pass quietly).
describe('slixmpp\'s personal eventing against the server', {skip: slixmppAvailable || process.env.CI === 'true' ? false : 'python3-slixmpp is not installed'}, () => {
  it('a published nickname reaches the subscribed contact and not the unsubscribed one', async (t) => {
    const server = await startWithUsers(t, {settings: {disable_sasl_scram_downgrade_protection: true}}, 'alice', 'bob', 'carol')
    // bob subscribes to alice's presence beforehand; carol does not.
    const alice = await loginRaw(t, server.starttlsPort, 'alice', 'alice pw', {resource: 'setup'})
    const bob = await loginRaw(t, server.starttlsPort, 'bob', 'bob pw', {resource: 'setup'})
    await subscribe(bob, alice)
    alice.end()
    bob.end()
    const account = (user: string) => ({jid: `${user}@localhost/slix`, password: `${user} pw`})
    const events = await runSlixmpp({port: server.starttlsPort, publisher: account('alice'), subscribed: account('bob'), stranger: account('carol'), nick: 'Ally'}, 'pep.py')
    assert.deepEqual(events, [
      {event: 'online'},
      {event: 'published'},
      {event: 'subscribed', heard: {frm: 'alice@localhost', nick: 'Ally'}},
      {event: 'stranger', heard: null},
    ])
  })
})
