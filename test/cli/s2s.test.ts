/**
 * `xmppctl s2s list` and `s2s close` against a running server: a peer's
 * stream authenticated with SASL EXTERNAL is listed, and closed.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {loadConfig} from '../../src/config/index.js'
import {silentLogger} from '../../src/server/log.js'
import {runServer} from '../../src/server/process.js'
import {freePort, runCli, tempDir, writeConfig} from '../helpers.js'
import {createPki} from '../integration/s2s/netns.js'
import {externalS2s} from '../integration/s2s/servers.js'

describe('xmppctl s2s', () => {
  it('lists a peer\'s incoming stream with its authentication and TLS version, and closes it', async (t) => {
    const dir = tempDir(t)
    const pki = createPki(dir)
    const own = pki.issue('localhost')
    const [c2s, s2s] = [await freePort(), await freePort()]
    const file = writeConfig(
      dir,
      `hosts: [localhost]\nauth_scram_iterations: 4096\ncertfiles: [${own.cert}, ${own.key}]\ns2s_cafile: ${pki.ca}\nlisten:\n  - {port: ${c2s}, ip: 127.0.0.1}\n  - {port: ${s2s}, ip: 127.0.0.1, module: s2s}\n`,
    )
    const cli = (args: string[]) => runCli(args, {cwd: dir})
    const running = await runServer(loadConfig(file), {logger: silentLogger, configFile: file})
    t.after(() => running.stop())

    const empty = await cli(['s2s', 'list', '--json'])
    assert.equal(empty.status, 0, empty.stderr)
    assert.deepEqual(JSON.parse(empty.stdout), {connections: []})

    const peer = await externalS2s(t, {address: '127.0.0.1', port: s2s, domain: 'localhost', peer: 'peer.test', cert: pki.issue('peer.test'), ca: pki.ca})
    const listed = await cli(['s2s', 'list', '--json'])
    assert.equal(listed.status, 0, listed.stderr)
    const [stream] = (JSON.parse(listed.stdout) as {connections: Array<Record<string, unknown>>}).connections
    assert.deepEqual({...stream, since: undefined}, {direction: 'incoming', local: 'localhost', remote: ['peer.test'], state: 'ready', auth: 'EXTERNAL', tls: 'TLSv1.3', address: '127.0.0.1', since: undefined, queued: 0, certificateVerified: true, bidi: false})
    const table = await cli(['s2s', 'list'])
    assert.match(table.stdout, /^DIRECTION +LOCAL +REMOTE +AUTH +TLS +STATE +ADDRESS +SINCE\nincoming +localhost +peer\.test +EXTERNAL +TLSv1\.3 +ready +127\.0\.0\.1 +\S+\n$/)

    const closed = await cli(['s2s', 'close', 'peer.test', '--json'])
    assert.equal(closed.status, 0, closed.stderr)
    assert.deepEqual(JSON.parse(closed.stdout), {domain: 'peer.test', closed: 1})
    assert.match(await peer.until(/<\/stream:stream>/), /<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>closed by the administrator<\/text><\/stream:error><\/stream:stream>$/)

    const none = await cli(['s2s', 'close', 'peer.test'])
    assert.deepEqual([none.status, none.stdout], [1, 'no s2s stream with peer.test was open\n'])
  })

  it('says no server runs, exit 3', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [localhost]\n')
    const result = await runCli(['s2s', 'list'], {cwd: dir})
    assert.equal(result.status, 3)
    assert.match(result.stderr, /^error: no server is running for data directory .*\(start it with "xmppctl start"\)\n$/)
  })
})
