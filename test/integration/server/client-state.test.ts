/**
 * XEP-0352 client state indication (mod_client_state): while a client is
 * inactive, presence broadcasts and chat-state-only messages wait; the next
 * stanza that cannot wait, or <active/>, releases them first, in order.
 */
import assert from 'node:assert/strict'
import {setTimeout as sleep} from 'node:timers/promises'
import {describe, it} from 'node:test'

import {DEFAULT_MODULES} from '../../../src/config/modules.js'
import {NO_ARCHIVING, type RawClient, featuresAfterAuth, loginRaw, startWithUsers, subscribe, sync} from './helpers.js'

const CSI = 'urn:xmpp:csi:0'

/** Nothing arrives for `ms`: what the server holds stays held. */
async function quiet(client: RawClient, ms = 300): Promise<void> {
  await sleep(ms)
  assert.equal(client.received, '')
}

async function aliceSeenByInactiveBob(t: Parameters<typeof startWithUsers>[0]) {
  const test = await startWithUsers(t, {settings: NO_ARCHIVING}, 'alice', 'bob')
  const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {resource: 'a'})
  const bob = await loginRaw(t, test.starttlsPort, 'bob', 'bob pw', {resource: 'b'})
  await subscribe(bob, alice)
  await sync(alice)
  bob.write(`<inactive xmlns='${CSI}'/>`)
  // The ping's answer cannot wait: once it is read, bob is inactive and has nothing pending.
  await sync(bob)
  bob.received = ''
  return {alice, bob}
}

describe('client state indication (mod_client_state, XEP-0352)', () => {
  it('offers <csi/> in the stream features after authentication', async (t) => {
    const test = await startWithUsers(t, {}, 'alice')
    assert.match(await featuresAfterAuth(t, test.starttlsPort, 'alice', 'alice pw'), new RegExp(`<csi xmlns='${CSI}'/>`))
  })

  it('holds presence (the latest from each resource) and chat states for an inactive client, and sends them before the next message', async (t) => {
    const {alice, bob} = await aliceSeenByInactiveBob(t)
    alice.write('<presence><show>away</show></presence>')
    alice.write('<presence><show>dnd</show></presence>')
    alice.write("<message to='bob@localhost' type='chat' id='c1'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
    await sync(alice)
    await quiet(bob)
    alice.write("<message to='bob@localhost' type='chat' id='m1'><body>hi</body></message>")
    assert.equal(
      await bob.until(/<\/body><\/message>/),
      "<presence from='alice@localhost/a' to='bob@localhost/b'><show>dnd</show></presence>" +
        "<message to='bob@localhost' type='chat' id='c1' from='alice@localhost/a'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>" +
        "<message to='bob@localhost' type='chat' id='m1' from='alice@localhost/a'><body>hi</body></message>",
    )
  })

  it('releases what it holds when the client says it is active again, and then holds nothing', async (t) => {
    const {alice, bob} = await aliceSeenByInactiveBob(t)
    alice.write('<presence><show>xa</show></presence>')
    await sync(alice)
    await quiet(bob)
    bob.write(`<active xmlns='${CSI}'/>`)
    assert.equal(await bob.until(/<\/presence>/), "<presence from='alice@localhost/a' to='bob@localhost/b'><show>xa</show></presence>")
    alice.write('<presence><show>chat</show></presence>')
    assert.equal(await bob.until(/<\/presence>/), "<presence from='alice@localhost/a' to='bob@localhost/b'><show>chat</show></presence>")
  })

  it('without mod_client_state offers no <csi/>, and refuses the element', async (t) => {
    const {mod_client_state: _off, ...modules} = DEFAULT_MODULES
    const test = await startWithUsers(t, {settings: {modules}}, 'alice')
    assert.doesNotMatch(await featuresAfterAuth(t, test.starttlsPort, 'alice', 'alice pw'), /csi/)
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw', {presence: false})
    alice.write(`<inactive xmlns='${CSI}'/>`)
    assert.match(await alice.until(/<\/stream:stream>/), /<stream:error><unsupported-stanza-type xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)
  })
})
