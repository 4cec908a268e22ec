#!/usr/bin/env node
// Federation throughput (issue 15): messages per second and latency across
// one s2s link between two instances of our server (a.test → b.test), and
// the same between two Debian Prosody 0.12 instances (p1.test → p2.test), in
// one run, in alternating rounds (every server runs throughout; the pair not
// measured idles). Each of PAIRS senders on the first server keeps IN_FLIGHT
// chat messages in flight to its receiver on the second (closed loop); all
// of them share the one s2s stream between the two domains.
//
// Like the federation tests (test/integration/s2s/netns.ts), the run happens
// inside `unshare --net --mount` (root), each server on its own 127.0.0.x on
// the standard ports, found through a dnsmasq on 127.0.0.1; certificates from
// a private CA both servers of a pair trust (SASL EXTERNAL where offered).
// Needs `npm run build` first (it runs dist/cli.cjs and dist/test helpers).
//
// Prints one JSON line: per server pair, messages/s, p50/p99 latency, and
// messages per CPU second of the two servers together; ratios ours/Prosody.
//
// Knobs (environment):
//   BENCH_S2S_PAIRS     sender→receiver pairs (default 20)
//   BENCH_S2S_SECONDS   length of one round (default 5)
//   BENCH_S2S_ROUNDS    rounds per server pair (default 3)
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const PAIRS = Number(process.env.BENCH_S2S_PAIRS ?? 20)
const IN_FLIGHT = 8
const SECONDS = Number(process.env.BENCH_S2S_SECONDS ?? 5)
const ROUNDS = Number(process.env.BENCH_S2S_ROUNDS ?? 3)
const PASSWORD = 'bench pw'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const now = () => Number(process.hrtime.bigint()) / 1e6
const round = (value, digits = 2) => (value === null || value === undefined || Number.isNaN(value) ? null : Math.round(value * 10 ** digits) / 10 ** digits)

const helpers = path.join(root, 'dist/test/integration/s2s/netns.js')
if (!existsSync(helpers)) {
  process.stderr.write('bench/s2s.js: run "npm run build" first\n')
  process.exit(2)
}

const {createPki, enterNamespace, startDns, waitForPort} = await import(helpers)
const missing = await enterNamespace()
if (missing) {
  console.log(JSON.stringify({bench: 's2s', unavailable: missing}))
  process.exit(0)
}

/** CPU time (user + system) of a process, in milliseconds. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

class Connection {
  constructor(socket) {
    this.buffer = ''
    this.closed = false
    this.onText = undefined
    this.attach(socket)
  }

  attach(socket) {
    this.socket = socket
    socket.setEncoding('utf8')
    socket.on('data', (text) => {
      this.buffer += text
      this.onText?.()
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      this.closed = true
      this.onText?.()
    })
  }

  write(text) {
    this.socket.write(text)
  }

  until(pattern, timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`timed out waiting for ${pattern}; got ${this.buffer.slice(0, 300)}`)), timeoutMs)
      const finish = (error, match) => {
        clearTimeout(timer)
        this.onText = undefined
        if (error) reject(error)
        else resolve(match)
      }

      const check = () => {
        const match = pattern.exec(this.buffer)
        if (match) {
          this.buffer = this.buffer.slice(match.index + match[0].length)
          finish(undefined, match)
        } else if (this.closed) finish(new Error(`connection closed waiting for ${pattern}; got ${this.buffer.slice(0, 300)}`))
      }

      this.onText = check
      check()
    })
  }
}

const clientContext = tls.createSecureContext()

/** STARTTLS, PLAIN, bind, presence: a logged-in client of `domain` at `address`. */
async function login(address, domain, user) {
  const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}' version='1.0'>`
  const plain = net.connect({host: address, port: 5222})
  await new Promise((resolve, reject) => {
    plain.once('connect', resolve)
    plain.once('error', reject)
  })
  plain.setNoDelay(true)
  const connection = new Connection(plain)
  connection.write(header)
  await connection.until(/<\/stream:features>/)
  connection.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
  await connection.until(/<proceed[^>]*>/)
  plain.removeAllListeners('data')
  plain.removeAllListeners('close')
  const secure = tls.connect({socket: plain, servername: domain, rejectUnauthorized: false, secureContext: clientContext})
  await new Promise((resolve, reject) => {
    secure.once('secureConnect', resolve)
    secure.once('error', reject)
  })
  connection.buffer = ''
  connection.attach(secure)
  connection.write(header)
  await connection.until(/<\/stream:features>/)
  connection.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${user}\0${PASSWORD}`).toString('base64')}</auth>`)
  const outcome = await connection.until(/<success[^>]*\/>|<success[^>]*>[^<]*<\/success>|<failure[\s\S]*?<\/failure>/)
  if (!outcome[0].startsWith('<success')) throw new Error(`${user}@${domain}: ${outcome[0]}`)
  connection.write(header)
  await connection.until(/<\/stream:features>/)
  connection.write("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
  const jid = (await connection.until(/<jid>([^<]+)<\/jid>[\s\S]*?<\/iq>/))[1]
  connection.write('<presence/>')
  return {connection, jid}
}

function collect(child) {
  let output = ''
  child.stdout?.on('data', (chunk) => (output += chunk))
  child.stderr?.on('data', (chunk) => (output += chunk))
  return () => output
}

async function stop(child) {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await Promise.race([exited, sleep(10_000)])
  if (child.exitCode === null) child.kill('SIGKILL')
}

/** Our server for `domain` on `address` (bin/run.js start --foreground), with accounts user0…userN. */
async function ours(dir, pki, domain, address) {
  const data = path.join(dir, domain)
  mkdirSync(data, {recursive: true, mode: 0o700})
  const cert = pki.issue(domain)
  const config = path.join(dir, `${domain}.yml`)
  writeFileSync(
    config,
    [
      `hosts: [${domain}]`,
      `data_dir: ${data}`,
      'listen:',
      `  - {port: 5222, ip: ${address}, module: c2s, starttls: required}`,
      `  - {port: 5269, ip: ${address}, module: s2s}`,
      `certfiles: [${cert.cert}, ${cert.key}]`,
      `s2s_cafile: ${pki.ca}`,
      'auth_scram_iterations: 4096',
      'shaper_rules: {c2s_shaper: none}',
      // Chat messages only: no archive, as Prosody's minimal set has none.
      'modules: {mod_roster: {}, mod_offline: {}, mod_disco: {}, mod_ping: {}}',
      '',
    ].join('\n'),
  )
  for (let index = 0; index < PAIRS; index++) {
    const added = spawnSync(process.execPath, [path.join(root, 'bin/run.js'), 'user', 'add', `user${index}@${domain}`, '--password-stdin', '-c', config], {input: `${PASSWORD}\n`, encoding: 'utf8'})
    if (added.status !== 0) throw new Error(`user add: ${added.stderr}`)
  }

  const child = spawn(process.execPath, [path.join(root, 'bin/run.js'), 'start', '--foreground', '--log-level', 'warn', '-c', config], {stdio: ['ignore', 'pipe', 'pipe']})
  const log = collect(child)
  await waitForPort(address, 5269, child, log, 30_000)
  await waitForPort(address, 5222, child, log, 30_000)
  return {child, log}
}

/** Debian's Prosody for `domain` on `address`, with dialback and TLS, and accounts user0…userN. */
async function prosody(dir, pki, domain, address) {
  const base = path.join(dir, domain)
  const data = path.join(base, 'data')
  const certs = path.join(base, 'certs')
  mkdirSync(data, {recursive: true, mode: 0o700})
  mkdirSync(certs, {recursive: true})
  const cert = pki.issue(domain)
  writeFileSync(path.join(certs, `${domain}.crt`), readFileSync(cert.cert))
  writeFileSync(path.join(certs, `${domain}.key`), readFileSync(cert.key), {mode: 0o600})
  const config = path.join(base, 'prosody.cfg.lua')
  writeFileSync(
    config,
    [
      'run_as_root = true',
      `pidfile = "${base}/prosody.pid"`,
      `data_path = "${data}"`,
      `log = { { levels = { min = "warn" }, to = "file", filename = "${base}/prosody.log" } }`,
      'network_backend = "epoll"',
      `interfaces = { "${address}" }`,
      'c2s_ports = { 5222 }',
      's2s_ports = { 5269 }',
      'c2s_direct_tls_ports = { }',
      's2s_direct_tls_ports = { }',
      'http_ports = { }',
      'https_ports = { }',
      'modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "posix" }',
      'authentication = "internal_hashed"',
      `certificates = "${certs}"`,
      `ssl = { cafile = "${pki.ca}" }`,
      's2s_require_encryption = true',
      `VirtualHost "${domain}"`,
      '',
    ].join('\n'),
  )
  for (let index = 0; index < PAIRS; index++) spawnSync('prosodyctl', ['--config', config, 'register', `user${index}`, domain, PASSWORD], {stdio: 'ignore'})
  const child = spawn('prosody', ['--config', config, '-F'], {stdio: ['ignore', 'pipe', 'pipe']})
  const output = collect(child)
  const log = () => output() + (existsSync(`${base}/prosody.log`) ? readFileSync(`${base}/prosody.log`, 'utf8') : '')
  await waitForPort(address, 5269, child, log, 30_000)
  await waitForPort(address, 5222, child, log, 30_000)
  return {child, log}
}

/** The pairs of one server pair, logged in, each sender's loop ready to run. */
async function connectPairs(from, to) {
  const pairs = []
  for (let index = 0; index < PAIRS; index++) {
    const receiver = await login(to.address, to.domain, `user${index}`)
    const sender = await login(from.address, from.domain, `user${index}`)
    pairs.push({sender, receiver, running: false, sequence: 0})
  }

  // One message per pair through the link first: the s2s streams are set up before any round.
  for (const pair of pairs) pair.sender.connection.write(`<message to='${pair.receiver.jid}' type='chat' id='warm'><body>warm</body></message>`)
  for (const pair of pairs) await pair.receiver.connection.until(/<body>warm<\/body>/, 30_000)
  return pairs
}

/** One round: every pair runs its closed loop for SECONDS; delivered count, latencies and the servers' CPU. */
async function measure(pairs, pids) {
  let counting = false
  let delivered = 0
  const latencies = []
  for (const pair of pairs) {
    pair.running = true
    const send = () => {
      if (pair.running) pair.sender.connection.write(`<message to='${pair.receiver.jid}' type='chat' id='m${pair.sequence++}'><body>${now().toFixed(3)}</body></message>`)
    }

    const receiver = pair.receiver.connection
    receiver.buffer = ''
    receiver.onText = () => {
      const body = /<body>([\d.]+)<\/body>/g
      let match
      let consumed = 0
      while ((match = body.exec(receiver.buffer))) {
        consumed = body.lastIndex
        if (counting) {
          delivered++
          latencies.push(now() - Number(match[1]))
        }

        send()
      }

      receiver.buffer = receiver.buffer.slice(consumed)
    }

    for (let index = 0; index < IN_FLIGHT; index++) send()
  }

  await sleep(1000)
  counting = true
  const start = now()
  const cpuStart = pids.map(cpuMs)
  await sleep(SECONDS * 1000)
  counting = false
  const elapsed = (now() - start) / 1000
  const cpu = pids.map((pid, index) => cpuMs(pid) - cpuStart[index]).reduce((a, b) => a + b, 0)
  for (const pair of pairs) pair.running = false
  // What is in flight drains before the other pair's round.
  await sleep(1500)
  for (const pair of pairs) pair.receiver.connection.onText = undefined
  return {delivered, elapsed, cpu, latencies}
}

function summary(rounds) {
  const delivered = rounds.reduce((sum, r) => sum + r.delivered, 0)
  const elapsed = rounds.reduce((sum, r) => sum + r.elapsed, 0)
  const cpu = rounds.reduce((sum, r) => sum + r.cpu, 0)
  const latencies = rounds.flatMap((r) => r.latencies).sort((a, b) => a - b)
  const percentile = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]
  return {
    messages_per_s: round(delivered / elapsed, 1),
    messages_per_cpu_s: round(delivered / (cpu / 1000), 1),
    latency_p50_ms: round(percentile(0.5)),
    latency_p99_ms: round(percentile(0.99)),
    rounds: rounds.map((r) => round(r.delivered / r.elapsed, 1)),
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'xmppctl-bench-s2s-'))
const pki = createPki(dir)
const A = {domain: 'a.test', address: '127.0.0.2'}
const B = {domain: 'b.test', address: '127.0.0.3'}
const P1 = {domain: 'p1.test', address: '127.0.0.4'}
const P2 = {domain: 'p2.test', address: '127.0.0.5'}
const stopDns = await startDns([A, B, P1, P2])
const children = []
const result = {bench: 's2s', pairs: PAIRS, in_flight: IN_FLIGHT, round_seconds: SECONDS, rounds: ROUNDS, cores: os.cpus().length}
try {
  const a = await ours(dir, pki, A.domain, A.address)
  const b = await ours(dir, pki, B.domain, B.address)
  children.push(a.child, b.child)
  const oursPairs = await connectPairs(A, B)
  let prosodyPairs
  let prosodyPids
  if (spawnSync('sh', ['-c', 'command -v prosody']).status === 0) {
    const p1 = await prosody(dir, pki, P1.domain, P1.address)
    const p2 = await prosody(dir, pki, P2.domain, P2.address)
    children.push(p1.child, p2.child)
    prosodyPairs = await connectPairs(P1, P2).catch((error) => {
      throw new Error(`${error.message}\n${p1.log().slice(-3000)}\n${p2.log().slice(-3000)}`)
    })
    prosodyPids = [p1.child.pid, p2.child.pid]
  } else result.prosody = {unavailable: 'prosody is not installed'}

  // One uncounted round each first: JIT compilation and the first burst's buffers are not what is measured.
  await measure(oursPairs, [a.child.pid, b.child.pid])
  if (prosodyPairs) await measure(prosodyPairs, prosodyPids)
  const oursRounds = []
  const prosodyRounds = []
  for (let index = 0; index < ROUNDS; index++) {
    oursRounds.push(await measure(oursPairs, [a.child.pid, b.child.pid]))
    if (prosodyPairs) prosodyRounds.push(await measure(prosodyPairs, prosodyPids))
  }

  result.xmppctl = summary(oursRounds)
  if (prosodyPairs) {
    result.prosody = summary(prosodyRounds)
    result.ratios = {
      messages_per_s: round(result.xmppctl.messages_per_s / result.prosody.messages_per_s),
      messages_per_cpu_s: round(result.xmppctl.messages_per_cpu_s / result.prosody.messages_per_cpu_s),
      latency_p99: round(result.xmppctl.latency_p99_ms / result.prosody.latency_p99_ms),
    }
  }
} catch (error) {
  result.error = error instanceof Error ? error.message.slice(0, 4000) : String(error)
  process.exitCode = 1
} finally {
  for (const child of children) await stop(child)
  await stopDns()
  rmSync(dir, {recursive: true, force: true})
}

console.log(JSON.stringify(result))
process.exit(process.exitCode ?? 0)
