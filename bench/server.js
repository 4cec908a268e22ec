#!/usr/bin/env node
// The bundled server against Debian's Prosody, in the same run, with a load
// generator of our own (plain net/tls, no XMPP library), one server loaded at
// a time (both run; the other idles):
//   - SCRAM-SHA-1 logins per second at concurrency 50 over STARTTLS; the
//     client caches the salted password per salt and iteration count, as real
//     clients do, so the work measured is the server's;
//   - server RSS (VmRSS of /proc/PID/status) per idle authenticated, bound
//     session at 10,000 sessions, with the ECDSA certificate and again on a
//     fresh server with an RSA-2048 one (`rsa2048`: OpenSSL's per-connection
//     state differs by key type); RSS at start (`rss_at_start_kib`, before any
//     client) and once every idle session has closed (`rss_after_close_kib`,
//     BENCH_CLOSE_SETTLE_SECONDS later): what the server gives back;
//   - messages per second and p99 latency across 100 sender→receiver pairs,
//     each keeping a fixed number of messages in flight (closed loop).
// Both servers get the same accounts (SCRAM-SHA-1, 10,000 iterations, the
// same salt and keys), the same ECDSA certificate, loopback ports and a data
// directory of their own. Targets (issue 6): logins/s ≥ 2× Prosody, RSS per
// session ≤ Prosody's, messages/s ≥ 2× Prosody; issue 19: an idle session
// ≤ 30 KiB with either certificate (met_idle_session_kib). Prints one JSON line; when
// Prosody cannot run, its entry says why and the ratios are null.
//
// Two Prosody references, measured the same way and in the same alternating
// login rounds: "prosody" loads the few modules a login and a chat need
// (issue 6's comparison; "ratios" and "met" are against it), and
// "prosody_defaults" loads the modules_enabled of Debian's default
// /etc/prosody/prosody.cfg.lua, which is what users run (issue 12;
// "vs_prosody_defaults" and "met_vs_prosody_defaults" are against it).
//
// Knobs (environment):
//   BENCH_SESSIONS          idle sessions per server (default 10000)
//   BENCH_LOGIN_SECONDS     length of one login round (default 8)
//   BENCH_LOGIN_ROUNDS      login rounds per server (default 3)
//   BENCH_MESSAGE_SECONDS   length of the message measurement (default 8)
//   BENCH_MEASURE           comma list of logins, messages, sessions, archive
//                           (default logins,messages,sessions)
//   BENCH_ONLY              comma list of the servers to run besides ours:
//                           xmppctl (ours alone, for profiling), prosody,
//                           prosody_defaults (default: both Prosodies; each
//                           is about a third of the run, most of it the
//                           BENCH_SESSIONS logins of the idle measurement)
//   BENCH_ARCHIVE_ROUNDS    see below
//   BENCH_SERVER_NODE_ARGS  node flags for our server (e.g. --cpu-prof). With
//                           --max-semi-space-size=1 V8's young generation stays
//                           at 2 MiB instead of growing to 32 MiB under load and
//                           keeping it: 9 KiB less per idle session at 2,000
//                           sessions and 26 MiB less after they close, for
//                           ~20% fewer logins and messages per CPU second
//   BENCH_ALLOCATOR         our server's memory_allocator: auto (the default, as
//                           the background server: jemalloc when libjemalloc2
//                           is installed), jemalloc or system
//   BENCH_CERTIFICATES      comma list of ecdsa, rsa (default ecdsa,rsa): the
//                           first serves every measurement; each further one
//                           adds an idle-session measurement of every server,
//                           fresh, under its key (rsa2048) and a ratio
//                           rss_per_session_rsa2048
//   BENCH_CLOSE_SETTLE_SECONDS  wait after the idle sessions close before
//                           reading rss_after_close_kib (default 5)
//   BENCH_HEAP_SNAPSHOTS    a directory: our server writes a V8 heap snapshot
//                           there before the idle sessions, with them open and
//                           after they closed (ours[-rsa]-before/-open/-closed
//                           .heapsnapshot), to find what a session holds (slow,
//                           and RSS figures of that run are not comparable)
//
// The message archive's cost (issue 12), only when BENCH_MEASURE names
// "archive" (it adds about 2 × BENCH_ARCHIVE_ROUNDS message measurements):
// messages per second of our server with its default modules (mod_mam
// archiving every message, both ways) against a second instance without
// mod_mam, in rounds that alternate between the two (BENCH_ARCHIVE_ROUNDS,
// default 3); the medians' ratio must stay ≥ 0.75 (the archive costs at most
// 25%). For example: BENCH_MEASURE=archive BENCH_SESSIONS=200 npm run bench.
import {spawn, spawnSync} from 'node:child_process'
import {createHash, createHmac, pbkdf2Sync, randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import os, {tmpdir} from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const HOST = 'bench.test'
const PASSWORD = 'bench password'
const ITERATIONS = 10_000
// Prosody's internal_hashed keeps a UUID string as salt; its bytes are the salt.
const SALT = Buffer.from('5b2ab9d0-5a52-4f41-8e33-1c0e3b0c7d11')
const LOGIN_CONCURRENCY = 50
const LOGIN_SECONDS = Number(process.env.BENCH_LOGIN_SECONDS ?? 8)
const LOGIN_ROUNDS = Number(process.env.BENCH_LOGIN_ROUNDS ?? 3)
const IDLE_SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10_000)
const PAIRS = 100
const IN_FLIGHT = 8
const MESSAGE_SECONDS = Number(process.env.BENCH_MESSAGE_SECONDS ?? 8)
const ARCHIVE_ROUNDS = Number(process.env.BENCH_ARCHIVE_ROUNDS ?? 3)
const ACCOUNTS = IDLE_SESSIONS + 2 * PAIRS
/** Issue 19's target for one idle, authenticated, bound TLS session. */
const IDLE_SESSION_TARGET_KIB = 30
const CLOSE_SETTLE_MS = Number(process.env.BENCH_CLOSE_SETTLE_SECONDS ?? 5) * 1000
const HEAP_SNAPSHOTS = process.env.BENCH_HEAP_SNAPSHOTS ? path.resolve(process.env.BENCH_HEAP_SNAPSHOTS) : undefined
const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'

const round = (value, digits = 2) => (value === null || value === undefined || Number.isNaN(value) ? null : Math.round(value * 10 ** digits) / 10 ** digits)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const now = () => Number(process.hrtime.bigint()) / 1e6

// ---- credentials --------------------------------------------------------

const salted = pbkdf2Sync(PASSWORD, SALT, ITERATIONS, 20, 'sha1')
const hmac = (key, text) => createHmac('sha1', key).update(text).digest()
const clientKey = hmac(salted, 'Client Key')
const storedKey = createHash('sha1').update(clientKey).digest()
const serverKey = hmac(salted, 'Server Key')
const username = (index) => `user${index}`

// ---- a minimal client ---------------------------------------------------

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

  /** Resolves with the match once the received text matches; what precedes it is dropped. */
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

  destroy() {
    this.socket.destroy()
  }
}

const streamHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${HOST}' version='1.0'>`
const saltCache = new Map()
// One client context for every connection, as a real client keeps one: a
// fresh context per connection (tls.connect's default) costs the load
// generator about as much CPU as the handshake itself, and on a two-core
// machine the generator's CPU is taken from the server being measured.
const clientContext = tls.createSecureContext()

/** STARTTLS, SCRAM-SHA-1 (client-side RFC 5802 with a cached salted password), then optionally bind and presence. */
async function login(port, user, {bind = false} = {}) {
  const plain = net.connect({port, host: '127.0.0.1'})
  await new Promise((resolve, reject) => {
    plain.once('connect', resolve)
    plain.once('error', reject)
  })
  plain.setNoDelay(true)
  const connection = new Connection(plain)
  try {
    connection.write(streamHeader)
    await connection.until(/<\/stream:features>/)
    connection.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await connection.until(/<proceed[^>]*>/)
    plain.removeAllListeners('data')
    plain.removeAllListeners('close')
    const secure = tls.connect({socket: plain, servername: HOST, rejectUnauthorized: false, secureContext: clientContext})
    await new Promise((resolve, reject) => {
      secure.once('secureConnect', resolve)
      secure.once('error', reject)
    })
    connection.buffer = ''
    connection.attach(secure)
    connection.write(streamHeader)
    const features = await connection.until(/<\/stream:features>/)
    if (!features.input.includes('<mechanism>SCRAM-SHA-1</mechanism>')) throw new Error('SCRAM-SHA-1 is not offered')

    const bare = `n=${user},r=${randomBytes(12).toString('base64')}`
    connection.write(`<auth xmlns='${NS_SASL}' mechanism='SCRAM-SHA-1'>${Buffer.from(`n,,${bare}`).toString('base64')}</auth>`)
    const challenge = await connection.until(/<challenge[^>]*>([^<]*)<\/challenge>|<failure[\s\S]*?<\/failure>/)
    if (challenge[1] === undefined) throw new Error(`SCRAM refused: ${challenge[0]}`)
    const serverFirst = Buffer.from(challenge[1], 'base64').toString()
    const attributes = Object.fromEntries(serverFirst.split(',').map((part) => [part[0], part.slice(2)]))
    const cacheKey = `${attributes.s},${attributes.i}`
    let keys = saltCache.get(cacheKey)
    if (!keys) {
      const password = pbkdf2Sync(PASSWORD, Buffer.from(attributes.s, 'base64'), Number(attributes.i), 20, 'sha1')
      const client = hmac(password, 'Client Key')
      keys = {client, stored: createHash('sha1').update(client).digest(), server: hmac(password, 'Server Key')}
      saltCache.set(cacheKey, keys)
    }

    const withoutProof = `c=biws,r=${attributes.r}`
    const authMessage = `${bare},${serverFirst},${withoutProof}`
    const signature = hmac(keys.stored, authMessage)
    const proof = Buffer.from(keys.client.map((byte, index) => byte ^ signature[index]))
    connection.write(`<response xmlns='${NS_SASL}'>${Buffer.from(`${withoutProof},p=${proof.toString('base64')}`).toString('base64')}</response>`)
    const outcome = await connection.until(/<success[^>]*>([^<]*)<\/success>|<success[^>]*\/>|<failure[\s\S]*?<\/failure>/)
    if (!outcome[0].startsWith('<success')) throw new Error(`authentication failed: ${outcome[0]}`)
    const verifier = Buffer.from(outcome[1] ?? '', 'base64').toString()
    if (verifier !== `v=${hmac(keys.server, authMessage).toString('base64')}`) throw new Error('wrong server signature')
    if (!bind) return {connection}

    connection.write(streamHeader)
    await connection.until(/<\/stream:features>/)
    connection.write("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
    const jid = (await connection.until(/<jid>([^<]+)<\/jid>[\s\S]*?<\/iq>/))[1]
    connection.write('<presence/>')
    return {connection, jid}
  } catch (error) {
    connection.destroy()
    throw error
  }
}

// ---- the three measurements ---------------------------------------------

/** CPU time (user + system) a process has used, in milliseconds (/proc/PID/stat, 100 ticks a second). */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

async function measureLogins(port, pid) {
  let done = 0
  let failed = 0
  let lastError
  let counting = false
  let stop = false
  let next = 0
  const worker = async () => {
    while (!stop) {
      try {
        const {connection} = await login(port, username(next++ % IDLE_SESSIONS))
        // Hang up right after <success/>: closing the stream politely would need a stream restart first.
        connection.destroy()
        if (counting) done++
      } catch (error) {
        failed++
        lastError = error
      }
    }
  }

  const workers = Array.from({length: LOGIN_CONCURRENCY}, worker)
  await sleep(1500)
  counting = true
  const start = now()
  const cpuStart = cpuMs(pid)
  const generatorStart = process.cpuUsage()
  await sleep(LOGIN_SECONDS * 1000)
  const elapsed = (now() - start) / 1000
  const logins = done
  const cpu = cpuMs(pid) - cpuStart
  const generator = process.cpuUsage(generatorStart)
  counting = false
  stop = true
  await Promise.all(workers)
  if (logins === 0) throw new Error(`no login succeeded: ${lastError?.message}`)
  // Logins per second of server CPU: what the server costs, whatever else the machine runs.
  // The generator's own CPU per login shows whether it, not the server, set the pace.
  return {
    logins_per_s: round(logins / elapsed, 1),
    logins_per_cpu_s: round(logins / (cpu / 1000), 1),
    login_failures: failed,
    generator_cpu_ms_per_login: round((generator.user + generator.system) / 1000 / logins, 3),
  }
}

async function measureMessages(port, pid) {
  const pairs = []
  for (let index = 0; index < PAIRS; index++) {
    const receiver = await login(port, username(IDLE_SESSIONS + PAIRS + index), {bind: true})
    const sender = await login(port, username(IDLE_SESSIONS + index), {bind: true})
    pairs.push({sender, receiver})
  }

  await sleep(500)
  let counting = false
  let stop = false
  let delivered = 0
  const latencies = []
  for (const {sender, receiver} of pairs) {
    let sequence = 0
    const send = () => {
      if (stop) return
      sender.connection.write(`<message to='${receiver.jid}' type='chat' id='m${sequence++}'><body>${now().toFixed(3)}</body></message>`)
    }

    receiver.connection.buffer = ''
    receiver.connection.onText = () => {
      const {buffer} = receiver.connection
      const body = /<body>([\d.]+)<\/body>/g
      let match
      let consumed = 0
      while ((match = body.exec(buffer))) {
        consumed = body.lastIndex
        if (counting) {
          delivered++
          latencies.push(now() - Number(match[1]))
        }

        send()
      }

      receiver.connection.buffer = buffer.slice(consumed)
    }

    for (let index = 0; index < IN_FLIGHT; index++) send()
  }

  await sleep(2000)
  counting = true
  const start = now()
  const cpuStart = cpuMs(pid)
  await sleep(MESSAGE_SECONDS * 1000)
  counting = false
  const elapsed = (now() - start) / 1000
  const cpu = cpuMs(pid) - cpuStart
  stop = true
  await sleep(500)
  for (const {sender, receiver} of pairs) {
    sender.connection.destroy()
    receiver.connection.destroy()
  }

  latencies.sort((a, b) => a - b)
  const percentile = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]
  return {messages_per_s: round(delivered / elapsed, 1), messages_per_cpu_s: round(delivered / (cpu / 1000), 1), latency_p50_ms: round(percentile(0.5)), latency_p99_ms: round(percentile(0.99))}
}

function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1])
}

/** Writes a heap snapshot of our server (BENCH_HEAP_SNAPSHOTS), named by `label`, and waits for it. */
async function heapSnapshot(server, label) {
  if (!HEAP_SNAPSHOTS || !server.snapshots) return
  const existing = new Set(readdirSync(HEAP_SNAPSHOTS))
  server.child.kill('SIGUSR2')
  // V8 writes the file as it walks the heap: it is complete once its size stops changing.
  let size = -1
  for (let waited = 0; waited < 120_000; waited += 1000) {
    await sleep(1000)
    const fresh = readdirSync(HEAP_SNAPSHOTS).find((name) => !existing.has(name) && name.endsWith('.heapsnapshot'))
    if (fresh === undefined) continue
    const file = path.join(HEAP_SNAPSHOTS, fresh)
    if (statSync(file).size !== size || size === 0) {
      size = statSync(file).size
      continue
    }

    renameSync(file, path.join(HEAP_SNAPSHOTS, `${server.name}-${label}.heapsnapshot`))
    return
  }
}

async function measureIdle(server) {
  const {port} = server
  const pid = server.child.pid
  await sleep(2000)
  const before = rssKiB(pid)
  await heapSnapshot(server, 'before')
  const sessions = []
  let next = 0
  let lastError
  const opener = async () => {
    while (next < IDLE_SESSIONS) {
      const index = next++
      try {
        sessions.push((await login(port, username(index), {bind: true})).connection)
      } catch (error) {
        lastError = error
      }
    }
  }

  await Promise.all(Array.from({length: 100}, opener))
  // Let both servers settle (and collect the handshakes' garbage) before reading RSS.
  await sleep(5000)
  const open = sessions.filter((connection) => !connection.closed).length
  const after = rssKiB(pid)
  await heapSnapshot(server, 'open')
  for (const connection of sessions) connection.destroy()
  if (open < IDLE_SESSIONS * 0.99) throw new Error(`only ${open} of ${IDLE_SESSIONS} sessions stayed open: ${lastError?.message}`)
  // What the server gives back once its sessions are gone: the closes, then a few seconds of quiet.
  await sleep(CLOSE_SETTLE_MS)
  const afterClose = rssKiB(pid)
  await heapSnapshot(server, 'closed')
  return {sessions: open, rss_before_kib: before, rss_after_kib: after, rss_per_session_kib: round((after - before) / open), rss_after_close_kib: afterClose}
}

// BENCH_MEASURE (e.g. "logins") runs only some of the measurements, for iterating on one.
const MEASURE = new Set((process.env.BENCH_MEASURE ?? 'logins,messages,sessions').split(','))
const ALLOCATOR = process.env.BENCH_ALLOCATOR ?? 'auto'
const {allocatorEnvironment, findJemalloc} = await import(path.join(root, 'dist/src/server/allocator.js'))

/** Messages and idle sessions, one server at a time (the other, if any, sits idle). */
async function measureRest(server) {
  const messages = MEASURE.has('messages') ? await measureMessages(server.port, server.child.pid) : {}
  const idle = MEASURE.has('sessions') ? await measureIdle(server) : {}
  return {...messages, ...idle}
}

/**
 * Idle sessions on a fresh server with another certificate: what an idle TLS
 * session costs depends on the key type (OpenSSL keeps per-connection state
 * of its own), and operators run RSA as much as ECDSA.
 */
async function measureIdleWith(name, start) {
  const server = await startServer(name, start)
  try {
    await sleep(2000)
    const atStart = rssKiB(server.child.pid)
    return {rss_at_start_kib: atStart, ...(await measureIdle(server))}
  } finally {
    await stop(server.child)
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

/**
 * Messages per second with the archive (the default modules) and without
 * (`withoutArchive`, started here), in alternating rounds; the medians compared.
 */
async function measureArchive(withArchive, startWithoutArchive) {
  const withoutArchive = await startServer('xmppctl without mod_mam', startWithoutArchive)
  try {
    const on = []
    const off = []
    for (let index = 0; index < ARCHIVE_ROUNDS; index++) {
      on.push(await measureMessages(withArchive.port, withArchive.child.pid))
      off.push(await measureMessages(withoutArchive.port, withoutArchive.child.pid))
    }

    const figures = (rounds) => ({
      messages_per_s: median(rounds.map((round) => round.messages_per_s)),
      messages_per_cpu_s: median(rounds.map((round) => round.messages_per_cpu_s)),
      latency_p99_ms: median(rounds.map((round) => round.latency_p99_ms)),
      rounds_per_s: rounds.map((round) => round.messages_per_s),
    })
    const archiveOn = figures(on)
    const archiveOff = figures(off)
    const ratio = round(archiveOn.messages_per_s / archiveOff.messages_per_s)
    return {rounds: ARCHIVE_ROUNDS, on: archiveOn, off: archiveOff, ratio, ratio_per_cpu: round(archiveOn.messages_per_cpu_s / archiveOff.messages_per_cpu_s), target: '>= 0.75', met: ratio >= 0.75}
  } finally {
    await stop(withoutArchive.child)
  }
}

/** The median round of each login figure, every round's rate (so the spread shows) and the best. */
function loginSummary(rounds) {
  const medianOf = (key) => median(rounds.map((entry) => entry[key]))
  return {
    logins_per_s: medianOf('logins_per_s'),
    logins_per_cpu_s: medianOf('logins_per_cpu_s'),
    login_failures: rounds.reduce((sum, entry) => sum + entry.login_failures, 0),
    generator_cpu_ms_per_login: medianOf('generator_cpu_ms_per_login'),
    login_rounds_per_s: rounds.map((entry) => entry.logins_per_s),
    // Interference only ever slows a server down, and Prosody slows from round to round even alone:
    // the best rounds are the comparison most generous to Prosody.
    logins_best_round_per_s: Math.max(...rounds.map((entry) => entry.logins_per_s)),
  }
}

// ---- servers --------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function waitListening(port, child, name, log) {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${log().slice(-500)}`)
    const ok = await new Promise((resolve) => {
      const socket = net.connect({port, host: '127.0.0.1'})
      socket.once('connect', () => resolve(socket.destroy() || true))
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    await sleep(100)
  }

  throw new Error(`${name} did not listen on ${port}: ${log().slice(-500)}`)
}

async function stop(child) {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await Promise.race([exited, sleep(10_000)])
  if (child.exitCode === null) child.kill('SIGKILL')
}

/** Starts a server and waits until it listens; stops it if it never does. */
async function startServer(name, start) {
  const server = await start()
  try {
    await waitListening(server.port, server.child, name, server.log)
  } catch (error) {
    await stop(server.child)
    throw error
  }

  return server
}

/** Our server in `dir`/`name`; `modules` replaces the default modules when given. */
async function ours(dir, cert, name = 'ours', modules = undefined) {
  const data = path.join(dir, name)
  mkdirSync(data, {recursive: true, mode: 0o700})
  const port = await freePort()
  const config = path.join(dir, `${name}.yml`)
  writeFileSync(
    config,
    [
      `hosts: [${HOST}]`,
      `data_dir: ${data}`,
      `listen:`,
      `  - {port: ${port}, ip: 127.0.0.1, module: c2s, starttls: required}`,
      `certfiles: [${cert.certFile}, ${cert.keyFile}]`,
      'auth_scram_hash: [sha1]',
      `auth_scram_iterations: ${ITERATIONS}`,
      // Every benchmark connection comes from 127.0.0.1: the per-address caps would refuse the idle sessions.
      `c2s_max_connections_per_ip: ${IDLE_SESSIONS + 2 * PAIRS + 1000}`,
      'c2s_max_unauthenticated_per_ip: 10000',
      // Throughput is what is measured: no shaper.
      'shaper_rules: {c2s_shaper: none}',
      // JSON is YAML.
      ...(modules ? [`modules: ${JSON.stringify(modules)}`] : []),
      '',
    ].join('\n'),
  )

  // The store through its own schema, filled in one transaction.
  const {SqliteAccountStore} = await import(path.join(root, 'dist/src/store/sqlite/index.js'))
  const store = SqliteAccountStore.open(data)
  await store.close()
  const {default: Database} = await import(path.join(root, 'dist/src/store/sqlite/driver.js'))
  const db = new Database(path.join(data, 'accounts.sqlite'))
  const account = db.prepare("INSERT INTO accounts (host, username, state, created_at) VALUES (?, ?, 'enabled', ?)")
  const credential = db.prepare("INSERT INTO scram_credentials (host, username, hash, salt, iterations, stored_key, server_key) VALUES (?, ?, 'sha1', ?, ?, ?, ?)")
  db.transaction(() => {
    for (let index = 0; index < ACCOUNTS; index++) {
      account.run(HOST, username(index), Date.now())
      credential.run(HOST, username(index), SALT, ITERATIONS, storedKey, serverKey)
    }
  })()
  db.close()

  return () => {
    let output = ''
    // BENCH_SERVER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") is for profiling our server.
    const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)
    if (HEAP_SNAPSHOTS) nodeArgs.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${HEAP_SNAPSHOTS}`)
    // The allocator the background server gets (the benchmark runs ours in the foreground to read its output).
    const {env} = allocatorEnvironment(ALLOCATOR, process.env, findJemalloc())
    const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'bin', 'run.js'), 'start', '--foreground', '--log-level', 'warn', '-c', config], {stdio: ['ignore', 'pipe', 'pipe'], env})
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    return {child, port, log: () => output, name, snapshots: HEAP_SNAPSHOTS !== undefined}
  }
}

/** Prosody 0.12's file store: data_path/HOST%-encoded/accounts/USER.dat, keys in hex. */
function prosodyAccounts(data) {
  const encode = (text) => text.replace(/[^a-zA-Z0-9]/g, (char) => `%${char.charCodeAt(0).toString(16).padStart(2, '0')}`)
  const accounts = path.join(data, encode(HOST), 'accounts')
  mkdirSync(accounts, {recursive: true})
  const body = [
    'return {',
    `\t["iteration_count"] = ${ITERATIONS};`,
    `\t["salt"] = "${SALT.toString()}";`,
    `\t["stored_key"] = "${storedKey.toString('hex')}";`,
    `\t["server_key"] = "${serverKey.toString('hex')}";`,
    '};',
    '',
  ].join('\n')
  for (let index = 0; index < ACCOUNTS; index++) writeFileSync(path.join(accounts, `${encode(username(index))}.dat`), body)
}

/** The few modules a login and a chat need: issue 6's reference. */
const PROSODY_MINIMAL = {name: 'prosody', modules: ['roster', 'saslauth', 'tls', 'disco', 'ping', 'posix'], settings: []}

/**
 * What users run: the modules_enabled of Debian's default
 * /etc/prosody/prosody.cfg.lua (prosody 0.12.3), in its order, none removed.
 * Those that could reach beyond loopback do nothing here: dialback acts only
 * on server-to-server connections (the bench makes none; s2s listens on
 * loopback), register refuses in-band registration (allow_registration
 * defaults to false and Debian's file leaves it unset), invites only answers
 * commands, and admin_shell listens on a Unix socket in the data directory.
 * mam stays off, as Debian's file comments it out. Prosody auto-loads c2s,
 * s2s, offline, presence, message and iq in both references.
 */
const PROSODY_DEFAULTS = {
  name: 'prosody_defaults',
  modules: [
    ...['disco', 'roster', 'saslauth', 'tls'],
    ...['blocklist', 'bookmarks', 'carbons', 'dialback', 'limits', 'pep', 'private', 'smacks', 'vcard4', 'vcard_legacy'],
    ...['csi_simple', 'invites', 'invites_adhoc', 'invites_register', 'ping', 'register', 'time', 'uptime', 'version'],
    ...['admin_adhoc', 'admin_shell'],
    'posix',
  ],
  // mod_limits is loaded, so each byte read pays for its throttle, but its rate is lifted: our server
  // runs with shaper none here, and a rate cap (Debian's 10 kb/s per client) would measure the cap.
  settings: ['limits = { c2s = { rate = "1000mb/s" }; s2sin = { rate = "1000mb/s" } }'],
}

async function prosody(dir, cert, {name, modules, settings}) {
  const binary = '/usr/bin/prosody'
  if (!existsSync(binary)) return {unavailable: 'prosody is not installed (apt-get install --no-install-recommends prosody)'}
  const version = spawnSync('prosodyctl', ['about'], {encoding: 'utf8'}).stdout?.match(/^Prosody (\d\S*)$/m)?.[1] ?? null
  const file = name.replace('_', '-')
  const data = path.join(dir, `${file}-data`)
  prosodyAccounts(data)
  const port = await freePort()
  const s2sPort = await freePort()
  const config = path.join(dir, `${file}.cfg.lua`)
  const logFile = path.join(dir, `${file}.log`)
  writeFileSync(
    config,
    [
      'run_as_root = true',
      `pidfile = "${path.join(dir, `${file}.pid`)}"`,
      `data_path = "${data}"`,
      'plugin_paths = {}',
      `log = { { levels = { min = "warn" }, to = "file", filename = "${logFile}" } }`,
      `modules_enabled = { ${modules.map((module) => `"${module}"`).join('; ')} }`,
      ...settings,
      'network_backend = "epoll"',
      `c2s_ports = { ${port} }`,
      'c2s_interfaces = { "127.0.0.1" }',
      `s2s_ports = { ${s2sPort} }`,
      's2s_interfaces = { "127.0.0.1" }',
      'authentication = "internal_hashed"',
      'c2s_require_encryption = true',
      'allow_unencrypted_plain_auth = false',
      `ssl = { certificate = "${cert.certFile}"; key = "${cert.keyFile}" }`,
      `VirtualHost "${HOST}"`,
      '',
    ].join('\n'),
  )
  return {
    version,
    modules,
    start: () => {
      let output = ''
      const child = spawn(binary, ['--config', config, '-F'], {stdio: ['ignore', 'pipe', 'pipe']})
      child.stdout.on('data', (chunk) => (output += chunk))
      child.stderr.on('data', (chunk) => (output += chunk))
      const log = () => output + (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '')

      return {child, port, log}
    },
  }
}

/** The certificates BENCH_CERTIFICATES may name: openssl's -newkey options, and how the JSON line names them. */
const CERTIFICATE_KINDS = {
  ecdsa: {label: 'ECDSA P-256', key: 'ecdsa_p256', newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']},
  rsa: {label: 'RSA 2048', key: 'rsa2048', newkey: ['-newkey', 'rsa:2048']},
}

function certificate(dir, kind) {
  const certFile = path.join(dir, `cert-${kind}.pem`)
  const keyFile = path.join(dir, `key-${kind}.pem`)
  const result = spawnSync(
    'openssl',
    ['req', '-x509', ...CERTIFICATE_KINDS[kind].newkey, '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${HOST}`, '-addext', `subjectAltName=DNS:${HOST}`],
    {encoding: 'utf8'},
  )
  if (result.status !== 0) throw new Error(`openssl could not make a certificate: ${result.stderr}`)
  return {certFile, keyFile, kind}
}

// ---- main -----------------------------------------------------------------

// BENCH_ONLY names the servers measured beside ours ("xmppctl" alone: neither Prosody).
const SERVER_NAMES = ['xmppctl', PROSODY_MINIMAL.name, PROSODY_DEFAULTS.name]
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((name) => name.trim())) : undefined
const unknownServer = [...(ONLY ?? [])].find((name) => !SERVER_NAMES.includes(name))
if (unknownServer !== undefined) {
  console.log(JSON.stringify({bench: 'server', error: `BENCH_ONLY names ${JSON.stringify(unknownServer)}, which is not a server here: write a comma list of ${SERVER_NAMES.join(', ')}`}))
  process.exit(1)
}

// BENCH_CERTIFICATES: the first certificate serves every measurement; each further one gets idle sessions of its own.
const CERTIFICATES = (process.env.BENCH_CERTIFICATES ?? 'ecdsa,rsa').split(',').map((kind) => kind.trim())
const unknownCertificate = CERTIFICATES.find((kind) => !Object.hasOwn(CERTIFICATE_KINDS, kind))
if (unknownCertificate !== undefined || CERTIFICATES.length === 0) {
  console.log(JSON.stringify({bench: 'server', error: `BENCH_CERTIFICATES names ${JSON.stringify(unknownCertificate)}: write a comma list of ${Object.keys(CERTIFICATE_KINDS).join(', ')}`}))
  process.exit(1)
}

// Each side holds IDLE_SESSIONS sockets at once (the load generator here, the
// server in its own process): raise the descriptor limit in a shell that
// re-runs this script, which the servers then inherit.
const NEEDED_FDS = IDLE_SESSIONS + 2 * PAIRS + 1024
const softLimit = Number(spawnSync('sh', ['-c', 'ulimit -n'], {encoding: 'utf8'}).stdout.trim())
if (Number.isFinite(softLimit) && softLimit < NEEDED_FDS) {
  if (process.env.BENCH_RAISED_FDS) {
    console.log(JSON.stringify({bench: 'server', error: `needs ${NEEDED_FDS} file descriptors, the hard limit is ${softLimit} (raise it, or set BENCH_SESSIONS lower)`}))
    process.exit(1)
  }

  const script = fileURLToPath(import.meta.url)
  const rerun = spawnSync('sh', ['-c', `ulimit -n ${NEEDED_FDS} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$1"`, process.execPath, script], {stdio: 'inherit', env: {...process.env, BENCH_RAISED_FDS: '1'}})
  process.exit(rerun.status ?? 1)
}

const describe = (error) => (error instanceof Error ? error.message : String(error))
const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-bench-server-'))
const running = []
try {
  const [mainCertificate, ...otherCertificates] = CERTIFICATES
  const cert = certificate(dir, mainCertificate)
  const oursStart = await ours(dir, cert)
  let withoutArchiveStart
  if (MEASURE.has('archive')) {
    const {DEFAULT_MODULES} = await import(path.join(root, 'dist/src/config/modules.js'))
    const {mod_mam: _archive, ...modules} = DEFAULT_MODULES
    withoutArchiveStart = await ours(dir, cert, 'ours-without-archive', modules)
  }

  // Each reference: its entry in the line, its login rounds, and its server while it can be measured.
  const references = []
  for (const setup of [PROSODY_MINIMAL, PROSODY_DEFAULTS]) {
    const prepared = ONLY && !ONLY.has(setup.name) ? {unavailable: `skipped (BENCH_ONLY=${process.env.BENCH_ONLY})`} : await prosody(dir, cert, setup)
    const entry = prepared.unavailable ? {available: false, reason: prepared.unavailable} : {available: true, version: prepared.version, modules: prepared.modules}
    references.push({name: setup.name, setup, start: prepared.start, entry, rounds: [], server: undefined})
  }

  const referenceFailed = (reference, error) => {
    reference.entry = {available: false, reason: `${reference.name} could not be measured: ${describe(error)}`}
    reference.server = undefined
  }

  let xmppctl
  try {
    const oursServer = await startServer('xmppctl', oursStart)
    running.push(oursServer.child)
    for (const reference of references) {
      if (!reference.entry.available) continue
      try {
        reference.server = await startServer(reference.name, reference.start)
        running.push(reference.server.child)
      } catch (error) {
        referenceFailed(reference, error)
      }
    }

    // What each server holds before any client came.
    await sleep(2000)
    const atStart = (server) => ({rss_at_start_kib: rssKiB(server.child.pid)})
    const oursAtStart = atStart(oursServer)
    for (const reference of references) if (reference.server) reference.entry = {...reference.entry, ...atStart(reference.server)}

    // This machine's speed drifts from minute to minute (shared host): logins, the figure compared most
    // closely, are measured in rounds that alternate between the servers, and the medians compared.
    const oursRounds = []
    for (let index = 0; MEASURE.has('logins') && index < LOGIN_ROUNDS; index++) {
      oursRounds.push(await measureLogins(oursServer.port, oursServer.child.pid))
      for (const reference of references) {
        if (!reference.server) continue
        try {
          reference.rounds.push(await measureLogins(reference.server.port, reference.server.child.pid))
        } catch (error) {
          referenceFailed(reference, error)
        }
      }
    }

    xmppctl = {allocator: allocatorEnvironment(ALLOCATOR, process.env, findJemalloc()).allocator, ...oursAtStart, ...(oursRounds.length > 0 ? loginSummary(oursRounds) : {}), ...(await measureRest(oursServer))}
    if (withoutArchiveStart) xmppctl.archive = await measureArchive(oursServer, withoutArchiveStart)
    for (const reference of references) {
      if (!reference.server) continue
      try {
        reference.entry = {...reference.entry, ...(reference.rounds.length > 0 ? loginSummary(reference.rounds) : {}), ...(await measureRest(reference.server))}
      } catch (error) {
        referenceFailed(reference, error)
      }
    }

    // Idle sessions with the other certificates, on fresh servers (the servers above idle meanwhile).
    for (const kind of MEASURE.has('sessions') ? otherCertificates : []) {
      const {key} = CERTIFICATE_KINDS[kind]
      const other = certificate(dir, kind)
      xmppctl[key] = await measureIdleWith(`xmppctl (${kind})`, await ours(dir, other, `ours-${kind}`))
      for (const reference of references) {
        if (!reference.entry.available) continue
        try {
          const prepared = await prosody(dir, other, {...reference.setup, name: `${reference.name}_${kind}`})
          reference.entry[key] = await measureIdleWith(`${reference.name} (${kind})`, prepared.start)
        } catch (error) {
          reference.entry[key] = {available: false, reason: describe(error)}
        }
      }
    }
  } catch (error) {
    console.log(JSON.stringify({bench: 'server', error: `xmppctl could not be measured: ${describe(error)}`}))
    process.exitCode = 1
  }

  if (xmppctl) {
    /** Our figures over a reference's; null when it could not be measured. */
    const against = (reference) => {
      const ratio = (a, b) => (reference.available ? round(a / b) : null)
      return {
        logins: ratio(xmppctl.logins_per_s, reference.logins_per_s),
        logins_best_round: ratio(xmppctl.logins_best_round_per_s, reference.logins_best_round_per_s),
        logins_per_cpu: ratio(xmppctl.logins_per_cpu_s, reference.logins_per_cpu_s),
        rss_per_session: ratio(xmppctl.rss_per_session_kib, reference.rss_per_session_kib),
        messages: ratio(xmppctl.messages_per_s, reference.messages_per_s),
        messages_per_cpu: ratio(xmppctl.messages_per_cpu_s, reference.messages_per_cpu_s),
        latency_p99: ratio(xmppctl.latency_p99_ms, reference.latency_p99_ms),
      }
    }

    const [minimal, defaults] = references.map((reference) => reference.entry)
    const ratios = against(minimal)
    const vsDefaults = against(defaults)
    // Each further certificate's idle sessions over the reference's.
    for (const kind of otherCertificates) {
      const {key} = CERTIFICATE_KINDS[kind]
      for (const [table, reference] of [[ratios, minimal], [vsDefaults, defaults]]) {
        table[`rss_per_session_${key}`] = reference.available && reference[key]?.rss_per_session_kib ? round(xmppctl[key]?.rss_per_session_kib / reference[key].rss_per_session_kib) : null
      }
    }

    const meets = (reference, ratios) => (reference.available ? {logins: ratios.logins >= 2, rss_per_session: ratios.rss_per_session <= 1, messages: ratios.messages >= 2} : null)
    console.log(
      JSON.stringify({
        bench: 'server',
        // The machine may be shared: a high load average makes absolute numbers noisy; the per-CPU figures hold up better.
        loadavg_1m_at_end: round(os.loadavg()[0]),
        settings: {login_concurrency: LOGIN_CONCURRENCY, login_seconds: LOGIN_SECONDS, login_rounds: LOGIN_ROUNDS, idle_sessions: IDLE_SESSIONS, pairs: PAIRS, in_flight_per_pair: IN_FLIGHT, message_seconds: MESSAGE_SECONDS, scram_iterations: ITERATIONS, tls: `STARTTLS, ${CERTIFICATE_KINDS[mainCertificate].label}`, idle_certificates: CERTIFICATES.map((kind) => CERTIFICATE_KINDS[kind].label)},
        xmppctl,
        prosody: minimal,
        prosody_defaults: defaults,
        ratios,
        vs_prosody_defaults: vsDefaults,
        targets: {logins: '>= 2', rss_per_session: '<= 1', messages: '>= 2', idle_session_kib: `<= ${IDLE_SESSION_TARGET_KIB}`},
        // Issue 19: an idle TLS session, whatever the certificate, within IDLE_SESSION_TARGET_KIB of RSS.
        met_idle_session_kib: Object.fromEntries(
          CERTIFICATES.map((kind, index) => {
            const figure = index === 0 ? xmppctl.rss_per_session_kib : xmppctl[CERTIFICATE_KINDS[kind].key]?.rss_per_session_kib
            return [CERTIFICATE_KINDS[kind].key, figure === undefined ? null : figure <= IDLE_SESSION_TARGET_KIB]
          }),
        ),
        met: meets(minimal, ratios),
        met_vs_prosody_defaults: meets(defaults, vsDefaults),
      }),
    )
  }
} finally {
  for (const child of running) await stop(child)
  rmSync(dir, {recursive: true, force: true})
}
