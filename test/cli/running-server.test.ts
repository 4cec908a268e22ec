/**
 * Offline changes reach a running server: `user passwd|disable|delete` close
 * the account's sessions through the control socket, `roster add|remove`
 * push the changed item, and `cert import` reloads the certificates.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdirSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {loadConfig} from '../../src/config/index.js'
import {silentLogger} from '../../src/server/log.js'
import {runServer} from '../../src/server/process.js'
import {freePort, runCli, tempDir, writeConfig} from '../helpers.js'
import {iqReply, loginRaw} from '../integration/server/helpers.js'


async function setup(t: {after(fn: () => unknown): void}) {
  const dir = tempDir(t)
  const port = await freePort()
  const file = writeConfig(dir, `hosts: [localhost]\nauth_scram_iterations: 4096\nlisten:\n  - {port: ${port}, ip: 127.0.0.1}\n`)
  const cli = (args: string[], stdin?: string) => runCli(args, {cwd: dir, stdin})
  const running = await runServer(loadConfig(file), {logger: silentLogger, configFile: file})
  t.after(() => running.stop())
  return {dir, cli, port}
}

describe('a running server hears of offline changes', () => {
  it('user passwd, disable and delete close the account\'s sessions and say so', async (t) => {
    const {cli, port} = await setup(t)
    assert.equal((await cli(['user', 'add', 'alice@localhost', '--password-stdin'], 'old secret\n')).status, 0)

    const first = await loginRaw(t, port, 'alice', 'old secret', {presence: false})
    const passwd = await cli(['user', 'passwd', 'alice@localhost', '--password-stdin', '--json'], 'new secret\n')
    assert.equal(passwd.status, 0, passwd.stderr)
    assert.deepEqual(JSON.parse(passwd.stdout).server, {closed: 1})
    assert.match(await first.until(/<\/stream:stream>/), /<reset xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)

    const second = await loginRaw(t, port, 'alice', 'new secret', {presence: false})
    const disabled = await cli(['user', 'disable', 'alice@localhost'])
    assert.equal(disabled.status, 0, disabled.stderr)
    assert.match(disabled.stdout, /the running server closed 1 session\(s\) of alice@localhost/)
    assert.match(await second.until(/<\/stream:stream>/), /<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)

    const deleted = await cli(['user', 'delete', 'alice@localhost', '--force', '--json'])
    assert.equal(deleted.status, 0, deleted.stderr)
    assert.deepEqual(JSON.parse(deleted.stdout), {jid: 'alice@localhost', deleted: true, server: {closed: 0}})
  })

  it('cert import reloads the running server\'s certificates', async (t) => {
    const {dir, cli} = await setup(t)
    const pem = path.join(dir, 'pem')
    mkdirSync(pem)
    const subject = ['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost']
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '400', ...subject, '-keyout', path.join(pem, 'key.pem'), '-out', path.join(pem, 'cert.pem')], {stdio: 'ignore'})
    // --force: the self-signed certificate the server made for itself lasts longer than this one.
    const imported = await cli(['cert', 'import', pem, '--force', '--json'])
    assert.equal(imported.status, 0, imported.stderr)
    const result = JSON.parse(imported.stdout) as {reloaded: boolean; imported: Array<{host: string; status: string}>}
    assert.deepEqual(result.imported.map((entry) => [entry.host, entry.status]), [['localhost', 'installed']])
    assert.equal(result.reloaded, true)
  })

  it('roster add and remove reach the account\'s online clients as roster pushes', async (t) => {
    const {cli, port} = await setup(t)
    assert.equal((await cli(['user', 'add', 'alice@localhost', '--password-stdin'], 'secret\n')).status, 0)
    const client = await loginRaw(t, port, 'alice', 'secret', {resource: 'pc', presence: false})
    // Only a resource that fetched the roster is "interested" in pushes (RFC 6121 §2.1.6).
    client.write("<iq type='get' id='r1'><query xmlns='jabber:iq:roster' ver=''/></iq>")
    assert.equal(await iqReply(client, 'r1'), "<iq type='result' id='r1' to='alice@localhost/pc'><query xmlns='jabber:iq:roster' ver='0'/></iq>")

    const added = await cli(['roster', 'add', 'alice@localhost', 'bob@example.net', '--name', 'Bob', '--group', 'Friends', '--subscription', 'both', '--json'])
    assert.equal(added.status, 0, added.stderr)
    assert.equal(JSON.parse(added.stdout).pushed, 1)
    // The store moved the roster version with the change; the push carries it (RFC 6121 §2.6.3).
    const addPush = await client.until(/<\/iq>/)
    assert.match(
      addPush,
      /^<iq type='set' id='push\d+' to='alice@localhost\/pc'><query xmlns='jabber:iq:roster' ver='1-[0-9a-f]{12}'><item jid='bob@example\.net' name='Bob' subscription='both'><group>Friends<\/group><\/item><\/query><\/iq>$/,
    )

    const removed = await cli(['roster', 'remove', 'alice@localhost', 'bob@example.net'])
    assert.deepEqual(removed, {status: 0, stdout: 'removed bob@example.net from the roster of alice@localhost\n', stderr: ''})
    const removePush = await client.until(/<\/iq>/)
    assert.match(removePush, /<query xmlns='jabber:iq:roster' ver='2-[0-9a-f]{12}'><item jid='bob@example\.net' subscription='remove'\/><\/query><\/iq>$/)
    const current = /ver='([^']+)'/.exec(removePush)![1]
    client.write(`<iq type='get' id='r2'><query xmlns='jabber:iq:roster' ver='${current}'/></iq>`)
    assert.equal(await iqReply(client, 'r2'), "<iq type='result' id='r2' to='alice@localhost/pc'/>")
  })
})
