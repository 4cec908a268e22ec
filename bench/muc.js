#!/usr/bin/env node
// Group chat fan-out (issue 14): one room with BENCH_MUC_OCCUPANTS (500)
// occupants, BENCH_MUC_SENDERS (10) of them talking, each with one message
// in flight (closed loop: it sends the next once the room echoes its last).
// Measured on our server (mod_muc) and on Debian's ejabberd 23.01 (its own
// mod_muc, default options), in the same run, in alternating rounds of
// BENCH_MUC_SECONDS (8), BENCH_MUC_ROUNDS (2) each:
//   - messages per second into the room, and deliveries per second
//     (messages × occupants);
//   - p99 latency from sending to delivery, sampled at 50 occupants: at
//     saturation (p99_ms: mostly queueing, SENDERS × OCCUPANTS deliveries in
//     flight) and, in one more round, with one message in flight
//     (p99_one_in_flight_ms: the fan-out itself, what the target is about);
//   - deliveries per server CPU-second (utime + stime of the server process
//     over the round, /proc/PID/stat).
// Clients log in with SASL ANONYMOUS over plain TCP on loopback, on both
// servers, so that the load generator spends its CPU on the room's traffic,
// not on TLS and SCRAM. Targets: ≥ ejabberd's throughput, p99 ≤ 50 ms.
// Prints one JSON line; when ejabberd cannot run, its entry says why.
import {spawn} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {startEjabberd, waitListening} from './lib/ejabberd.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const HOST = 'bench.test'
const ROOM = `fanout@conference.${HOST}`
const OCCUPANTS = Number(process.env.BENCH_MUC_OCCUPANTS ?? 500)
const SENDERS = Math.min(OCCUPANTS, Number(process.env.BENCH_MUC_SENDERS ?? 10))
const SECONDS = Number(process.env.BENCH_MUC_SECONDS ?? 8)
const ROUNDS = Number(process.env.BENCH_MUC_ROUNDS ?? 2)
const SAMPLED = 50

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address()
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** One raw client: ANONYMOUS login, a bound resource, then the room. */
class Occupant {
  constructor(index, onMessage) {
    this.index = index
    this.onMessage = onMessage
    this.buffer = ''
    this.waiters = []
  }

  async connect(port) {
    this.socket = net.connect({port, host: '127.0.0.1'})
    this.socket.setNoDelay(true)
    await new Promise((resolve, reject) => {
      this.socket.once('connect', resolve)
      this.socket.once('error', reject)
    })
    this.socket.setEncoding('utf8')
    this.socket.on('error', () => {})
    this.socket.on('data', (chunk) => this.data(chunk))
    const header = `<?xml version='1.0'?><stream:stream to='${HOST}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`
    this.socket.write(header)
    await this.until(/<\/stream:features>/)
    this.socket.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>")
    await this.until(/<success[^>]*(\/>|<\/success>)/)
    this.socket.write(header)
    await this.until(/<\/stream:features>/)
    this.socket.write("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
    await this.until(/<\/iq>/)
    this.socket.write("<iq type='set' id='sess'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
    await this.until(/id='sess'|id="sess"/)
  }

  async join() {
    this.socket.write(`<presence to='${ROOM}/o${this.index}'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`)
    await this.until(/<subject/, 60_000)
    this.buffer = ''
    this.measuring = true
  }

  data(chunk) {
    if (this.measuring) {
      // Fan-out traffic: only the bodies matter; a message's body is "T sender sent-at".
      for (const match of chunk.matchAll(/<body>T (\d+) (\d+)<\/body>/g)) this.onMessage(this, Number(match[1]), Number(match[2]))
      return
    }

    this.buffer += chunk
    for (const waiter of this.waiters.splice(0)) waiter()
  }

  async until(pattern, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs
    while (!pattern.test(this.buffer)) {
      if (Date.now() > deadline) throw new Error(`occupant ${this.index}: no ${pattern} within ${timeoutMs} ms; got ${this.buffer.slice(-300)}`)
      await new Promise((resolve) => {
        this.waiters.push(resolve)
        setTimeout(resolve, 200)
      })
    }

    const match = pattern.exec(this.buffer)
    this.buffer = this.buffer.slice(match.index + match[0].length)
  }

  send(sequenceTime) {
    this.socket.write(`<message type='groupchat' to='${ROOM}'><body>T ${this.index} ${sequenceTime}</body></message>`)
  }

  close() {
    this.socket.destroy()
  }
}

/** Joins every occupant, then measures rounds on demand. */
async function prepare(server) {
  let deliveries = 0
  let sent = 0
  let running = false
  let latencies = []
  const start = process.hrtime.bigint()
  const now = () => Number((process.hrtime.bigint() - start) / 1000n)
  const occupants = []
  const onMessage = (occupant, sender, sentAt) => {
    if (!running) return
    deliveries++
    if (occupant.index < SAMPLED) latencies.push(now() - sentAt)
    // The sender's own echo: its next message.
    if (occupant.index === sender) {
      sent++
      occupant.send(now())
    }
  }

  // Logins in batches, so that neither server's per-address limits nor the listen backlog are the subject.
  for (let first = 0; first < OCCUPANTS; first += 50) {
    const batch = []
    for (let index = first; index < Math.min(OCCUPANTS, first + 50); index++) {
      const occupant = new Occupant(index, onMessage)
      occupants.push(occupant)
      batch.push(occupant.connect(server.port).then(() => occupant.join()))
    }

    await Promise.all(batch)
  }

  return {
    async round(senders = SENDERS) {
      deliveries = 0
      sent = 0
      latencies = []
      const cpuBefore = cpuSeconds(server.pid())
      running = true
      for (let index = 0; index < senders; index++) occupants[index].send(now())
      await sleep(SECONDS * 1000)
      running = false
      const cpu = cpuSeconds(server.pid()) - cpuBefore
      // What is still in flight arrives while the next round has not begun.
      await sleep(1000)
      latencies.sort((a, b) => a - b)
      return {
        messages_per_second: sent / SECONDS,
        deliveries_per_second: deliveries / SECONDS,
        p99_ms: latencies.length === 0 ? null : latencies[Math.floor(latencies.length * 0.99)] / 1000,
        deliveries_per_cpu_second: cpu > 0 ? deliveries / cpu : null,
      }
    },
    close() {
      for (const occupant of occupants) occupant.close()
    },
  }
}

async function ours(dir) {
  const data = path.join(dir, 'ours')
  mkdirSync(data, {recursive: true, mode: 0o700})
  const port = await freePort()
  const config = path.join(dir, 'ours.yml')
  writeFileSync(
    config,
    [
      `hosts: [${HOST}]`,
      `data_dir: ${data}`,
      'listen:',
      `  - {port: ${port}, ip: 127.0.0.1, module: c2s, starttls: optional}`,
      'c2s_require_encryption: false',
      'auth_method: [anonymous]',
      'anonymous_protocol: sasl_anon',
      `c2s_max_connections_per_ip: ${OCCUPANTS + 100}`,
      'c2s_max_unauthenticated_per_ip: 1000',
      'shaper_rules: {c2s_shaper: none}',
      `modules: {mod_roster: {}, mod_disco: {}, mod_ping: {}, mod_muc: {access_create: all, max_users: ${OCCUPANTS + 10}, history_size: 0, default_room_options: {max_users: ${OCCUPANTS + 10}}}}`,
      '',
    ].join('\n'),
  )
  let output = ''
  const child = spawn(process.execPath, [path.join(root, 'bin', 'run.js'), 'start', '--foreground', '--log-level', 'warn', '-c', config], {stdio: ['ignore', 'pipe', 'pipe']})
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  await waitListening(port, 'our server', () => output)
  return {
    port,
    pid: () => child.pid,
    async stop() {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    },
  }
}

/** Debian's ejabberd with its own configuration, node name, spool and port; its default mod_muc options but for the room size. */
function ejabberd(dir) {
  return startEjabberd(dir, (port) => [
    `hosts: [${JSON.stringify(HOST)}]`,
    'loglevel: warning',
    'auth_method: [anonymous]',
    'anonymous_protocol: sasl_anon',
    'listen:',
    `  - {port: ${port}, ip: "127.0.0.1", module: ejabberd_c2s, starttls: false}`,
    'modules:',
    '  mod_disco: {}',
    '  mod_ping: {}',
    `  mod_muc: {host: "conference.@HOST@", access_create: all, max_users: ${OCCUPANTS + 10}, history_size: 0, default_room_options: {max_users: ${OCCUPANTS + 10}}}`,
  ])
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-bench-muc-'))
chmodSync(dir, 0o755)
const servers = {}
const results = {}
try {
  servers.ours = await ours(dir)
  const theirs = await ejabberd(dir)
  if (theirs.unavailable) results.ejabberd = {unavailable: theirs.unavailable}
  else servers.ejabberd = theirs
  const rooms = {}
  for (const [name, server] of Object.entries(servers)) rooms[name] = await prepare(server)
  const rounds = Object.fromEntries(Object.keys(servers).map((name) => [name, []]))
  for (let round = 0; round < ROUNDS; round++) for (const name of Object.keys(servers)) rounds[name].push(await rooms[name].round())
  // Latency without queueing: one message in flight, so each is the whole fan-out of one message to every occupant.
  const single = {}
  for (const name of Object.keys(servers)) single[name] = await rooms[name].round(1)
  for (const [name, measured] of Object.entries(rounds)) {
    const pick = (key) => {
      const values = measured.map((entry) => entry[key]).filter((value) => value !== null)
      return values.length === 0 ? null : Math.round(median(values) * 100) / 100
    }

    results[name] = {
      messages_per_second: pick('messages_per_second'),
      deliveries_per_second: pick('deliveries_per_second'),
      p99_ms: pick('p99_ms'),
      deliveries_per_cpu_second: pick('deliveries_per_cpu_second'),
      p99_one_in_flight_ms: single[name].p99_ms,
      messages_per_second_one_in_flight: single[name].messages_per_second,
    }
  }

  for (const room of Object.values(rooms)) room.close()
  const ratio = (key) => (results.ejabberd?.[key] && results.ours[key] ? Math.round((results.ours[key] / results.ejabberd[key]) * 100) / 100 : null)
  console.log(
    JSON.stringify({
      bench: 'muc',
      occupants: OCCUPANTS,
      senders: SENDERS,
      seconds: SECONDS,
      rounds: ROUNDS,
      ...results,
      ratios: {deliveries_per_second: ratio('deliveries_per_second'), deliveries_per_cpu_second: ratio('deliveries_per_cpu_second')},
      met: {throughput_vs_ejabberd: ratio('deliveries_per_second') === null ? null : ratio('deliveries_per_second') >= 1, p99_50ms: results.ours.p99_one_in_flight_ms !== null && results.ours.p99_one_in_flight_ms <= 50},
    }),
  )
} finally {
  for (const server of Object.values(servers)) await server.stop().catch(() => {})
  rmSync(dir, {recursive: true, force: true})
}
