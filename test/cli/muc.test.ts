/**
 * `xmppctl muc list|create|info|affiliation|destroy`: on the store when no
 * server runs, through the control socket to the live rooms when one does,
 * where occupants see the change at once.
 */
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {loginRaw, next} from '../integration/server/helpers.js'
import {freePort, runCli, tempDir, writeConfig} from '../helpers.js'

async function setup(t: {after(fn: () => void): void}) {
  const dir = tempDir(t)
  const port = await freePort()
  writeConfig(dir, `hosts: [localhost]\nauth_scram_iterations: 4096\nlisten:\n  - {port: ${port}, ip: 127.0.0.1}\n`)
  const cli = (...args: string[]) => runCli(args, {cwd: dir, stdin: 'alice pw\n'})
  assert.equal((await cli('user', 'add', 'alice@localhost', '--password-stdin')).status, 0)
  return {dir, port, cli}
}

describe('muc commands', () => {
  it('creates, lists, shows, bans on and destroys persistent rooms in the store when no server runs', async (t) => {
    const {cli} = await setup(t)
    const created = await cli('muc', 'create', 'tea@conference.localhost', '--owner', 'alice@localhost', '--name', 'Tea party', '--json')
    assert.equal(created.status, 0, created.stderr)
    assert.deepEqual(JSON.parse(created.stdout), {jid: 'tea@conference.localhost', created: true, live: false})
    const again = await cli('muc', 'create', 'tea@conference.localhost')
    assert.deepEqual([again.status, again.stderr], [2, 'error: the room tea@conference.localhost exists (choose another name, or "xmppctl muc info" to see it)\n'])
    assert.deepEqual(JSON.parse((await cli('muc', 'list', '--json')).stdout), {rooms: [{jid: 'tea@conference.localhost', name: 'Tea party', persistent: true, public: true, occupants: 0}], live: false})

    assert.equal((await cli('muc', 'affiliation', 'tea@conference.localhost', 'bob@localhost', 'outcast', '--reason', 'spam')).stdout, 'bob@localhost is now banned in tea@conference.localhost\n')
    const info = JSON.parse((await cli('muc', 'info', 'tea@conference.localhost', '--json')).stdout) as {affiliations: unknown; subject: string; config: {persistent: boolean}}
    assert.deepEqual(info.affiliations, [
      {jid: 'alice@localhost', affiliation: 'owner', reason: ''},
      {jid: 'bob@localhost', affiliation: 'outcast', reason: 'spam'},
    ])
    assert.equal(info.config.persistent, true)

    const missing = await cli('muc', 'info', 'coffee@conference.localhost')
    assert.deepEqual([missing.status, missing.stderr], [2, 'error: there is no room coffee@conference.localhost ("xmppctl muc list" lists the rooms)\n'])
    const foreign = await cli('muc', 'create', 'tea@conference.example.org')
    assert.deepEqual([foreign.status, foreign.stderr], [2, 'error: conference.example.org is not a group chat service of this server (the services are conference.localhost)\n'])
    const destroyed = await cli('muc', 'destroy', 'tea@conference.localhost')
    assert.deepEqual([destroyed.status, destroyed.stdout], [0, 'destroyed tea@conference.localhost\n'])
    assert.equal((await cli('muc', 'list')).stdout, 'no persistent rooms (no server is running: temporary rooms exist only in a running server)\n')
  })

  it('acts on the live rooms of a running server: occupants are counted, a ban removes the banned (301), destroy removes everyone', async (t) => {
    const {dir, port, cli} = await setup(t)
    const started = await runCli(['start'], {cwd: dir})
    assert.equal(started.status, 0, started.stderr)
    const pid = Number(readFileSync(path.join(dir, 'data', 'xmppctl.pid'), 'utf8'))
    t.after(() => process.kill(pid))

    assert.deepEqual(JSON.parse((await cli('muc', 'create', 'tea@conference.localhost', '--json')).stdout), {jid: 'tea@conference.localhost', created: true, live: true})
    const alice = await loginRaw(t, port, 'alice', 'alice pw', {resource: 'r'})
    alice.write("<presence to='tea@conference.localhost/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await alice.until(/<subject\/><\/message>/)
    assert.deepEqual(JSON.parse((await cli('muc', 'list', '--json')).stdout), {rooms: [{jid: 'tea@conference.localhost', name: '', persistent: true, public: true, occupants: 1}], live: true})
    const info = JSON.parse((await cli('muc', 'info', 'tea@conference.localhost', '--json')).stdout) as {occupantList: unknown}
    assert.deepEqual(info.occupantList, [{nick: 'Alice', jid: 'alice@localhost/r', role: 'participant', affiliation: 'none'}])

    assert.equal((await cli('muc', 'affiliation', 'tea@conference.localhost', 'alice@localhost', 'outcast', '--reason', 'testing')).status, 0)
    assert.match(await next(alice, 'presence', "type='unavailable'"), /<item affiliation='outcast' role='none' jid='alice@localhost\/r'><reason>testing<\/reason><\/item><status code='301'\/><status code='110'\/>/)
    assert.equal((await cli('muc', 'affiliation', 'tea@conference.localhost', 'alice@localhost', 'none')).stdout, 'alice@localhost is now without affiliation in tea@conference.localhost\n')
    alice.write("<presence to='tea@conference.localhost/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await alice.until(/<subject\/><\/message>/)
    const destroyed = JSON.parse((await cli('muc', 'destroy', 'tea@conference.localhost', '--reason', 'closing', '--json')).stdout) as {kicked: number; live: boolean}
    assert.deepEqual([destroyed.kicked, destroyed.live], [1, true])
    assert.match(await next(alice, 'presence', "type='unavailable'"), /<destroy><reason>closing<\/reason><\/destroy><status code='110'\/>/)
  })
})
