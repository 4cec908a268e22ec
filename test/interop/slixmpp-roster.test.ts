/**
 * slixmpp (Debian python3-slixmpp) against mod_roster's versioning (RFC 6121
 * §2.6) and pre-approval (§3.4): it sees both stream features, sends the
 * version it holds, keeps the one each push carries, and gets an empty
 * result for the current version, the whole roster for a stale one.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {startTestServer} from '../integration/server/helpers.js'
import {runSlixmpp, slixmppAvailable} from './clients.js'

// Under CI a missing slixmpp fails the tests (a .ci/run that forgot the package must not pass quietly).
describe('slixmpp\'s roster against roster versioning and pre-approval', {skip: slixmppAvailable || process.env.CI === 'true' ? false : 'python3-slixmpp is not installed'}, () => {
  it('caches the version of each push; the current one gets an empty result, a stale one the whole roster', async (t) => {
    const server = await startTestServer(t, {settings: {disable_sasl_scram_downgrade_protection: true}})
    await server.addUser('alice@localhost', 'alice pw')
    await server.addUser('carol@localhost', 'carol pw')
    const alice = {jid: 'alice@localhost/slix', password: 'alice pw', mechanism: 'SCRAM-SHA-256', port: server.starttlsPort}

    const first = await runSlixmpp({...alice, ver: '', add: 'bob@localhost', preapprove: 'carol@localhost'}, 'roster.py')
    assert.equal(first.length, 4, JSON.stringify(first))
    const [added, preApproved] = [first[2].ver as string, first[3].ver as string]
    assert.deepEqual(first, [
      {event: 'features', rosterver: true, preapproval: true},
      {event: 'roster', ver: '0', items: []},
      {event: 'push', ver: added, items: {'bob@localhost': {subscription: 'none', approved: ''}}},
      {event: 'push', ver: preApproved, items: {'carol@localhost': {subscription: 'none', approved: 'true'}}},
    ])
    assert.notEqual(added, preApproved)

    assert.deepEqual(await runSlixmpp({...alice, ver: preApproved}, 'roster.py'), [
      {event: 'features', rosterver: true, preapproval: true},
      {event: 'roster', ver: preApproved, items: []},
    ])
    assert.deepEqual(await runSlixmpp({...alice, ver: added}, 'roster.py'), [
      {event: 'features', rosterver: true, preapproval: true},
      {event: 'roster', ver: preApproved, items: ['bob@localhost', 'carol@localhost']},
    ])
  })
})
