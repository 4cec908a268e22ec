/**
 * Federation from a cluster: a peer verifies the dialback key (XEP-0220) one
 * node sent by connecting back to our domain, and may reach another node.
 * Three nodes (a, b, c) on Redis and PostgreSQL, and a single server for
 * remote.test whose way back to `localhost` (s2s_addresses) leads to node b
 * while node a sends. Self-signed certificates, so dialback it is.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {after, before, describe, it} from 'node:test'

import {freePort, runCli, startInBackground, tempDir, writeConfig} from '../../helpers.js'
import {postgresMissing, startPostgres, writePostgresConfig} from '../../postgres.js'
import {redisMissing, redisSettings, startRedis} from '../../redis.js'
import {NODE_DEATH_BOUND_MS, type RawClient, loginRaw, next, nextMessage, sync} from './helpers.js'

// CI must run these (CI=true fails rather than skips).
const skip = process.env.CI === 'true' ? false : (postgresMissing() ?? redisMissing() ?? false)

interface Server {
  dir: string
  c2s: number
  s2s: number
  pid: number
}

describe('federation from the nodes of a cluster', {skip}, () => {
  const cleanups: Array<() => unknown> = []
  const suite = {after: (fn: () => unknown) => cleanups.push(fn)}
  after(async () => {
    for (const fn of cleanups.reverse()) await fn()
  })
  const servers: Record<'a' | 'b' | 'c' | 'remote', Server> = {} as never

  let redisCli: (...command: string[]) => string
  before(async () => {
    const redis = await startRedis(suite)
    redisCli = (...command) => spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), '--no-auth-warning', '-a', redis.password, ...command], {encoding: 'utf8'}).stdout.trim()
    const postgres = await startPostgres('exit')
    const database = await postgres.createDatabase()
    for (const name of ['a', 'b', 'c', 'remote'] as const) servers[name] = {dir: tempDir(suite, `xmppctl-cluster-s2s-${name}-`), c2s: await freePort(), s2s: await freePort(), pid: 0}
    const {a, b, c, remote} = servers
    const listen = (server: Server) => `listen:\n  - {port: ${server.c2s}, ip: 127.0.0.1}\n  - {port: ${server.s2s}, ip: 127.0.0.1, module: s2s}`
    for (const name of ['a', 'b', 'c'] as const) {
      writePostgresConfig(servers[name].dir, database, [
        'hosts: [localhost]',
        listen(servers[name]),
        `s2s_addresses: {remote.test: {host: 127.0.0.1, port: ${remote.s2s}}}`,
        ...redisSettings(servers[name].dir, redis),
        `cluster: {node: ${name}}`,
        'loglevel: debug',
      ])
    }

    // remote.test reaches localhost at node b only: it verifies node a's keys there.
    writeConfig(remote.dir, ['hosts: [remote.test]', listen(remote), `s2s_addresses: {localhost: {host: 127.0.0.1, port: ${b.s2s}}}`, 'loglevel: debug', ''].join('\n'))
    for (const [server, account] of [[a, 'alice@localhost'], [remote, 'bob@remote.test']] as const) {
      const added = await runCli(['user', 'add', account, '--password-stdin'], {cwd: server.dir, stdin: `${account.split('@')[0]} pw\n`})
      assert.equal(added.status, 0, added.stderr)
    }

    // alice and bob see each other's presence.
    for (const [server, user, contact] of [[a, 'alice@localhost', 'bob@remote.test'], [remote, 'bob@remote.test', 'alice@localhost']] as const) {
      const added = await runCli(['roster', 'add', user, contact, '--subscription', 'both'], {cwd: server.dir})
      assert.equal(added.status, 0, added.stderr)
    }

    for (const server of [a, b, c, remote]) await startInBackground(suite, server)
  })

  it("delivers a message from a user of node a to another server, which checks node a's dialback key with node b, and the answer back", async (t) => {
    const alice: RawClient = await loginRaw(t, servers.a.c2s, 'alice', 'alice pw', {resource: 'a'})
    const bob: RawClient = await loginRaw(t, servers.remote.c2s, 'bob', 'bob pw', {resource: 'b', host: 'remote.test'})
    alice.write("<message to='bob@remote.test' type='chat' id='f1'><body>from node a</body></message>")
    assert.match(await nextMessage(bob), /^<message to='bob@remote\.test' type='chat' id='f1' from='alice@localhost\/a'><body>from node a<\/body>/)
    // remote.test's own stream to localhost lands on node b, which hands the answer to alice's node.
    bob.write("<message to='alice@localhost/a' type='chat' id='f2'><body>back</body></message>")
    assert.match(await nextMessage(alice), /^<message to='alice@localhost\/a' type='chat' id='f2' from='bob@remote\.test\/b'><body>back<\/body>/)
  })

  it('puts the shared dialback secret and the claim on the group chat service back into a Redis that lost its data, unchanged', async () => {
    const secret = redisCli('GET', 'xmppctl:secret:dialback')
    assert.match(secret, /^[A-Za-z0-9+/]{43}=$/)
    // The first node that needs conference.localhost serves it: node c, here.
    const listed = await runCli(['muc', 'list', '--json'], {cwd: servers.c.dir})
    assert.equal(listed.status, 0, listed.stderr)
    assert.equal(redisCli('GET', 'xmppctl:service:conference.localhost'), 'c')
    assert.equal(redisCli('FLUSHALL'), 'OK')
    // Each node sees its liveness key gone at its next heartbeat (every second) and registers again.
    const restored = () => redisCli('GET', 'xmppctl:secret:dialback') !== '' && redisCli('GET', 'xmppctl:service:conference.localhost') !== ''
    for (let waited = 0; waited < 5000 && !restored(); waited += 100) await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(redisCli('GET', 'xmppctl:secret:dialback'), secret)
    assert.equal(redisCli('GET', 'xmppctl:service:conference.localhost'), 'c')
  })

  it('after kill -9 of node a, one of the two other nodes tells the other server that alice left, once', async (t) => {
    const bob = await loginRaw(t, servers.remote.c2s, 'bob', 'bob pw', {resource: 'b2', host: 'remote.test'})
    const alice = await loginRaw(t, servers.a.c2s, 'alice', 'alice pw', {resource: 'a2'})
    // (The answer to bob's probe, sent before alice logged in, says she is unavailable.)
    assert.equal(await next(bob, 'presence', "from='alice@localhost/a2'"), "<presence from='alice@localhost/a2' to='bob@remote.test'/>")
    await sync(alice)
    process.kill(servers.a.pid, 'SIGKILL')
    // Seen dead within the bound by b and c, and told by the one that claimed it, over s2s (a second more for that hop).
    assert.equal(await next(bob, 'presence', "from='alice@localhost/a2'", NODE_DEATH_BOUND_MS + 1000), "<presence type='unavailable' from='alice@localhost/a2' to='bob@remote.test'/>")
    await new Promise((resolve) => setTimeout(resolve, 2000))
    assert.doesNotMatch(await sync(bob), /from='alice@localhost\/a2'/)
  })
})
