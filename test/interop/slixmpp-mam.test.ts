/**
 * slixmpp (Debian python3-slixmpp) with its own XEP-0313 plugin against
 * mod_mam: messages just sent come back from the archive, whole and in
 * XEP-0059 pages, on the sender's side and on the recipient's.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {startWithUsers} from '../integration/server/helpers.js'
import {runSlixmpp, slixmppAvailable} from './clients.js'

interface Archived {
  id: string
  body: string
  from: string
}

describe('slixmpp\'s message archive plugin against the server', {skip: slixmppAvailable ? false : 'python3-slixmpp is not installed'}, () => {
  it('reads back the messages just sent, whole and page by page, as sender and as recipient', async (t) => {
    const server = await startWithUsers(t, {}, 'alice', 'bob')
    const bodies = ['one', 'two ✓', 'three', 'four', 'five']
    const alice = await runSlixmpp({jid: 'alice@localhost/slix', password: 'alice pw', port: server.starttlsPort, bodies, send_to: 'bob@localhost', with: 'bob@localhost'}, 'mam.py')
    const read = (events: typeof alice, name: string) => (events.find((event) => event.event === name) as unknown as {messages: Archived[]} | undefined)?.messages
    const archive = read(alice, 'archive')
    assert.deepEqual(archive?.map((message) => message.body), bodies, JSON.stringify(alice))
    assert.ok(archive.every((message) => message.from === 'alice@localhost/slix' && /^\d+$/.test(message.id)), JSON.stringify(archive))
    assert.equal(new Set(archive.map((message) => message.id)).size, bodies.length)
    assert.deepEqual(read(alice, 'paged'), archive)

    // bob was offline: his archive holds them all the same, under ids of its own.
    const bob = await runSlixmpp({jid: 'bob@localhost/slix', password: 'bob pw', port: server.starttlsPort, with: 'alice@localhost'}, 'mam.py')
    assert.deepEqual(read(bob, 'archive')?.map((message) => message.body), bodies, JSON.stringify(bob))
    assert.deepEqual(read(bob, 'paged')?.map((message) => message.body), bodies)
  })
})
