/**
 * slixmpp (Debian python3-slixmpp) with its own XEP-0077 plugin against
 * mod_register: a real client changes its password in-band, then logs in
 * with the new one and is refused with the old one.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {startTestServer} from '../integration/server/helpers.js'
import {runSlixmpp, slixmppAvailable} from './clients.js'

describe('slixmpp\'s in-band password change against the server', {skip: slixmppAvailable ? false : 'python3-slixmpp is not installed'}, () => {
  it('changes the password; the new one logs in and the old one is refused', async (t) => {
    const server = await startTestServer(t)
    await server.addUser('alice@localhost', 'alice pw')
    const login = (password: string, extra: Record<string, unknown> = {}) => runSlixmpp({jid: 'alice@localhost', password, port: server.starttlsPort, ...extra}, 'register.py')

    const changed = await login('alice pw', {new_password: 'ünïcode and longer'})
    assert.deepEqual(changed.map((event) => event.event), ['session', 'changed'], JSON.stringify(changed))
    assert.deepEqual((await login('ünïcode and longer')).map((event) => event.event), ['session'])
    assert.deepEqual((await login('alice pw')).map((event) => event.event), ['failed_auth'])

    const refused = await login('ünïcode and longer', {new_password: ''})
    assert.deepEqual(refused.slice(1), [{event: 'change_error', condition: 'bad-request', type: 'modify'}], JSON.stringify(refused))
  })
})
