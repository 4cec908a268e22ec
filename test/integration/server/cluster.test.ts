/**
 * A cluster of three `xmppctl start` nodes (sm_db_type: redis) sharing one
 * PostgreSQL database and one Redis, each a real daemon on its own port:
 * clients logged in to different nodes exchange messages, presence and iq,
 * `user disable` on one node closes the account's sessions on another, and
 * after kill -9 of a node its users' contacts see them go unavailable within
 * the bound and messages for them wait in offline storage.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {createClient} from '@redis/client'

import {freePort, runCli, startInBackground, tempDir} from '../../helpers.js'
import {postgresMissing, startPostgres, writePostgresConfig} from '../../postgres.js'
import {redisMissing, redisSettings, startRedis} from '../../redis.js'
import {slixmppAvailable, startSlixmpp} from '../../interop/clients.js'
import {NODE_DEATH_BOUND_MS, OCCUPANT_ID, type RawClient, iqReply, loginRaw, next, nextMessage, roomIdPlaceholders, sync} from './helpers.js'
import {fetchUrl} from './web-helpers.js'

// CI must run these (CI=true fails rather than skips).
const skip = process.env.CI === 'true' ? false : (postgresMissing() ?? redisMissing() ?? (slixmppAvailable ? false : 'python3-slixmpp is not installed'))


interface Node {
  name: string
  dir: string
  port: number
  httpPort: number
  pid: number
}

describe('a cluster of three nodes on Redis and PostgreSQL', {skip}, () => {
  const cleanups: Array<() => unknown> = []
  const suite = {after: (fn: () => unknown) => cleanups.push(fn)}
  after(async () => {
    for (const fn of cleanups.reverse()) await fn()
  })
  const nodes: Node[] = []
  const cli = (node: Node, args: string[], stdin?: string) => runCli(args, {cwd: node.dir, stdin})

  let redis: Awaited<ReturnType<typeof startRedis>>
  before(async () => {
    redis = await startRedis(suite)
    const postgres = await startPostgres('exit')
    const database = await postgres.createDatabase()
    for (const name of ['n1', 'n2', 'n3']) {
      const dir = tempDir(suite, `xmppctl-cluster-${name}-`)
      const [port, httpPort] = [await freePort(), await freePort()]
      writePostgresConfig(dir, database, [
        'hosts: [localhost]',
        `listen:\n  - {port: ${port}, ip: 127.0.0.1}\n  - {port: ${httpPort}, ip: 127.0.0.1, module: http, tls: true, request_handlers: {/bosh: mod_bosh}}`,
        ...redisSettings(dir, redis),
        `cluster: {node: ${name}}`,
        'loglevel: debug',
      ])
      nodes.push({name, dir, port, httpPort, pid: 0})
    }

    for (const user of ['alice', 'bob', 'carol', 'dave', 'erin', 'gina']) {
      const added = await cli(nodes[0], ['user', 'add', `${user}@localhost`, '--password-stdin'], `${user} pw\n`)
      assert.equal(added.status, 0, added.stderr)
    }

    // alice sees bob's, carol's and dave's presence, and they see hers.
    for (const [user, contact] of [['alice', 'bob'], ['bob', 'alice'], ['alice', 'carol'], ['carol', 'alice'], ['alice', 'dave'], ['dave', 'alice']]) {
      const added = await cli(nodes[0], ['roster', 'add', `${user}@localhost`, `${contact}@localhost`, '--subscription', 'both'])
      assert.equal(added.status, 0, added.stderr)
    }

    for (const node of nodes) await startInBackground(suite, node)
  })

  let alice: RawClient
  let bob: RawClient

  it('routes messages between nodes both ways, to bare and full JIDs, and shows presence across nodes', async () => {
    alice = await loginRaw(suite, nodes[0].port, 'alice', 'alice pw', {resource: 'a'})
    // Her own presence comes back; bob is not online yet: nothing else.
    assert.equal(await next(alice, 'presence'), "<presence from='alice@localhost/a' to='alice@localhost/a'/>")
    bob = await loginRaw(suite, nodes[1].port, 'bob', 'bob pw', {resource: 'b'})
    // bob's initial presence on n2 reaches alice on n1; alice's presence reaches bob from the mirror of n1's sessions.
    assert.equal(await next(alice, 'presence', "from='bob"), "<presence from='bob@localhost/b' to='alice@localhost/a'/>")
    assert.equal(await next(bob, 'presence', "from='alice"), "<presence from='alice@localhost/a' to='bob@localhost/b'/>")
    await sync(bob)

    alice.write("<message to='bob@localhost' type='chat' id='m1'><body>bare, n1 to n2</body></message>")
    assert.match(await nextMessage(bob), /^<message to='bob@localhost' type='chat' id='m1' from='alice@localhost\/a'><body>bare, n1 to n2<\/body><stanza-id xmlns='urn:xmpp:sid:0' id='\d+' by='bob@localhost'\/><\/message>$/)
    bob.write("<message to='alice@localhost/a' type='chat' id='m2'><body>full, n2 to n1</body></message>")
    assert.match(await nextMessage(alice), /^<message to='alice@localhost\/a' type='chat' id='m2' from='bob@localhost\/b'><body>full, n2 to n1<\/body><stanza-id xmlns='urn:xmpp:sid:0' id='\d+' by='alice@localhost'\/><\/message>$/)
  })

  it('sends what one turn has for another node in one publish, in order', async (t) => {
    // n2's channel as Redis carries it.
    const watcher = createClient({socket: {host: '127.0.0.1', port: redis.port}, password: redis.password})
    watcher.on('error', () => {})
    await watcher.connect()
    t.after(() => (watcher.isOpen ? watcher.quit() : undefined))
    const published: Array<Record<string, unknown>> = []
    await watcher.subscribe('xmppctl:node:n2', (message) => published.push(JSON.parse(message) as Record<string, unknown>))
    // Twenty messages in one write, which n1 reads at once.
    alice.write(Array.from({length: 20}, (_, index) => `<message to='bob@localhost/b' type='chat' id='burst${index}'><body>${index}</body></message>`).join(''))
    for (let index = 0; index < 20; index++) {
      assert.match(await nextMessage(bob), new RegExp(`^<message to='bob@localhost/b' type='chat' id='burst${index}' from='alice@localhost/a'><body>${index}</body>`))
    }

    const burst = () => published.flatMap((message) => (Array.isArray(message.b) ? (message.b as Array<Record<string, unknown>>) : [message])).filter((message) => typeof message.s === 'string' && message.s.includes("id='burst"))
    // The watcher reads the channel beside n2: bounded wait for it to have read as much.
    for (let waited = 0; burst().length < 20 && waited < 2000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20))
    const stanzas = burst()
    assert.deepEqual(
      stanzas.map((message) => /id='(burst\d+)'/.exec(message.s as string)?.[1]),
      Array.from({length: 20}, (_, index) => `burst${index}`),
    )
    // One publish per stanza would be twenty; stanzas the parser read in one turn share one.
    assert.ok(published.length < 20, `${published.length} publishes for 20 stanzas`)
  })

  it('holds back what may wait for a client that is inactive (XEP-0352), also when it comes from another node', async () => {
    bob.write("<inactive xmlns='urn:xmpp:csi:0'/>")
    await sync(bob)
    bob.received = ''
    alice.write('<presence><show>dnd</show></presence>')
    alice.write("<message to='bob@localhost/b' type='chat' id='c1'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
    await sync(alice)
    await sleep(300)
    assert.equal(bob.received, '')
    // A message with a body cannot wait: what waited goes first.
    alice.write("<message to='bob@localhost/b' type='chat' id='m9'><body>now</body></message>")
    assert.match(
      await bob.until(/<\/body>.*<\/message>/),
      new RegExp(
        "^<presence from='alice@localhost/a' to='bob@localhost/b'><show>dnd</show></presence>" +
          "<message to='bob@localhost/b' type='chat' id='c1' from='alice@localhost/a'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>" +
          "<message to='bob@localhost/b' type='chat' id='m9' from='alice@localhost/a'><body>now</body><stanza-id xmlns='urn:xmpp:sid:0' id='\\d+' by='bob@localhost'/></message>$",
      ),
    )
    bob.write("<active xmlns='urn:xmpp:csi:0'/>")
    alice.write('<presence/>')
    assert.equal(await next(bob, 'presence', "from='alice"), "<presence from='alice@localhost/a' to='bob@localhost/b'/>")
  })

  it('carries an iq to a full JID on another node and its result back', async () => {
    alice.write("<iq type='get' id='v1' to='bob@localhost/b'><query xmlns='jabber:iq:version'/></iq>")
    assert.equal(await next(bob, 'iq', "id='v1'"), "<iq type='get' id='v1' to='bob@localhost/b' from='alice@localhost/a'><query xmlns='jabber:iq:version'/></iq>")
    bob.write("<iq type='result' id='v1' to='alice@localhost/a'><query xmlns='jabber:iq:version'><name>raw</name></query></iq>")
    assert.equal(await iqReply(alice, 'v1'), "<iq type='result' id='v1' to='alice@localhost/a' from='bob@localhost/b'><query xmlns='jabber:iq:version'><name>raw</name></query></iq>")
  })

  it('copies carbons to a resource on another node, both ways', async (t) => {
    bob.write("<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
    assert.equal(await iqReply(bob, 'c1'), "<iq type='result' id='c1' to='bob@localhost/b'/>")
    // A second resource of bob, on n3, without presence (its presence would reach alice).
    const other = await loginRaw(t, nodes[2].port, 'bob', 'bob pw', {resource: 'b3', presence: false})
    other.write("<iq type='set' id='c2'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
    assert.equal(await iqReply(other, 'c2'), "<iq type='result' id='c2' to='bob@localhost/b3'/>")
    // A message from alice (n1) to bob/b (n2): bob/b3 (n3) gets a <received/> carbon.
    alice.write("<message to='bob@localhost/b' type='chat' id='m7'><body>to b</body></message>")
    assert.match(await nextMessage(bob), /^<message to='bob@localhost\/b' type='chat' id='m7' from='alice@localhost\/a'><body>to b<\/body>/)
    assert.match(await nextMessage(other), /^<message from='bob@localhost' to='bob@localhost\/b3' type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='bob@localhost\/b' type='chat' id='m7' from='alice@localhost\/a'><body>to b<\/body>/)
    // bob/b3 (n3) writes to alice: bob/b (n2) gets a <sent/> carbon.
    other.write("<message to='alice@localhost' type='chat' id='m8'><body>from b3</body></message>")
    assert.match(await nextMessage(alice), /^<message to='alice@localhost' type='chat' id='m8' from='bob@localhost\/b3'><body>from b3<\/body>/)
    assert.match(await nextMessage(bob), /^<message from='bob@localhost' to='bob@localhost\/b' type='chat'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='alice@localhost' type='chat' id='m8' from='bob@localhost\/b3'><body>from b3<\/body>/)
    other.end()
    await sync(bob)
  })

  it('pushes a roster change made on one node to a session on another', async () => {
    bob.write("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
    await iqReply(bob, 'r1')
    const added = await cli(nodes[0], ['roster', 'add', 'bob@localhost', 'frank@localhost', '--name', 'Frank'])
    assert.equal(added.status, 0, added.stderr)
    assert.match(await next(bob, 'iq', "type='set'"), /^<iq type='set' id='[^']+' to='bob@localhost\/b'><query xmlns='jabber:iq:roster' ver='[^']+'><item jid='frank@localhost' name='Frank' subscription='none'\/><\/query><\/iq>$/)
  })

  it('applies a block made on one node to a sender on another, whose node had the blocklist cached', async (t) => {
    const gina = await loginRaw(t, nodes[2].port, 'gina', 'gina pw', {resource: 'g', presence: false})
    alice.write("<message to='gina@localhost/g' type='chat' id='m9'><body>before</body></message>")
    assert.match(await nextMessage(gina), /^<message to='gina@localhost\/g' type='chat' id='m9' from='alice@localhost\/a'><body>before<\/body>/)
    gina.write("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='alice@localhost'/></block></iq>")
    assert.equal(await iqReply(gina, 'b1'), "<iq type='result' id='b1' to='gina@localhost/g'/>")
    alice.write("<message to='gina@localhost/g' type='chat' id='m10'><body>after</body></message>")
    assert.equal(await nextMessage(alice), "<message type='error' id='m10' from='gina@localhost/g' to='alice@localhost/a'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
    assert.doesNotMatch(await sync(gina), /<message/)
  })

  it('pushes a blocklist change made through one node to a resource on another that fetched the list, and to no other', async (t) => {
    const here = await loginRaw(t, nodes[0].port, 'dave', 'dave pw', {resource: 'd1', presence: false})
    const there = await loginRaw(t, nodes[1].port, 'dave', 'dave pw', {resource: 'd2', presence: false})
    there.write("<iq type='get' id='bl1'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
    assert.equal(await iqReply(there, 'bl1'), "<iq type='result' id='bl1' to='dave@localhost/d2'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
    here.write("<iq type='set' id='bl2'><block xmlns='urn:xmpp:blocking'><item jid='spam@example.org'/></block></iq>")
    assert.equal(await iqReply(here, 'bl2'), "<iq type='result' id='bl2' to='dave@localhost/d1'/>")
    assert.match(await next(there, 'iq', "type='set'"), /^<iq type='set' id='block-push-\d+' to='dave@localhost\/d2'><block xmlns='urn:xmpp:blocking'><item jid='spam@example.org'\/><\/block><\/iq>$/)
    // d1 never fetched the list (XEP-0191 §3.3).
    assert.doesNotMatch(await sync(here), /block-push/)
  })

  it("sends a PEP notification published on one node to a contact's resource on another that asked for it with +notify caps, and not to one that did not", async (t) => {
    const tune = 'http://jabber.org/protocol/tune'
    const features = ['http://jabber.org/protocol/disco#info', tune, `${tune}+notify`]
    // XEP-0115 §5.1 for one identity (client/pc, name "test").
    const ver = createHash('sha1').update(`client/pc//test<${[...features].sort().map((feature) => `${feature}<`).join('')}`).digest('base64')
    const dave = await loginRaw(t, nodes[1].port, 'dave', 'dave pw', {resource: 'd', presence: false})
    dave.write(`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://xmppctl.test/client' ver='${ver}'/></presence>`)
    const query = await next(dave, 'iq', "type='get'")
    const id = /id='([^']+)'/.exec(query)![1]
    dave.write(`<iq type='result' id='${id}' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='https://xmppctl.test/client#${ver}'><identity category='client' type='pc' name='test'/>${features.map((feature) => `<feature var='${feature}'/>`).join('')}</query></iq>`)
    await sync(dave)
    // Behind what n2 told the others of dave's caps on the same Redis connection: n1 knows them once this message is there.
    dave.write("<message to='alice@localhost/a' type='chat' id='p1'><body>caps told</body></message>")
    assert.match(await nextMessage(alice), /id='p1'/)
    alice.write(`<iq type='set' id='pub1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${tune}'><item id='t1'><tune xmlns='${tune}'><title>n1</title></tune></item></publish></pubsub></iq>`)
    assert.equal(await iqReply(alice, 'pub1'), `<iq type='result' id='pub1' to='alice@localhost/a'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${tune}'><item id='t1'/></publish></pubsub></iq>`)
    assert.match(await next(dave, 'message', "type='headline'"), new RegExp(`^<message type='headline' from='alice@localhost' id='pep-\\d+' to='dave@localhost/d'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='${tune.replaceAll('.', '\\.')}'><item id='t1'><tune xmlns='${tune.replaceAll('.', '\\.')}'><title>n1</title></tune></item></items></event></message>$`))
    // bob (n2) is alice's contact too, available, without +notify caps.
    assert.doesNotMatch(await sync(bob), /pubsub#event/)
    dave.end()
  })

  it('keeps a room on one node: occupants bound to different nodes see each other and its messages, xmppctl muc list on any node shows it, and an occupant whose session ends on its node leaves it', async (t) => {
    const room = 'tea@conference.localhost'
    const muc = (items: string, ...codes: string[]) => `<x xmlns='http://jabber.org/protocol/muc#user'>${items}${codes.map((code) => `<status code='${code}'/>`).join('')}</x>`
    const join = async (client: RawClient, nick: string) => {
      client.write(`<presence to='${room}/${nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
      return roomIdPlaceholders(await client.until(/<subject(\/>|>[\s\S]*?<\/subject>)<\/message>/))
    }

    const dave = await loginRaw(t, nodes[1].port, 'dave', 'dave pw', {resource: 'd1', presence: false})
    const gina = await loginRaw(t, nodes[0].port, 'gina', 'gina pw', {resource: 'g1', presence: false})
    // The first join, through n2, makes n2 the node that serves conference.localhost.
    assert.equal(
      await join(dave, 'Dave'),
      `<presence to='dave@localhost/d1' from='${room}/Dave'>${muc("<item affiliation='owner' role='moderator' jid='dave@localhost/d1'/>", '110', '201')}${OCCUPANT_ID}</presence>` +
        `<message type='groupchat' id='MID' to='dave@localhost/d1' from='${room}'><subject/></message>`,
    )
    // gina, on n1, joins the room dave made through n2: the same room.
    assert.equal(
      await join(gina, 'Gina'),
      `<presence to='gina@localhost/g1' from='${room}/Dave'>${muc("<item affiliation='owner' role='moderator'/>")}${OCCUPANT_ID}</presence>` +
        `<presence to='gina@localhost/g1' from='${room}/Gina'>${muc("<item affiliation='none' role='participant' jid='gina@localhost/g1'/>", '110')}${OCCUPANT_ID}</presence>` +
        `<message type='groupchat' id='MID' to='gina@localhost/g1' from='${room}'><subject/></message>`,
    )
    assert.equal(roomIdPlaceholders(await next(dave, 'presence', `from='${room}/Gina'`)), `<presence to='dave@localhost/d1' from='${room}/Gina'>${muc("<item affiliation='none' role='participant' jid='gina@localhost/g1'/>")}${OCCUPANT_ID}</presence>`)
    gina.write(`<message type='groupchat' to='${room}' id='g1'><body>one room</body></message>`)
    const relayed = (to: string) => `<message type='groupchat' id='g1' to='${to}' from='${room}/Gina'><body>one room</body>${OCCUPANT_ID}<stanza-id xmlns='urn:xmpp:sid:0' id='SID' by='${room}'/></message>`
    assert.equal(roomIdPlaceholders(await nextMessage(dave)), relayed('dave@localhost/d1'))
    assert.equal(roomIdPlaceholders(await nextMessage(gina)), relayed('gina@localhost/g1'))

    // Every node lists it, with both occupants, from the node that holds it.
    for (const node of nodes) {
      const listed = await cli(node, ['muc', 'list', '--json'])
      assert.equal(listed.status, 0, listed.stderr)
      assert.deepEqual((JSON.parse(listed.stdout) as {rooms: Array<{jid: string; occupants: number}>}).rooms.map(({jid, occupants}) => ({jid, occupants})), [{jid: room, occupants: 2}])
    }

    // gina's connection drops on n1: the room on n2 hears it (RFC 6121 §4.6.3), and dave sees her leave.
    gina.socket.destroy()
    assert.equal(roomIdPlaceholders(await next(dave, 'presence', `from='${room}/Gina'`)), `<presence type='unavailable' to='dave@localhost/d1' from='${room}/Gina'>${muc("<item affiliation='none' role='none' jid='gina@localhost/g1'/>")}${OCCUPANT_ID}</presence>`)

    // A join whose session ends at once, before the room on n2 took the join in: no occupant stays behind.
    for (let attempt = 0; attempt < 5; attempt++) {
      const hasty = await loginRaw(t, nodes[0].port, 'gina', 'gina pw', {resource: `h${attempt}`, presence: false})
      hasty.write(`<presence to='${room}/Hasty${attempt}'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
      hasty.socket.destroy()
    }

    await new Promise((resolve) => setTimeout(resolve, 1500))
    const after = await cli(nodes[2], ['muc', 'list', '--json'])
    assert.deepEqual((JSON.parse(after.stdout) as {rooms: Array<{jid: string; occupants: number}>}).rooms.map(({jid, occupants}) => ({jid, occupants})), [{jid: room, occupants: 1}])
    dave.end()
  })

  it('serves a BOSH session whose requests reach different nodes: each node hands them to the node that holds the session', async () => {
    const httpbind = 'http://jabber.org/protocol/httpbind'
    const bosh = async (node: Node, body: string) => (await fetchUrl(`https://127.0.0.1:${node.httpPort}/bosh`, {method: 'POST', body: Buffer.from(body), headers: {'Content-Type': 'text/xml; charset=utf-8'}})).body.toString('utf8')
    let rid = 500
    const created = await bosh(nodes[0], `<body xmlns='${httpbind}' hold='1' rid='${rid}' to='localhost' wait='10' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>`)
    const sid = /sid='([^']+)'/.exec(created)![1]
    // The sid names the node that holds the session.
    assert.match(sid, /^[A-Za-z0-9_-]{32}~n1$/)
    const plain = Buffer.from('\0erin\0erin pw').toString('base64')
    assert.equal(await bosh(nodes[1], `<body xmlns='${httpbind}' rid='${++rid}' sid='${sid}'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain}</auth></body>`), `<body xmlns='${httpbind}'><success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></body>`)
    assert.match(await bosh(nodes[2], `<body xmlns='${httpbind}' rid='${++rid}' sid='${sid}' to='localhost' xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh'/>`), /<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'\/>/)
    assert.equal(
      await bosh(nodes[1], `<body xmlns='${httpbind}' rid='${++rid}' sid='${sid}'><iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq></body>`),
      `<body xmlns='${httpbind}'><iq xmlns='jabber:client' type='result' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>erin@localhost/web</jid></bind></iq></body>`,
    )
    // A request held through n3 carries alice's message (from n1) as soon as it comes.
    const held = bosh(nodes[2], `<body xmlns='${httpbind}' rid='${++rid}' sid='${sid}'/>`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    alice.write("<message to='erin@localhost/web' type='chat' id='w1'><body>to the web</body></message>")
    assert.match(await held, /^<body xmlns='http:\/\/jabber\.org\/protocol\/httpbind'><message xmlns='jabber:client' to='erin@localhost\/web' type='chat' id='w1' from='alice@localhost\/a'><body>to the web<\/body>/)
    assert.equal(await bosh(nodes[1], `<body xmlns='${httpbind}' rid='${++rid}' sid='${sid}' type='terminate'/>`), `<body xmlns='${httpbind}' type='terminate' xmlns:stream='http://etherx.jabber.org/streams'></body>`)
    // Ended, the session is held nowhere: n1, asked through n3, does not know it.
    assert.equal(await bosh(nodes[2], `<body xmlns='${httpbind}' rid='${rid + 1}' sid='${sid}'/>`), `<body xmlns='${httpbind}' type='terminate' condition='item-not-found'/>`)
  })

  it('finds a session in Redis when its announcement has not reached this node yet, and delivers to it rather than store the message', async (t) => {
    const carol = await loginRaw(t, nodes[2].port, 'carol', 'carol pw', {resource: 'late', presence: false})
    // n1 and n2 drop carol/late from their registry mirrors, as if the announcement of her bind had not reached them yet.
    const published = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), '--no-auth-warning', '-a', redis.password, 'PUBLISH', 'xmppctl:events', JSON.stringify({t: 'unbind', node: 'n3', jid: 'carol@localhost/late'})], {encoding: 'utf8'})
    assert.equal(published.stdout.trim(), '3')
    await sync(alice)
    alice.write("<message to='carol@localhost/late' type='chat' id='late1'><body>found in Redis</body></message>")
    assert.match(await nextMessage(carol), /^<message to='carol@localhost\/late' type='chat' id='late1' from='alice@localhost\/a'><body>found in Redis<\/body>/)
  })

  it('lets slixmpp on a third node get a message from the first and answer it', async (t) => {
    // carol (slixmpp) on n3 sends to alice on n1 once she is in, then waits for alice's message.
    const carol = startSlixmpp(t, {jid: 'carol@localhost/slix', password: 'carol pw', port: nodes[2].port, send_to: 'alice@localhost', body: 'from slixmpp on n3', wait_message: true, timeout: 20}, 'client.py')
    await carol.next('session')
    assert.match(await next(alice, 'presence', "from='carol"), /^<presence [^>]*from='carol@localhost\/slix' to='alice@localhost\/a'/)
    // Its own presence, then alice's from n1's registry.
    assert.deepEqual([await carol.next('presence'), await carol.next('presence')].map((event) => event.frm).sort(), ['alice@localhost/a', 'carol@localhost/slix'])
    assert.match(await nextMessage(alice), /^<message type='chat' to='alice@localhost' id='\w+' xml:lang='en' from='carol@localhost\/slix'><body>from slixmpp on n3<\/body><stanza-id xmlns='urn:xmpp:sid:0' id='\d+' by='alice@localhost'\/><\/message>$/)
    alice.write("<message to='carol@localhost/slix' type='chat' id='m6'><body>from raw on n1</body></message>")
    assert.deepEqual(await carol.next('message'), {event: 'message', frm: 'alice@localhost/a', body: 'from raw on n1'})
    await carol.finished
    assert.equal(await next(alice, 'presence', "from='carol"), "<presence type='unavailable' from='carol@localhost/slix' to='alice@localhost/a'/>")
  })

  it('shows every node with its sessions and health in xmppctl status', async () => {
    const status = await cli(nodes[0], ['status', '--json'])
    assert.equal(status.status, 0, status.stderr)
    const cluster = (JSON.parse(status.stdout) as {cluster: {node: string; nodes: Array<{node: string; health: string; sessions: number}>}}).cluster
    assert.equal(cluster.node, 'n1')
    assert.deepEqual(cluster.nodes.map(({node, health, sessions}) => ({node, health, sessions})), [
      {node: 'n1', health: 'up', sessions: 1},
      {node: 'n2', health: 'up', sessions: 1},
      {node: 'n3', health: 'up', sessions: 0},
    ])
    const text = await cli(nodes[1], ['status'])
    assert.match(text.stdout, /^ {2}cluster node n2, Redis 127\.0\.0\.1:\d+\/0:\n {4}n1: up, 1 session, pid \d+\n {4}n2: up, 1 session, pid \d+\n {4}n3: up, 0 sessions, pid \d+$/m)
  })

  it('closes the sessions of a disabled account on every node', async (t) => {
    const dave = await loginRaw(t, nodes[1].port, 'dave', 'dave pw', {resource: 'd'})
    await sync(dave)
    const disabled = await cli(nodes[0], ['user', 'disable', 'dave@localhost'])
    assert.equal(disabled.status, 0, disabled.stderr)
    assert.equal(await dave.until(/<\/stream:stream>/), "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>the account was disabled</text></stream:error></stream:stream>")
    await dave.waitClosed()
  })

  it('stores a message for an account with no session on any node once', async () => {
    alice.write("<message to='erin@localhost' type='chat' id='m3'><body>erin is offline</body></message>")
    await sync(alice)
    const listed = await cli(nodes[2], ['offline', 'list', 'erin@localhost', '--json'])
    assert.equal(listed.status, 0, listed.stderr)
    assert.equal((JSON.parse(listed.stdout) as {total: number}).total, 1)
  })

  it('closes the sessions of a deleted account on every node', async (t) => {
    const erin = await loginRaw(t, nodes[2].port, 'erin', 'erin pw', {resource: 'e'})
    // The message stored while she had no session anywhere, once.
    assert.match(await nextMessage(erin), /^<message to='erin@localhost' type='chat' id='m3' from='alice@localhost\/a'><body>erin is offline<\/body><stanza-id xmlns='urn:xmpp:sid:0' id='\d+' by='erin@localhost'\/><delay xmlns='urn:xmpp:delay' from='localhost' stamp='[^']+'\/><\/message>$/)
    assert.doesNotMatch(await sync(erin), /<message/)
    const deleted = await cli(nodes[0], ['user', 'delete', 'erin@localhost', '--force'])
    assert.equal(deleted.status, 0, deleted.stderr)
    assert.equal(await erin.until(/<\/stream:stream>/), "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>the account was deleted</text></stream:error></stream:stream>")
    await erin.waitClosed()
  })

  it('reads the registry again once its subscription to Redis is back, and routes to a session bound while it was away', async (t) => {
    const redisCli = (password: string, ...command: string[]) => spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), '--no-auth-warning', '-a', password, ...command], {encoding: 'utf8'}).stdout.trim()
    const resynced = () => readFileSync(path.join(nodes[0].dir, 'data', 'server.log'), 'utf8').includes('cluster: node n1 subscribed again')
    assert.equal(resynced(), false)
    // The nodes' subscriptions are cut, and cannot come back while Redis asks for another password;
    // their other connections stay logged in, so gina's session on n2 is registered, and n1 hears nothing of it.
    assert.equal(redisCli(redis.password, 'CONFIG', 'SET', 'requirepass', 'away'), 'OK')
    // Whatever fails below, the later tests get their Redis back.
    t.after(() => redisCli('away', 'CONFIG', 'SET', 'requirepass', redis.password))
    assert.match(redisCli('away', 'CLIENT', 'KILL', 'TYPE', 'pubsub'), /^[1-9]\d*$/)
    const gina = await loginRaw(t, nodes[1].port, 'gina', 'gina pw', {resource: 'g2', presence: false})
    assert.equal(redisCli('away', 'CONFIG', 'SET', 'requirepass', redis.password), 'OK')
    // The subscriber retries every 2 s at most; bounded wait.
    for (let waited = 0; !resynced() && waited < 10_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100))
    assert.ok(resynced(), 'n1 read the registry again')
    const carol = await loginRaw(t, nodes[0].port, 'carol', 'carol pw', {resource: 'c', presence: false})
    carol.write("<message to='gina@localhost/g2' type='chat' id='rs1'><body>after the blip</body></message>")
    assert.match(await nextMessage(gina), /^<message to='gina@localhost\/g2' type='chat' id='rs1' from='carol@localhost\/c'><body>after the blip<\/body>/)
    carol.end()
    gina.end()
    await Promise.all([carol.waitClosed(), gina.waitClosed()])
  })

  it('after kill -9 of a node, its users go unavailable for contacts within the bound and their messages wait offline', async (t) => {
    // gina, on n1, joins a room that n2 serves; n2 stops before it reads her message to the room, and dies.
    const gina = await loginRaw(t, nodes[0].port, 'gina', 'gina pw', {resource: 'g9', presence: false})
    gina.write("<presence to='lost@conference.localhost/Gina'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await gina.until(/<subject\/><\/message>/)
    // n2 acknowledges the join to n1 within 50 ms (ACK_DELAY_MS); unacknowledged, n1 would serve it again too.
    await sleep(300)
    process.kill(nodes[1].pid, 'SIGSTOP')
    gina.write("<message type='groupchat' to='lost@conference.localhost' id='lost1'><body>as n2 died</body></message>")
    await sync(gina)
    await sync(alice)
    const killed = Date.now()
    process.kill(nodes[1].pid, 'SIGKILL')
    // Before the others see n2 dead: the stanza published to n2 reaches no one, and is stored.
    alice.write("<message to='bob@localhost/b' type='chat' id='m4'><body>sent as n2 died</body></message>")
    // A request n2 never took is answered by n1, before alice hears bob left (RFC 6120 §8.2.3, §10.5.3.2).
    alice.write("<iq to='bob@localhost/b' type='get' id='v4'><ping xmlns='urn:xmpp:ping'/></iq>")
    const log = () => readFileSync(path.join(nodes[0].dir, 'data', 'server.log'), 'utf8').slice(-6000)
    assert.equal(
      await alice.until(/<presence [^>]*from='bob[^>]*\/>/, NODE_DEATH_BOUND_MS),
      "<iq type='error' id='v4' from='bob@localhost/b' to='alice@localhost/a'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>" +
        "<presence type='unavailable' from='bob@localhost/b' to='alice@localhost/a'/>",
    )
    const elapsed = Date.now() - killed
    assert.ok(elapsed <= NODE_DEATH_BOUND_MS, `unavailable after ${elapsed} ms`)
    alice.write("<message to='bob@localhost' type='chat' id='m5'><body>bob is gone</body></message>")
    await sync(alice)
    // n2 never acknowledged gina's message: n1 serves it again once it sees n2 dead, now for the service it took over, where the room died with n2.
    assert.equal(
      await nextMessage(gina),
      "<message type='error' id='lost1' from='lost@conference.localhost' to='gina@localhost/g9'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>there is no room lost@conference.localhost</text></error></message>",
    )
    gina.end()
    await gina.waitClosed()

    const waiting = await cli(nodes[0], ['offline', 'list', 'bob@localhost', '--json'])
    assert.equal((JSON.parse(waiting.stdout) as {total: number}).total, 2, `${waiting.stdout}\n${log()}`)
    const back = await loginRaw(t, nodes[0].port, 'bob', 'bob pw', {resource: 'b2'})
    const first = await nextMessage(back)
    const second = await nextMessage(back)
    assert.match(first, /^<message to='bob@localhost\/b' type='chat' id='m4' from='alice@localhost\/a'><body>sent as n2 died<\/body><stanza-id xmlns='urn:xmpp:sid:0' id='\d+' by='bob@localhost'\/><delay xmlns='urn:xmpp:delay' from='localhost' stamp='[^']+'\/><\/message>$/)
    assert.match(second, /^<message to='bob@localhost' type='chat' id='m5' from='alice@localhost\/a'><body>bob is gone<\/body><stanza-id xmlns='urn:xmpp:sid:0' id='\d+' by='bob@localhost'\/><delay xmlns='urn:xmpp:delay' from='localhost' stamp='[^']+'\/><\/message>$/)
    assert.doesNotMatch(await sync(back), /<message/)
    const status = await cli(nodes[0], ['status', '--json'])
    const cluster = (JSON.parse(status.stdout) as {cluster: {nodes: Array<{node: string; health: string; sessions: number}>}}).cluster
    assert.deepEqual(cluster.nodes.map(({node, health, sessions}) => ({node, health, sessions})), [
      {node: 'n1', health: 'up', sessions: 2},
      {node: 'n2', health: 'down', sessions: 0},
      {node: 'n3', health: 'up', sessions: 0},
    ])
  })

  it('serves the rooms of the killed node from another: a join through n1 makes the room anew there', async (t) => {
    const gina = await loginRaw(t, nodes[0].port, 'gina', 'gina pw', {resource: 'g2', presence: false})
    gina.write("<presence to='tea@conference.localhost/Gina'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    assert.match(await gina.until(/<subject\/><\/message>/), /^<presence to='gina@localhost\/g2' from='tea@conference\.localhost\/Gina'><x xmlns='http:\/\/jabber\.org\/protocol\/muc#user'><item affiliation='owner' role='moderator' jid='gina@localhost\/g2'\/><status code='110'\/><status code='201'\/><\/x>/)
    const listed = await cli(nodes[0], ['muc', 'list', '--json'])
    assert.deepEqual((JSON.parse(listed.stdout) as {rooms: Array<{jid: string; occupants: number}>}).rooms.map(({jid, occupants}) => ({jid, occupants})), [{jid: 'tea@conference.localhost', occupants: 1}])
  })

  it('refuses to start a node that cannot reach Redis, or whose name is taken', async (t) => {
    const dir = tempDir(t, 'xmppctl-cluster-n4-')
    const config = readFileSync(path.join(nodes[0].dir, 'xmppctl.yml'), 'utf8')
    writeFileSync(path.join(dir, 'sql.password'), readFileSync(path.join(nodes[0].dir, 'sql.password')), {mode: 0o600})
    writeFileSync(path.join(dir, 'redis.password'), readFileSync(path.join(nodes[0].dir, 'redis.password')), {mode: 0o600})
    const port = await freePort()
    writeFileSync(path.join(dir, 'xmppctl.yml'), config.replace(/listen:\n {2}- \{port: \d+/, `listen:\n  - {port: ${port}`))
    const taken = await runCli(['start'], {cwd: dir})
    assert.equal(taken.status, 3)
    assert.match(taken.stderr, /another node named n1 is alive in the cluster \(Redis 127\.0\.0\.1:\d+\/0\)/)
    const unused = await freePort()
    writeFileSync(path.join(dir, 'xmppctl.yml'), config.replace(/listen:\n {2}- \{port: \d+/, `listen:\n  - {port: ${port}`).replace(/redis_port: \d+/, `redis_port: ${unused}`).replace('node: n1', 'node: n4'))
    const unreachable = await runCli(['start'], {cwd: dir, timeoutMs: 30_000})
    assert.equal(unreachable.status, 3)
    assert.match(unreachable.stderr, new RegExp(`cannot reach Redis at 127\\.0\\.0\\.1:${unused}/0`))
  })
})
