import assert from 'node:assert/strict'
import {statSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {describe, it} from 'node:test'

import {Configuration} from '../../../src/config/index.js'
import {defaultSettings} from '../../../src/config/schema.js'
import {notifyServer} from '../../../src/server/control.js'
import {silentLogger} from '../../../src/server/log.js'
import {runServer} from '../../../src/server/process.js'
import {freePort, runCli, tempDir, writeConfig} from '../../helpers.js'
import {RawClient, header} from './helpers.js'


describe('xmppctl start, status, reload, stop', () => {
  it('starts in the background, reports status, reloads, stops gracefully', async (t) => {
    const dir = tempDir(t)
    const [plain, direct] = [await freePort(), await freePort()]
    writeConfig(dir, `hosts: [localhost]\nlisten:\n  - {port: ${plain}, ip: 127.0.0.1}\n  - {port: ${direct}, ip: 127.0.0.1, tls: true}\n`)
    const started = await runCli(['start', '--json'], {cwd: dir})
    assert.equal(started.status, 0, started.stdout + started.stderr)
    const result = JSON.parse(started.stdout) as {pid: number; listeners: Array<{port: number; tls: boolean}>}
    t.after(() => {
      try {
        process.kill(result.pid)
      } catch {}
    })
    assert.deepEqual(result.listeners.map((listener) => [listener.port, listener.tls]), [[plain, false], [direct, true]])
    assert.equal(statSync(path.join(dir, 'data', 'control.sock')).mode & 0o777, 0o600)
    assert.equal(statSync(path.join(dir, 'data', 'xmppctl.pid')).mode & 0o777, 0o600)

    const client = await RawClient.connect(plain)
    t.after(() => client.end())
    client.write(header())
    await client.until(/<\/stream:features>/)

    const again = await runCli(['start'], {cwd: dir})
    assert.equal(again.status, 2)
    assert.match(again.stderr, /already running/)

    const status = await runCli(['status', '--json'], {cwd: dir})
    assert.equal(status.status, 0)
    const parsed = JSON.parse(status.stdout) as {running: boolean; pid: number; sessions: Record<string, number>; connections: number}
    assert.equal(parsed.running, true)
    assert.equal(parsed.pid, result.pid)
    assert.deepEqual(parsed.sessions, {localhost: 0})
    assert.equal(parsed.connections, 1)

    const reload = await runCli(['reload'], {cwd: dir})
    assert.equal(reload.status, 0, reload.stderr)
    assert.match(reload.stdout, /reloaded; certificates: localhost: /)
    assert.equal(reload.stderr, '')
    assert.equal(client.closed, false, 'reload keeps connections')
    // What is read only at start is named, not silently ignored.
    writeConfig(dir, `hosts: [localhost]\nsql_query_timeout: 30\nlisten:\n  - {port: ${plain}, ip: 127.0.0.1}\n`)
    const restartOnly = await runCli(['reload', '--json'], {cwd: dir})
    assert.equal(restartOnly.status, 0, restartOnly.stderr)
    assert.deepEqual((JSON.parse(restartOnly.stdout) as {restartNeeded: string[]}).restartNeeded, ['listen', 'sql_query_timeout'])
    // Still pending at the next reload: compared with what the server started with, not with the last reload.
    const pending = await runCli(['reload'], {cwd: dir})
    assert.equal(pending.stderr, 'warning: changes to listen, sql_query_timeout take effect on "xmppctl restart"\n')

    const stopped = await runCli(['stop'], {cwd: dir})
    assert.equal(stopped.status, 0)
    assert.match(stopped.stdout, new RegExp(`stopped xmppctl server \\(pid ${result.pid}\\)`))
    assert.match(await client.until(/<\/stream:stream>/), /<system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)

    const after = await runCli(['status'], {cwd: dir})
    assert.equal(after.status, 3)
    assert.match(after.stdout, /not running/)
    const stopAgain = await runCli(['stop'], {cwd: dir})
    assert.equal(stopAgain.status, 0)
    assert.match(stopAgain.stdout, /no server is running/)
  })

  it('says why it cannot start: port in use', async (t) => {
    const dir = tempDir(t)
    const blocker = net.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    t.after(() => blocker.close())
    const {port} = blocker.address() as net.AddressInfo
    writeConfig(dir, `listen:\n  - {port: ${port}, ip: 127.0.0.1}\n`)
    const result = await runCli(['start'], {cwd: dir})
    assert.equal(result.status, 3)
    assert.match(result.stderr, new RegExp(`port ${port} on 127.0.0.1 is already in use`))
  })

  it('says why it cannot start: no certificate in certfiles', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, `certfiles: [./certs/*.pem]\nlisten:\n  - {port: ${await freePort()}, ip: 127.0.0.1}\n`)
    const result = await runCli(['start', '--json'], {cwd: dir})
    assert.equal(result.status, 2)
    assert.equal((JSON.parse(result.stdout) as {error: {code: string}}).error.code, 'certificate-missing')
  })

  it('says why it cannot start: bad configuration', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, 'listen:\n  - {port: 99999}\n')
    const result = await runCli(['start'], {cwd: dir})
    assert.equal(result.status, 2)
    assert.match(result.stderr, /xmppctl.yml:2/)
  })

  it('notifyServer is a no-op without a server and closes the account\'s sessions with one', async (t) => {
    const dir = tempDir(t)
    const settings = {...defaultSettings(), listen: [{port: 0, ip: '127.0.0.1', module: 'c2s' as const, starttls: 'required' as const, tls: false}]}
    const config = new Configuration(path.join(dir, 'xmppctl.yml'), settings)
    assert.deepEqual(await notifyServer(config, {type: 'user-deleted', jid: 'alice@localhost'}), {notified: false})
    const running = await runServer(config, {logger: silentLogger})
    t.after(() => running.stop())
    assert.deepEqual(await notifyServer(config, {type: 'user-deleted', jid: 'alice@localhost'}), {notified: true, closed: 0})
  })
})
