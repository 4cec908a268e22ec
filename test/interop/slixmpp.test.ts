/**
 * slixmpp (Debian python3-slixmpp, under /usr/bin/python3) against the
 * server: SCRAM-SHA-1, SCRAM-SHA-256, PLAIN, over STARTTLS and direct TLS,
 * SCRAM-SHA-1-PLUS with tls-unique over TLS 1.2 (slixmpp's only binding),
 * and a message between two slixmpp clients.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {PROJECT_ROOT} from '../helpers.js'
import {startTestServer} from '../integration/server/helpers.js'

const PYTHON = '/usr/bin/python3'
const NO_PLUS = ['SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256-PLUS', 'SCRAM-SHA-512-PLUS'] as const
const SCRIPT = path.join(PROJECT_ROOT, 'test', 'interop', 'slixmpp', 'client.py')

interface Event {
  event: string
  [key: string]: unknown
}

function slixmpp(args: Record<string, unknown>): Promise<Event[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT, JSON.stringify(args)], {stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (status) => {
      const events = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Event)
      if (status !== 0 && events.length === 0) reject(new Error(`slixmpp exited ${status}: ${stderr.slice(-2000)}`))
      else resolve(events)
    })
  })
}

const available = existsSync(PYTHON) && (await new Promise<boolean>((resolve) => {
  const probe = spawn(PYTHON, ['-c', 'import slixmpp'], {stdio: 'ignore'})
  probe.on('close', (status) => resolve(status === 0))
  probe.on('error', () => resolve(false))
}))

describe('slixmpp against the server', {skip: available ? false : 'python3-slixmpp is not installed'}, () => {
  for (const [mechanism, directTls, tls12] of [
    ['SCRAM-SHA-1', false, false],
    ['SCRAM-SHA-256', false, false],
    ['SCRAM-SHA-256', true, false],
    ['PLAIN', true, false],
    ['SCRAM-SHA-1-PLUS', false, true],
    ['SCRAM-SHA-256-PLUS', true, true],
  ] as const) {
    it(`logs in with ${mechanism} over ${directTls ? 'direct TLS' : 'STARTTLS'}${tls12 ? ' (TLS 1.2, tls-unique)' : ''}`, async (t) => {
      // slixmpp sends the "y" flag (it could bind) with plain SCRAM whenever Python has
      // tls-unique data, TLS 1.3 included; a server that offers -PLUS must take that as
      // a downgrade (RFC 5802 §6), so plain SCRAM is tested with -PLUS disabled.
      const server = await startTestServer(t, mechanism.endsWith('-PLUS') ? {} : {settings: {disable_sasl_mechanisms: [...NO_PLUS]}})
      await server.addUser('alice@localhost', 'pässwörd')
      const events = await slixmpp({
        jid: 'alice@localhost',
        password: 'pässwörd',
        mechanism,
        port: directTls ? server.tlsPort : server.starttlsPort,
        direct_tls: directTls,
        tls12,
      })
      const session = events.find((event) => event.event === 'session')
      assert.ok(session, JSON.stringify(events))
      assert.equal(session.mechanism, mechanism)
      assert.match(String(session.jid), /^alice@localhost\/.+/)
      if (tls12) assert.equal(session.tls, 'TLSv1.2')
    })
  }

  it('refuses a wrong password', async (t) => {
    const server = await startTestServer(t, {settings: {disable_sasl_mechanisms: [...NO_PLUS]}})
    await server.addUser('alice@localhost', 'right')
    const events = await slixmpp({jid: 'alice@localhost', password: 'wrong', mechanism: 'SCRAM-SHA-256', port: server.starttlsPort, timeout: 10})
    assert.ok(events.some((event) => event.event === 'failed_auth'), JSON.stringify(events))
  })

  it('exchanges a message between two slixmpp clients', async (t) => {
    const server = await startTestServer(t, {settings: {disable_sasl_mechanisms: [...NO_PLUS]}})
    await server.addUser('alice@localhost', 'alice pw')
    await server.addUser('bob@localhost', 'bob pw')
    const bob = slixmpp({jid: 'bob@localhost/desk', password: 'bob pw', mechanism: 'SCRAM-SHA-256', port: server.starttlsPort, wait_message: true})
    // Wait until bob is bound and available, so the message is delivered live.
    const deadline = Date.now() + 15_000
    while (!server.server.router.available('bob@localhost').length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    const alice = await slixmpp({jid: 'alice@localhost', password: 'alice pw', mechanism: 'SCRAM-SHA-1', port: server.tlsPort, direct_tls: true, send_to: 'bob@localhost', body: 'hello from alice ✓'})
    assert.ok(alice.some((event) => event.event === 'sent'), JSON.stringify(alice))
    const message = (await bob).find((event) => event.event === 'message')
    assert.ok(message)
    assert.match(String(message.frm), /^alice@localhost\//)
    assert.equal(message.body, 'hello from alice ✓')
  })
})
