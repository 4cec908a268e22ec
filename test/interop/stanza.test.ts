/**
 * StanzaJS (npm stanza), a browser XMPP library, logs in over WebSocket
 * (RFC 7395) and over BOSH (XEP-0206) with TLS verified against the test
 * server's certificate, and exchanges a message with a TCP client.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'

import {loginRaw, nextMessage} from '../integration/server/helpers.js'
import {startWeb} from '../integration/server/web-helpers.js'
import {projectRoot} from '../../src/paths.js'
import {startNode} from './clients.js'

const SCRIPT = path.join(projectRoot(), 'test', 'interop', 'stanza', 'client.cjs')

describe('StanzaJS over the http listener', () => {
  for (const transport of ['websocket', 'bosh'] as const) {
    it(`logs in over ${transport} and exchanges a message with a c2s client`, async (t) => {
      const web = await startWeb(t, {}, 'alice', 'bob')
      const bob = await loginRaw(t, web.starttlsPort, 'bob', 'bob pw', {resource: 'tcp'})
      const url = transport === 'websocket' ? `wss://localhost:${web.httpPort}/ws` : `https://localhost:${web.httpPort}/bosh`
      const run = startNode(t, SCRIPT, {transport, url, jid: 'alice@localhost', password: 'alice pw', resource: transport, to: 'bob@localhost/tcp', body: `hello over ${transport}`}, {
        NODE_EXTRA_CA_CERTS: path.join(web.dataDir, 'certs', 'localhost.crt'),
      })
      assert.deepEqual(await run.next('session'), {event: 'session', jid: `alice@localhost/${transport}`, transport: transport === 'websocket' ? 'WSConnection' : 'BOSH'})
      const received = await nextMessage(bob)
      assert.match(received, new RegExp(`^<message [^>]*to='bob@localhost/tcp' type='chat' from='alice@localhost/${transport}'>`))
      assert.match(received, new RegExp(`<body>hello over ${transport}</body></message>$`))
      bob.write(`<message to='alice@localhost/${transport}' type='chat' id='r1'><body>hello back</body></message>`)
      assert.deepEqual(await run.next('message'), {event: 'message', from: 'bob@localhost/tcp', body: 'hello back'})
      assert.deepEqual(await run.next('disconnected'), {event: 'disconnected'})
    })
  }
})
