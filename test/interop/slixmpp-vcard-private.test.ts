/**
 * slixmpp (Debian python3-slixmpp) with its own XEP-0054 and XEP-0048/0049
 * plugins against mod_vcard and mod_private: what one client publishes, it
 * and another read back through slixmpp's parsing, not ours. Its XEP-0060
 * plugin, as a XEP-0402 client, sees the same bookmarks (XEP-0402 §5.3).
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {startTestServer} from '../integration/server/helpers.js'
import {runSlixmpp, slixmppAvailable} from './clients.js'

describe('slixmpp\'s vCard and bookmarks plugins against the server', {skip: slixmppAvailable ? false : 'python3-slixmpp is not installed'}, () => {
  it('publishes a vCard and bookmarks, reads them back, and reads another account\'s vCard', async (t) => {
    const server = await startTestServer(t)
    await server.addUser('alice@localhost', 'alice pw')
    await server.addUser('bob@localhost', 'bob pw')
    const publish = {fn: 'Alice Liddell ✓', nickname: 'alice', room: 'tea@conference.localhost'}
    const alice = await runSlixmpp({jid: 'alice@localhost', password: 'alice pw', port: server.starttlsPort, publish, read: ['alice@localhost', 'nobody@localhost']}, 'vcard_private.py')
    const events = JSON.stringify(alice)
    assert.ok(alice.some((event) => event.event === 'published') && alice.some((event) => event.event === 'bookmarked'), events)
    assert.deepEqual(
      alice.filter((event) => event.event.startsWith('vcard') || event.event === 'bookmarks'),
      [
        {event: 'vcard', jid: 'alice@localhost', fn: 'Alice Liddell ✓', nickname: ['alice']},
        {event: 'vcard_error', jid: 'nobody@localhost', condition: 'service-unavailable', type: 'cancel'},
        {event: 'bookmarks', conferences: [{jid: 'tea@conference.localhost', nick: 'alice', name: 'Tea party', autojoin: true}]},
      ],
      events,
    )

    const bob = await runSlixmpp({jid: 'bob@localhost', password: 'bob pw', port: server.starttlsPort, read: ['alice@localhost']}, 'vcard_private.py')
    assert.deepEqual(
      bob.filter((event) => event.event.startsWith('vcard') || event.event === 'bookmarks'),
      [
        {event: 'vcard', jid: 'alice@localhost', fn: 'Alice Liddell ✓', nickname: ['alice']},
        {event: 'bookmarks', conferences: []},
      ],
      JSON.stringify(bob),
    )
  })

  it('shows bookmarks stored through XEP-0048 to a XEP-0402 client, and the rooms that client publishes to the XEP-0048 client', async (t) => {
    const server = await startTestServer(t)
    await server.addUser('alice@localhost', 'alice pw')
    const legacy = {jid: 'alice@localhost', password: 'alice pw', port: server.starttlsPort}
    const publish = {fn: 'Alice', nickname: 'alice', room: 'tea@conference.localhost'}
    const stored = await runSlixmpp({...legacy, publish}, 'vcard_private.py')
    assert.ok(stored.some((event) => event.event === 'bookmarked'), JSON.stringify(stored))

    const modern = await runSlixmpp({...legacy, publish: {room: 'cake@conference.localhost', name: 'Cake', nick: 'al'}}, 'bookmarks.py')
    assert.deepEqual(
      modern.filter((event) => event.event === 'bookmarks'),
      [{event: 'bookmarks', rooms: [{jid: 'tea@conference.localhost', name: 'Tea party', autojoin: 'true', nick: 'alice'}, {jid: 'cake@conference.localhost', name: 'Cake', autojoin: 'true', nick: 'al'}]}],
      JSON.stringify(modern),
    )

    const reread = await runSlixmpp(legacy, 'vcard_private.py')
    assert.deepEqual(
      reread.filter((event) => event.event === 'bookmarks'),
      [{event: 'bookmarks', conferences: [{jid: 'tea@conference.localhost', nick: 'alice', name: 'Tea party', autojoin: true}, {jid: 'cake@conference.localhost', nick: 'al', name: 'Cake', autojoin: true}]}],
      JSON.stringify(reread),
    )
  })
})
