/**
 * Real clients' XEP-0198 stream management across a lost connection:
 * slixmpp's plugin (Debian python3-slixmpp) and Gajim's nbxmpp
 * (python3-nbxmpp). The test cuts the client's TCP connection at a proxy,
 * with no closing stream, while another account sends it messages; the
 * client connects again and resumes, or, when the resumption window has
 * passed, logs in anew. Either way every message arrives, once, in order.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {loginRaw, type RawClient, startWithUsers, sync, type TestServer} from '../integration/server/helpers.js'
import {nbxmppAvailable, type ScriptRun, slixmppAvailable, startNbxmpp, startSlixmpp} from './clients.js'
import {type CutMode, startProxy} from './proxy.js'

const BEFORE = ['before the cut 1', 'before the cut 2 ✓']
const AWAY = ['while away 1', 'while away 2', 'while away 3 <&>']
/** The steps both scripts print, in the order they happened. */
const STEPS = new Set(['session', 'sm_enabled', 'lost', 'resumed', 'sm_failed'])

type Start = (t: {after(fn: () => unknown): void}, args: Record<string, unknown>, script: string) => ScriptRun

function send(bob: RawClient, bodies: string[]): void {
  const escaped = (body: string) => body.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
  bob.write(bodies.map((body) => `<message to='alice@localhost' type='chat'><body>${escaped(body)}</body></message>`).join(''))
}

/** Alice (the client, through a proxy) is online and has taken in and acknowledged BEFORE; the connection is then cut. */
async function cutAfterBefore(t: {after(fn: () => unknown): void}, start: Start, server: TestServer, mode: CutMode) {
  const proxy = await startProxy(t, server.starttlsPort)
  const alice = start(t, {jid: 'alice@localhost/phone', password: 'alice pw', port: proxy.port, expect: BEFORE.length + AWAY.length, settle_after: BEFORE.length, timeout: 30}, 'sm_resume.py')
  const enabled = await alice.next('sm_enabled')
  assert.equal(enabled.resume, true, JSON.stringify(enabled))
  const bob = await loginRaw(t, server.starttlsPort, 'bob', 'bob pw', {resource: 'b'})
  await sync(bob)
  send(bob, BEFORE)
  for (const body of BEFORE) assert.equal((await alice.next('message')).body, body)
  // The server asked for an acknowledgement after the messages, and has it: what alice took in is hers.
  await alice.next('settled')
  proxy.cut(mode)
  await alice.next('lost')
  return {proxy, alice, bob, enabled}
}

async function received(alice: ScriptRun): Promise<unknown> {
  const events = await alice.finished
  return events.find((event) => event.event === 'received')?.bodies ?? JSON.stringify(events)
}

const steps = (alice: ScriptRun) => alice.events.filter((event) => STEPS.has(event.event)).map((event) => event.event)

for (const [name, start, available, what] of [
  ['slixmpp', startSlixmpp, slixmppAvailable, 'python3-slixmpp'],
  ['nbxmpp', startNbxmpp, nbxmppAvailable, 'python3-nbxmpp'],
] as const) {
  // Under CI a missing client fails the tests (a .ci/run that forgot the package must not pass quietly).
  describe(`${name}'s stream management across a lost connection`, {skip: available || process.env.CI === 'true' ? false : `${what} is not installed`}, () => {
    for (const [mode, how] of [
      ['both', 'the server saw the connection drop'],
      ['client', 'the server did not notice and wrote into the dead connection'],
    ] as const) {
      it(`resumes after a cut (${how}): the messages sent meanwhile arrive once, in order, in the same session`, async (t) => {
        const server = await startWithUsers(t, {}, 'alice', 'bob')
        const {proxy, alice, bob, enabled} = await cutAfterBefore(t, start, server, mode)
        send(bob, AWAY)
        await sync(bob)
        proxy.release()
        await alice.next('resumed')
        assert.deepEqual(await received(alice), [...BEFORE, ...AWAY])
        assert.deepEqual(steps(alice), ['session', 'sm_enabled', 'lost', 'resumed'])
        assert.equal(proxy.accepted, 2)
        assert.equal(typeof enabled.id, 'string')
        // The contact never saw alice leave.
        assert.doesNotMatch(bob.received, /type='unavailable'/)
      })
    }

    it('logs in anew when the resumption window has passed: what was sent meanwhile waits offline, and arrives once, in order', async (t) => {
      const server = await startWithUsers(t, {server: {limits: {resumeTimeoutMs: 1000}}}, 'alice', 'bob')
      const {proxy, alice, bob} = await cutAfterBefore(t, start, server, 'both')
      send(bob, AWAY.slice(0, 2))
      await sync(bob)
      // The detached session ends when its window closes (its unacknowledged messages go offline); later ones go offline directly.
      for (let waited = 0; server.server.router.all('alice@localhost').length > 0 && waited < 5000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
      assert.equal(server.server.router.all('alice@localhost').length, 0)
      send(bob, AWAY.slice(2))
      await sync(bob)
      proxy.release()
      assert.deepEqual(await alice.next('sm_failed'), {event: 'sm_failed', condition: 'item-not-found'})
      assert.deepEqual(await received(alice), [...BEFORE, ...AWAY])
      assert.deepEqual(steps(alice), ['session', 'sm_enabled', 'lost', 'sm_failed', 'session', 'sm_enabled'])
    })
  })
}
