/**
 * XEP-0198 resumption across the nodes of a cluster: two `xmppctl start`
 * nodes on one Redis and one PostgreSQL. A client whose connection to one
 * node drops resumes its session on the other, with what it had not
 * acknowledged sent again and no unavailable presence for its contacts;
 * only its own account may; and a session whose node was killed cannot be
 * resumed, but what its client had not acknowledged waits offline.
 */
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {freePort, runCli, startInBackground, tempDir} from '../../helpers.js'
import {postgresMissing, startPostgres, writePostgresConfig} from '../../postgres.js'
import {redisMissing, redisSettings, startRedis} from '../../redis.js'
import {NODE_DEATH_BOUND_MS, type RawClient, iqReply, loginRaw, next, nextMessage, startTestServer, storeQuery, subscribe, sync} from './helpers.js'

// CI must run these (CI=true fails rather than skips).
const skip = process.env.CI === 'true' ? false : (postgresMissing() ?? redisMissing() ?? false)

const SM = 'urn:xmpp:sm:3'
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
const NOT_FOUND = `<failed xmlns='${SM}'><item-not-found xmlns='${STANZAS}'/></failed>`

interface Node {
  name: string
  dir: string
  port: number
  pid: number
}

/** Enables stream management with resumption; the id. */
async function enable(client: RawClient): Promise<string> {
  client.write(`<enable xmlns='${SM}' resume='true'/>`)
  const enabled = await client.until(/<enabled [^>]*\/>/)
  return /id='([^']+)'/.exec(enabled)![1]
}

/** Stanzas in `text` (none nested in these tests). */
const stanzas = (text: string) => (text.match(/<(message|presence|iq)[\s>]/g) ?? []).length

/** Acknowledges `h` stanzas, and waits until the server has taken the acknowledgement in (its answer to an <r/> after it). */
async function acknowledge(client: RawClient, h: number): Promise<void> {
  client.write(`<a xmlns='${SM}' h='${h}'/><r xmlns='${SM}'/>`)
  await client.until(/<a xmlns='urn:xmpp:sm:3' h='\d+'\/>/)
}

describe('XEP-0198 resumption across the nodes of a cluster', {skip}, () => {
  const cleanups: Array<() => unknown> = []
  const suite = {after: (fn: () => unknown) => cleanups.push(fn)}
  after(async () => {
    for (const fn of cleanups.reverse()) await fn()
  })
  const nodes: Node[] = []
  const cli = (node: Node, args: string[], stdin?: string) => runCli(args, {cwd: node.dir, stdin})

  before(async () => {
    const redis = await startRedis(suite)
    const postgres = await startPostgres('exit')
    const database = await postgres.createDatabase()
    for (const name of ['a', 'b']) {
      const dir = tempDir(suite, `xmppctl-resume-${name}-`)
      const port = await freePort()
      writePostgresConfig(dir, database, [
        'hosts: [localhost]',
        `listen:\n  - {port: ${port}, ip: 127.0.0.1}`,
        ...redisSettings(dir, redis),
        `cluster: {node: ${name}}`,
        'loglevel: debug',
      ])
      nodes.push({name, dir, port, pid: 0})
    }

    for (const user of ['alice', 'bob', 'carol', 'mallory']) {
      const added = await cli(nodes[0], ['user', 'add', `${user}@localhost`, '--password-stdin'], `${user} pw\n`)
      assert.equal(added.status, 0, added.stderr)
    }

    // bob sees alice's presence: he must hear nothing of her while her session moves.
    for (const [user, contact] of [['alice', 'bob'], ['bob', 'alice']]) {
      const added = await cli(nodes[0], ['roster', 'add', `${user}@localhost`, `${contact}@localhost`, '--subscription', 'both'])
      assert.equal(added.status, 0, added.stderr)
    }

    for (const node of nodes) await startInBackground(suite, node)
  })

  const [a, b] = [0, 1]

  it('gives ids that name the node, and refuses another account\'s id, an unknown one and one of an unknown node with item-not-found', async (t) => {
    const alice = await loginRaw(t, nodes[a].port, 'alice', 'alice pw', {resource: 'desk', presence: false})
    const id = await enable(alice)
    assert.match(id, /^[A-Za-z0-9_-]{24}~a$/)
    const forged = `${'A'.repeat(24)}~a`
    for (const [user, previd] of [['mallory', id], ['alice', forged], ['alice', `${id.slice(0, 24)}~z`], ['alice', id.slice(0, 24)]]) {
      const client = await loginRaw(t, nodes[b].port, user, `${user} pw`, {bind: false})
      client.write(`<resume xmlns='${SM}' previd='${previd}' h='0'/>`)
      assert.equal(await client.until(/<\/failed>/), NOT_FOUND, `${user} ${previd}`)
    }

    // alice's session stayed where it was, whole.
    assert.match(await sync(alice), /type='result'/)
    alice.write(`<r xmlns='${SM}'/>`)
    assert.match(await alice.until(/<a [^>]*\/>/), new RegExp(`<a xmlns='${SM}' h='1'/>$`))
  })

  let bob: RawClient
  let resumed: RawClient
  let id = ''
  /** alice's count of the stanzas she received (XEP-0198 §4 `h`), across her connections. */
  let count = 0

  it('resumes on node b a session of node a: <resumed/>, then what was not acknowledged, then new messages; contacts see no unavailable presence', async (t) => {
    bob = await loginRaw(suite, nodes[a].port, 'bob', 'bob pw', {resource: 'b'})
    await sync(bob)
    const alice = await loginRaw(t, nodes[a].port, 'alice', 'alice pw', {resource: 'phone', presence: false})
    id = await enable(alice)
    // Counted from here: alice sends her presence and a ping (the server's h is 2); she acknowledges up to m1.
    alice.write('<presence/>')
    assert.match(await next(bob, 'presence', "from='alice@localhost/phone'"), /^<presence from='alice@localhost\/phone' to='bob@localhost\/b'/)
    count = stanzas(await sync(alice))
    bob.write("<message to='alice@localhost/phone' type='chat' id='m1'><body>one</body></message>")
    bob.write("<message to='alice@localhost/phone' type='chat' id='m2'><body>two</body></message>")
    bob.write("<message to='alice@localhost/phone' type='chat' id='m3'><body>three</body></message>")
    await nextMessage(alice)
    const m2 = await nextMessage(alice)
    const m3 = await nextMessage(alice)
    assert.match(m2 + m3, /id='m2'[\s\S]*id='m3'/)
    await acknowledge(alice, ++count)
    alice.socket.destroy()

    // Kept for the next test.
    const again = await loginRaw(suite, nodes[b].port, 'alice', 'alice pw', {bind: false})
    again.write(`<resume xmlns='${SM}' previd='${id}' h='${count}'/>`)
    const answer = await again.until(/id='m3'[\s\S]*?<\/message>/)
    // Exactly: m2 and m3 as node a sent them the first time.
    assert.equal(answer, `<resumed xmlns='${SM}' h='2' previd='${id}'/>${m2}${m3}`)
    count += 2
    resumed = again

    // A message from node a to alice's full JID reaches her on node b, and hers reach bob.
    bob.write("<message to='alice@localhost/phone' type='chat' id='m4'><body>four</body></message>")
    assert.match(await nextMessage(again), /^<message to='alice@localhost\/phone' type='chat' id='m4' from='bob@localhost\/b'><body>four<\/body>/)
    count++
    again.write("<message to='bob@localhost/b' type='chat' id='m5'><body>from b</body></message>")
    assert.match(await nextMessage(bob), /^<message to='bob@localhost\/b' type='chat' id='m5' from='alice@localhost\/phone'><body>from b<\/body>/)
    assert.doesNotMatch(bob.received + (await sync(bob)), /type='unavailable'/)
    // Presence from node a and a message to her bare JID from node b reach her once each: no node keeps her old session too.
    bob.write('<presence><show>away</show></presence>')
    const carol = await loginRaw(t, nodes[b].port, 'carol', 'carol pw', {resource: 'c', presence: false})
    carol.write("<message to='alice@localhost' type='chat' id='bare1'><body>to her bare JID</body></message>")
    await sync(bob)
    await sync(carol)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const text = await sync(again)
    assert.equal((text.match(/<presence [^>]*from='bob@localhost\/b'/g) ?? []).length, 1, text)
    assert.equal((text.match(/<message [^>]*id='bare1'/g) ?? []).length, 1, text)
    count += stanzas(text)

    // Every node's registry has her on b now, once: a has bob and her detached desk session, b her phone session and carol.
    const status = await cli(nodes[a], ['status', '--json'])
    const cluster = (JSON.parse(status.stdout) as {cluster: {nodes: Array<{node: string; sessions: number}>}}).cluster
    assert.deepEqual(cluster.nodes.map(({node, sessions}) => ({node, sessions})), [
      {node: 'a', sessions: 2},
      {node: 'b', sessions: 2},
    ])
  })

  it('resumes the same session again on node a, with the id <enabled/> gave on node a', async (t) => {
    count += stanzas(await sync(resumed))
    bob.write("<message to='alice@localhost/phone' type='chat' id='m6'><body>six</body></message>")
    const m6 = await nextMessage(resumed)
    resumed.socket.destroy()

    const back = await loginRaw(t, nodes[a].port, 'alice', 'alice pw', {bind: false})
    back.write(`<resume xmlns='${SM}' previd='${id}' h='${count}'/>`)
    // She sent m5 and two pings on node b: h 5.
    assert.equal(await back.until(/id='m6'[\s\S]*?<\/message>/), `<resumed xmlns='${SM}' h='5' previd='${id}'/>${m6}`)
    assert.match(await sync(back), /type='result'/)
    assert.doesNotMatch(bob.received + (await sync(bob)), /type='unavailable'/)
  })

  it('pushes blocklist changes to a session resumed on another node that had fetched the list (XEP-0191 §3.3)', async (t) => {
    const phone = await loginRaw(t, nodes[a].port, 'carol', 'carol pw', {resource: 'phone', presence: false})
    const previd = await enable(phone)
    phone.write("<iq type='get' id='bl1'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
    assert.equal(await iqReply(phone, 'bl1'), "<iq type='result' id='bl1' to='carol@localhost/phone'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
    const handled = 1 + stanzas(await sync(phone))
    phone.socket.destroy()

    const again = await loginRaw(t, nodes[b].port, 'carol', 'carol pw', {bind: false})
    again.write(`<resume xmlns='${SM}' previd='${previd}' h='${handled}'/>`)
    assert.match(await again.until(/<resumed [^>]*\/>/), new RegExp(`^<resumed xmlns='${SM}' h='2' previd='${previd}'/>$`))
    // Another resource, on the node the session left, changes the list.
    const desk = await loginRaw(t, nodes[a].port, 'carol', 'carol pw', {resource: 'desk', presence: false})
    desk.write("<iq type='set' id='bl2'><block xmlns='urn:xmpp:blocking'><item jid='spam@example.org'/></block></iq>")
    assert.equal(await iqReply(desk, 'bl2'), "<iq type='result' id='bl2' to='carol@localhost/desk'/>")
    assert.match(await next(again, 'iq', "type='set'"), /^<iq type='set' id='block-push-\d+' to='carol@localhost\/phone'><block xmlns='urn:xmpp:blocking'><item jid='spam@example.org'\/><\/block><\/iq>$/)
    // desk never fetched the list.
    assert.doesNotMatch(await sync(desk), /block-push/)
  })

  it('moves a resumable session to node b when node a stops: its client, cut without a closing tag, resumes it on b, and contacts see no unavailable presence', async (t) => {
    const watcher = await loginRaw(t, nodes[b].port, 'bob', 'bob pw', {resource: 'w'})
    await sync(watcher)
    const alice = await loginRaw(t, nodes[a].port, 'alice', 'alice pw', {resource: 'laptop', presence: false})
    const laptop = await enable(alice)
    alice.write('<presence/>')
    assert.match(await next(watcher, 'presence', "from='alice@localhost/laptop'"), /^<presence from='alice@localhost\/laptop' to='bob@localhost\/w'/)
    const carol = await loginRaw(t, nodes[b].port, 'carol', 'carol pw', {resource: 'c', presence: false})
    carol.write("<message to='alice@localhost/laptop' type='chat' id='mv1'><body>before the restart</body></message>")
    const mv1 = await nextMessage(alice)
    assert.match(mv1, /id='mv1'/)

    const stopped = await cli(nodes[a], ['stop'])
    assert.equal(stopped.status, 0, stopped.stderr)
    await alice.waitClosed()
    assert.doesNotMatch(alice.received, /<\/stream:stream>|system-shutdown/)
    assert.match(readFileSync(path.join(nodes[a].dir, 'data', 'server.log'), 'utf8'), /cluster: (\d+) of \1 resumable session\(s\) moved to b before stopping/)

    const again = await loginRaw(t, nodes[b].port, 'alice', 'alice pw', {bind: false})
    again.write(`<resume xmlns='${SM}' previd='${laptop}' h='0'/>`)
    const answer = await again.until(/id='mv1'[\s\S]*?<\/message>/)
    assert.match(answer, new RegExp(`^<resumed xmlns='${SM}' h='1' previd='${laptop}'/>`))
    assert.ok(answer.endsWith(mv1), answer)
    watcher.write("<message to='alice@localhost/laptop' type='chat' id='mv2'><body>after the restart</body></message>")
    assert.match(await nextMessage(again), /^<message to='alice@localhost\/laptop' type='chat' id='mv2' from='bob@localhost\/w'><body>after the restart<\/body>/)
    assert.doesNotMatch(watcher.received + (await sync(watcher)), /<presence type='unavailable' from='alice@localhost\/laptop'/)

    // Node a starts again, for the next test.
    const started = await cli(nodes[a], ['start', '--json'])
    assert.equal(started.status, 0, started.stdout + started.stderr)
    nodes[a].pid = (JSON.parse(started.stdout) as {pid: number}).pid
  })

  it('after kill -9 of the node that held a session, refuses to resume it, and what the client had not acknowledged waits offline', async (t) => {
    const alice = await loginRaw(t, nodes[a].port, 'alice', 'alice pw', {resource: 'tablet', presence: false})
    const tablet = await enable(alice)
    const carol = await loginRaw(t, nodes[b].port, 'carol', 'carol pw', {resource: 'c', presence: false})
    carol.write("<message to='alice@localhost/tablet' type='chat' id='k1'><body>unacknowledged one</body></message>")
    carol.write("<message to='alice@localhost/tablet' type='chat' id='k2'><body>unacknowledged two</body></message>")
    await nextMessage(alice)
    assert.match(await nextMessage(alice), /id='k2'/)
    alice.socket.destroy()
    process.kill(nodes[a].pid, 'SIGKILL')

    const again = await loginRaw(t, nodes[b].port, 'alice', 'alice pw', {bind: false})
    again.write(`<resume xmlns='${SM}' previd='${tablet}' h='0'/>`)
    // At once when node b has seen node a go, or the request finds no one; at worst after the request's 5 s.
    assert.equal(await again.until(/<\/failed>/, 8000), NOT_FOUND)
    again.end()

    // Node b stores them once it sees node a dead.
    const deadline = Date.now() + NODE_DEATH_BOUND_MS + 3000
    let total = 0
    while (Date.now() < deadline) {
      const listed = await cli(nodes[b], ['offline', 'list', 'alice@localhost', '--json'])
      total = (JSON.parse(listed.stdout) as {total: number}).total
      if (total >= 2) break
      await new Promise((resolve) => setTimeout(resolve, 500))
    }

    assert.equal(total, 2)
    const back = await loginRaw(t, nodes[b].port, 'alice', 'alice pw', {resource: 'tablet'})
    const texts = [await nextMessage(back), await nextMessage(back)].join('')
    assert.match(texts, /id='k1' from='carol@localhost\/c'><body>unacknowledged one<\/body>.*<delay xmlns='urn:xmpp:delay'/)
    assert.match(texts, /id='k2' from='carol@localhost\/c'><body>unacknowledged two<\/body>.*<delay xmlns='urn:xmpp:delay'/)
  })
})

describe('XEP-0198 resumption across nodes: a handover that comes too late', {skip}, () => {
  const cleanups: Array<() => unknown> = []
  const suite = {after: (fn: () => unknown) => cleanups.push(fn)}
  // Servers stop before Redis and PostgreSQL do.
  after(async () => {
    for (const fn of cleanups.reverse()) await fn()
  })

  it('ends the session on the node it came to, as a timed-out resumption: unacknowledged messages stored once, unavailable presence to contacts', async (t) => {
    const redis = await startRedis(suite)
    const postgres = await startPostgres((fn) => suite.after(fn))
    const database = await postgres.createDatabase()
    const settings = (node: string) => ({
      sm_db_type: 'redis' as const,
      redis_server: '127.0.0.1',
      redis_port: redis.port,
      redis_password: redis.password,
      cluster: {node},
      sql_type: 'pgsql' as const,
      sql_server: database.host,
      sql_port: database.port,
      sql_database: database.database,
      sql_username: database.user,
      sql_password: database.password,
    })
    const first = await startTestServer(suite, {settings: settings('x')})
    // Node y gives up on an answer at once: every handover reaches it after the client was told item-not-found.
    const second = await startTestServer(suite, {settings: settings('y'), server: {cluster: {resumeRequestTimeoutMs: 0}}})
    await first.addUser('alice@localhost', 'alice pw')
    await first.addUser('bob@localhost', 'bob pw')
    const alice = await loginRaw(t, first.starttlsPort, 'alice', 'alice pw', {resource: 'phone'})
    const bob = await loginRaw(t, first.starttlsPort, 'bob', 'bob pw', {resource: 'b'})
    await subscribe(bob, alice)
    const previd = await enable(alice)
    bob.write("<message to='alice@localhost/phone' type='chat' id='late1'><body>not acknowledged</body></message>")
    await nextMessage(alice)
    alice.socket.destroy()
    await sync(bob)
    bob.received = ''

    const again = await loginRaw(t, second.starttlsPort, 'alice', 'alice pw', {bind: false})
    again.write(`<resume xmlns='${SM}' previd='${previd}' h='0'/>`)
    assert.equal(await again.until(/<\/failed>/), NOT_FOUND)
    // The handover that came after: node y ends the session.
    assert.equal(await next(bob, 'presence', "type='unavailable'"), "<presence type='unavailable' from='alice@localhost/phone' to='bob@localhost/b'/>")
    const stored = async () => (await storeQuery<{n: number}>(first.config, "SELECT count(*) AS n FROM offline_messages WHERE username = 'alice'"))[0].n
    for (let waited = 0; (await stored()) === 0 && waited < 3000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100))
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.equal(await stored(), 1)
    for (const test of [first, second]) assert.deepEqual(test.server.router.all('alice@localhost'), [])
    assert.doesNotMatch(bob.received + (await sync(bob)), /type='unavailable'/, 'said once')
  })
})
