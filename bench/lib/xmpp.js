// Shared by the benchmarks that load a server with XMPP clients of their own
// (plain net/tls, no XMPP library): the accounts every server gets, a client
// that logs in with SCRAM-SHA-1 over STARTTLS, the login, message and idle
// session measurements, starting and stopping servers, certificates, and
// Debian's Prosody as a reference. bench/server.js and bench/cluster.js.
import {spawn, spawnSync} from 'node:child_process'
import {createHash, createHmac, pbkdf2Sync, randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'

export const HOST = 'bench.test'
export const PASSWORD = 'bench password'
export const ITERATIONS = 10_000
// Prosody's internal_hashed keeps a UUID string as salt; its bytes are the salt.
export const SALT = Buffer.from('5b2ab9d0-5a52-4f41-8e33-1c0e3b0c7d11')
const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'

export const round = (value, digits = 2) => (value === null || value === undefined || Number.isNaN(value) ? null : Math.round(value * 10 ** digits) / 10 ** digits)
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
export const now = () => Number(process.hrtime.bigint()) / 1e6
export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
export const describe = (error) => (error instanceof Error ? error.message : String(error))

// ---- credentials --------------------------------------------------------

const salted = pbkdf2Sync(PASSWORD, SALT, ITERATIONS, 20, 'sha1')
const hmac = (key, text) => createHmac('sha1', key).update(text).digest()
const clientKey = hmac(salted, 'Client Key')
export const storedKey = createHash('sha1').update(clientKey).digest()
export const serverKey = hmac(salted, 'Server Key')
export const username = (index) => `user${index}`

// ---- a minimal client ---------------------------------------------------

export class Connection {
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

/** STARTTLS, SCRAM-SHA-1 (client-side RFC 5802 with a cached salted password), then optionally bind (to `resource` if given) and presence. */
export async function login(port, user, {bind = false, resource = undefined} = {}) {
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
    const wanted = resource === undefined ? '' : `<resource>${resource}</resource>`
    connection.write(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>${wanted}</bind></iq>`)
    const jid = (await connection.until(/<jid>([^<]+)<\/jid>[\s\S]*?<\/iq>/))[1]
    connection.write('<presence/>')
    return {connection, jid}
  } catch (error) {
    connection.destroy()
    throw error
  }
}

// ---- measurements ---------------------------------------------------------

/** CPU time (user + system) a process has used, in milliseconds (/proc/PID/stat, 100 ticks a second). */
export function cpuMs(pid) {
  return statTicks(`/proc/${pid}/stat`) * 10
}

/** User + system CPU ticks (1/100 s) in a /proc stat file, a process's or a thread's. */
function statTicks(file) {
  const fields = readFileSync(file, 'utf8').split(') ')[1].split(' ')
  return Number(fields[11]) + Number(fields[12])
}

/** VmRSS of a process, in KiB. */
export function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1])
}

/**
 * SCRAM-SHA-1 logins over STARTTLS for `seconds` (after 1.5 s of warm-up),
 * `concurrency` at a time, hanging up after <success/>, cycling through
 * accounts 0 to `accounts` − 1. `cpuMs()` reads the server's CPU time in ms;
 * each of `otherCpuMs` (name → reader) adds logins_per_cpu_s_NAME, the
 * logins per CPU second of the server and that reader together.
 */
export async function measureLogins({port, cpuMs: serverCpuMs, otherCpuMs = {}, accounts, seconds, concurrency = 50}) {
  let done = 0
  let failed = 0
  let lastError
  let counting = false
  let stop = false
  let next = 0
  const worker = async () => {
    while (!stop) {
      try {
        const {connection} = await login(port, username(next++ % accounts))
        // Hang up right after <success/>: closing the stream politely would need a stream restart first.
        connection.destroy()
        if (counting) done++
      } catch (error) {
        failed++
        lastError = error
      }
    }
  }

  const workers = Array.from({length: concurrency}, worker)
  await sleep(1500)
  counting = true
  const start = now()
  const cpuStart = serverCpuMs()
  const othersStart = Object.fromEntries(Object.entries(otherCpuMs).map(([name, read]) => [name, read()]))
  const generatorStart = process.cpuUsage()
  await sleep(seconds * 1000)
  const elapsed = (now() - start) / 1000
  const logins = done
  const cpu = serverCpuMs() - cpuStart
  const others = Object.fromEntries(Object.entries(otherCpuMs).map(([name, read]) => [name, read() - othersStart[name]]))
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
    ...Object.fromEntries(Object.entries(others).map(([name, other]) => [`logins_per_cpu_s_${name}`, round(logins / ((cpu + other) / 1000), 1)])),
    login_failures: failed,
    generator_cpu_ms_per_login: round((generator.user + generator.system) / 1000 / logins, 3),
  }
}

let exchanges = 0

/**
 * Messages from each pair's sender to its receiver ({sender, receiver}, as
 * login() returns them, bound), each pair keeping `inFlight` messages in
 * flight (closed loop), counted for `seconds` after `warmupMs`; the body
 * carries the send time and a tag of this call, so that what is still in
 * flight from an earlier call on the same connections is not counted (nor
 * answered). The connections stay open. `cpuMs` and `otherCpuMs` as for
 * measureLogins.
 */
export async function exchangeMessages(pairs, {seconds, inFlight, cpuMs: serverCpuMs, otherCpuMs = {}, warmupMs = 2000}) {
  const tag = ++exchanges
  let counting = false
  let stop = false
  let delivered = 0
  const latencies = []
  for (const {sender, receiver} of pairs) {
    let sequence = 0
    const send = () => {
      if (stop) return
      sender.connection.write(`<message to='${receiver.jid}' type='chat' id='m${sequence++}'><body>${tag} ${now().toFixed(3)}</body></message>`)
    }

    receiver.connection.buffer = ''
    receiver.connection.onText = () => {
      const {buffer} = receiver.connection
      const body = /<body>(\d+) ([\d.]+)<\/body>/g
      let match
      let consumed = 0
      while ((match = body.exec(buffer))) {
        consumed = body.lastIndex
        if (Number(match[1]) !== tag) continue
        if (counting) {
          delivered++
          latencies.push(now() - Number(match[2]))
        }

        send()
      }

      receiver.connection.buffer = buffer.slice(consumed)
    }

    for (let index = 0; index < inFlight; index++) send()
  }

  await sleep(warmupMs)
  counting = true
  const start = now()
  const cpuStart = serverCpuMs()
  const othersStart = Object.fromEntries(Object.entries(otherCpuMs).map(([name, read]) => [name, read()]))
  await sleep(seconds * 1000)
  counting = false
  const elapsed = (now() - start) / 1000
  const cpu = serverCpuMs() - cpuStart
  const others = Object.fromEntries(Object.entries(otherCpuMs).map(([name, read]) => [name, read() - othersStart[name]]))
  stop = true
  await sleep(500)
  latencies.sort((a, b) => a - b)
  const percentile = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]
  return {
    messages_per_s: round(delivered / elapsed, 1),
    messages_per_cpu_s: round(delivered / (cpu / 1000), 1),
    ...Object.fromEntries(Object.entries(others).map(([name, other]) => [`messages_per_cpu_s_${name}`, round(delivered / ((cpu + other) / 1000), 1)])),
    latency_p50_ms: round(percentile(0.5)),
    latency_p99_ms: round(percentile(0.99)),
  }
}

/** CPU ticks (1/100 s) of each thread of a process, by thread id (/proc/PID/task/TID/stat). */
function threadTicks(pid) {
  const ticks = new Map()
  for (const thread of readdirSync(`/proc/${pid}/task`)) {
    try {
      ticks.set(thread, statTicks(`/proc/${pid}/task/${thread}/stat`))
    } catch {
      // The thread ended between the listing and the read.
    }
  }

  return ticks
}

/**
 * The server's CPU per message at a fixed rate: `rate` messages a second
 * across `pairs` (sent every 10 ms, round robin), for `seconds` after
 * `warmupMs`. Unlike exchangeMessages, the work per message does not depend
 * on how fast the server is (a faster server does not get bigger batches per
 * read and write), so two servers' figures compare even on a noisy machine.
 * Reports the process's CPU µs per message, and its busiest thread's (the
 * event loop) and the rest's (worker threads, GC helpers) apart.
 */
export async function exchangeAtRate(pairs, {rate, seconds, pid, warmupMs = 1000}) {
  let delivered = 0
  let sequence = 0
  for (const {receiver} of pairs) {
    receiver.connection.buffer = ''
    receiver.connection.onText = () => {
      const {buffer} = receiver.connection
      const body = /<body>fixed<\/body>/g
      let consumed = 0
      while (body.exec(buffer)) {
        consumed = body.lastIndex
        delivered++
      }

      receiver.connection.buffer = buffer.slice(consumed)
    }
  }

  const perTick = rate / 100
  let owed = 0
  const sending = setInterval(() => {
    owed += perTick
    for (; owed >= 1; owed--) {
      const {sender, receiver} = pairs[sequence++ % pairs.length]
      sender.connection.write(`<message to='${receiver.jid}' type='chat' id='f${sequence}'><body>fixed</body></message>`)
    }
  }, 10)
  try {
    await sleep(warmupMs)
    const [start, cpuStart, threadsStart, deliveredStart] = [now(), cpuMs(pid), threadTicks(pid), delivered]
    await sleep(seconds * 1000)
    const [elapsed, cpu, threadsEnd, count] = [(now() - start) / 1000, cpuMs(pid) - cpuStart, threadTicks(pid), delivered - deliveredStart]
    const busy = [...threadsEnd].map(([thread, ticks]) => ticks - (threadsStart.get(thread) ?? 0)).sort((a, b) => b - a)
    const main = busy[0] ?? 0
    return {
      messages_per_s: round(count / elapsed, 1),
      cpu_us_per_message: round((cpu * 1000) / count),
      main_thread_us_per_message: round((main * 10_000) / count),
      other_threads_us_per_message: round((busy.slice(1).reduce((sum, ticks) => sum + ticks, 0) * 10_000) / count),
    }
  } finally {
    clearInterval(sending)
    await sleep(500)
  }
}

/**
 * RSS per idle, authenticated, bound session: `sessions` sessions opened 100
 * at a time, RSS (`rss()`, KiB) read before and 5 s after; then closed, and
 * RSS read again `closeSettleMs` later. `snapshot(label)`, if given, runs
 * before, with the sessions open and after they closed.
 */
export async function measureIdle({port, rss, sessions: wanted, accounts = (index) => username(index), closeSettleMs, snapshot = async () => {}}) {
  await sleep(2000)
  const before = rss()
  await snapshot('before')
  const sessions = []
  let next = 0
  let lastError
  const opener = async () => {
    while (next < wanted) {
      const index = next++
      try {
        sessions.push((await login(port, accounts(index), {bind: true})).connection)
      } catch (error) {
        lastError = error
      }
    }
  }

  await Promise.all(Array.from({length: 100}, opener))
  // Let both servers settle (and collect the handshakes' garbage) before reading RSS.
  await sleep(5000)
  const open = sessions.filter((connection) => !connection.closed).length
  const after = rss()
  await snapshot('open')
  for (const connection of sessions) connection.destroy()
  if (open < wanted * 0.99) throw new Error(`only ${open} of ${wanted} sessions stayed open: ${lastError?.message}`)
  // What the server gives back once its sessions are gone: the closes, then a few seconds of quiet.
  await sleep(closeSettleMs)
  const afterClose = rss()
  await snapshot('closed')
  return {sessions: open, rss_before_kib: before, rss_after_kib: after, rss_per_session_kib: round((after - before) / open), rss_after_close_kib: afterClose}
}

/** The median round of each login figure, every round's rate (so the spread shows) and the best. */
export function loginSummary(rounds) {
  const medianOf = (key) => median(rounds.map((entry) => entry[key]))
  // Per-CPU figures of further CPU readers (measureLogins' otherCpuMs), when the rounds have them.
  const others = Object.keys(rounds[0]).filter((key) => key.startsWith('logins_per_cpu_s_'))
  return {
    logins_per_s: medianOf('logins_per_s'),
    logins_per_cpu_s: medianOf('logins_per_cpu_s'),
    ...Object.fromEntries(others.map((key) => [key, medianOf(key)])),
    login_failures: rounds.reduce((sum, entry) => sum + entry.login_failures, 0),
    generator_cpu_ms_per_login: medianOf('generator_cpu_ms_per_login'),
    login_rounds_per_s: rounds.map((entry) => entry.logins_per_s),
    // Interference only ever slows a server down, and Prosody slows from round to round even alone:
    // the best rounds are the comparison most generous to Prosody.
    logins_best_round_per_s: Math.max(...rounds.map((entry) => entry.logins_per_s)),
  }
}

// ---- servers --------------------------------------------------------------

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address()
      server.close(() => resolve(port))
    })
  })
}

export async function waitListening(port, child, name, log) {
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

export async function stop(child) {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await Promise.race([exited, sleep(10_000)])
  if (child.exitCode === null) child.kill('SIGKILL')
}

/** Starts a server and waits until it listens; stops it if it never does. */
export async function startServer(name, start) {
  const server = await start()
  try {
    await waitListening(server.port, server.child, name, server.log)
  } catch (error) {
    await stop(server.child)
    throw error
  }

  return server
}

/**
 * Each side of the benchmark holds as many sockets as there are sessions (the
 * load generator here, the server in its own process): when the descriptor
 * limit is below `needed`, re-runs `script` in a shell that raises it (the
 * servers then inherit it) and exits with its status; `knob` is the setting
 * that lowers the need.
 */
export function ensureFileDescriptors(needed, script, bench, knob = 'BENCH_SESSIONS') {
  const softLimit = Number(spawnSync('sh', ['-c', 'ulimit -n'], {encoding: 'utf8'}).stdout.trim())
  if (!Number.isFinite(softLimit) || softLimit >= needed) return
  if (process.env.BENCH_RAISED_FDS) {
    console.log(JSON.stringify({bench, error: `needs ${needed} file descriptors, the hard limit is ${softLimit} (raise it, or set ${knob} lower)`}))
    process.exit(1)
  }

  const rerun = spawnSync('sh', ['-c', `ulimit -n ${needed} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$1"`, process.execPath, script], {stdio: 'inherit', env: {...process.env, BENCH_RAISED_FDS: '1'}})
  process.exit(rerun.status ?? 1)
}

// ---- certificates ---------------------------------------------------------

/** The certificates a benchmark may use: openssl's -newkey options, and how the JSON line names them. */
export const CERTIFICATE_KINDS = {
  ecdsa: {label: 'ECDSA P-256', key: 'ecdsa_p256', newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']},
  rsa: {label: 'RSA 2048', key: 'rsa2048', newkey: ['-newkey', 'rsa:2048']},
}

export function certificate(dir, kind) {
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

// ---- Prosody ----------------------------------------------------------------

/** Prosody 0.12's file store: data_path/HOST%-encoded/accounts/USER.dat, keys in hex; accounts 0 to `count` − 1. */
function prosodyAccounts(data, count) {
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
  for (let index = 0; index < count; index++) writeFileSync(path.join(accounts, `${encode(username(index))}.dat`), body)
}

/** The few modules a login and a chat need: issue 6's reference. */
export const PROSODY_MINIMAL = {name: 'prosody', modules: ['roster', 'saslauth', 'tls', 'disco', 'ping', 'posix'], settings: []}

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
export const PROSODY_DEFAULTS = {
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

/**
 * PROSODY_DEFAULTS with the "mam" line of Debian's file uncommented, every
 * message archived (default_archive_policy = true, as our mod_mam's
 * `default: always`), in the default internal storage: the archive's cost
 * on Prosody, beside ours (issue 12).
 */
export const PROSODY_DEFAULTS_MAM = {
  name: 'prosody_defaults_mam',
  modules: [...PROSODY_DEFAULTS.modules, 'mam'],
  settings: [...PROSODY_DEFAULTS.settings, 'default_archive_policy = true'],
}

/**
 * Debian's Prosody with the `setup` (PROSODY_MINIMAL or PROSODY_DEFAULTS,
 * possibly renamed) and accounts 0 to `accounts` − 1, its files in `dir`:
 * {version, modules, start()} for startServer, or {unavailable} when it is
 * not installed.
 */
export async function prosody(dir, cert, {name, modules, settings}, accounts) {
  const binary = '/usr/bin/prosody'
  if (!existsSync(binary)) return {unavailable: 'prosody is not installed (apt-get install --no-install-recommends prosody)'}
  const version = spawnSync('prosodyctl', ['about'], {encoding: 'utf8'}).stdout?.match(/^Prosody (\d\S*)$/m)?.[1] ?? null
  const file = name.replace('_', '-')
  const data = path.join(dir, `${file}-data`)
  prosodyAccounts(data, accounts)
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
