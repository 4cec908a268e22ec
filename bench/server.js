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
//   BENCH_ARCHIVE_ROUNDS, BENCH_ARCHIVE_RATE  see below
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
// Then as many rounds at a fixed rate (BENCH_ARCHIVE_RATE messages a second,
// default 20000), "fixed_rate": each server's CPU µs per message, its event
// loop's and its other threads' (the archive writer) apart, and their
// difference, archive_cpu_us_per_message. Closed-loop throughput on a shared
// 2-core machine swings by 2× between rounds of one server; the CPU per
// message at a fixed rate moves by about ±5%, so compare changes with it.
// With prosody_defaults measured, prosody_defaults.archive is the same
// comparison for Prosody: a third instance with Debian's commented-out
// "mam" enabled (every message archived, internal storage) against it, in
// alternating rounds, without the fixed rate (beyond Prosody's reach).
import {spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import os, {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {
  CERTIFICATE_KINDS,
  HOST,
  ITERATIONS,
  PROSODY_DEFAULTS,
  PROSODY_DEFAULTS_MAM,
  PROSODY_MINIMAL,
  SALT,
  certificate,
  cpuMs,
  describe,
  ensureFileDescriptors,
  exchangeAtRate,
  exchangeMessages,
  freePort,
  login,
  loginSummary,
  measureIdle as measureIdleSessions,
  measureLogins as measureLoginRound,
  median,
  prosody as prosodySetup,
  round,
  rssKiB,
  serverKey,
  sleep,
  startServer,
  stop,
  storedKey,
  username,
} from './lib/xmpp.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const LOGIN_CONCURRENCY = 50
const LOGIN_SECONDS = Number(process.env.BENCH_LOGIN_SECONDS ?? 8)
const LOGIN_ROUNDS = Number(process.env.BENCH_LOGIN_ROUNDS ?? 3)
const IDLE_SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10_000)
const PAIRS = 100
const IN_FLIGHT = 8
const MESSAGE_SECONDS = Number(process.env.BENCH_MESSAGE_SECONDS ?? 8)
const ARCHIVE_ROUNDS = Number(process.env.BENCH_ARCHIVE_ROUNDS ?? 3)
const ARCHIVE_RATE = Number(process.env.BENCH_ARCHIVE_RATE ?? 20_000)
const ACCOUNTS = IDLE_SESSIONS + 2 * PAIRS
/** Issue 19's target for one idle, authenticated, bound TLS session. */
const IDLE_SESSION_TARGET_KIB = 30
const CLOSE_SETTLE_MS = Number(process.env.BENCH_CLOSE_SETTLE_SECONDS ?? 5) * 1000
const HEAP_SNAPSHOTS = process.env.BENCH_HEAP_SNAPSHOTS ? path.resolve(process.env.BENCH_HEAP_SNAPSHOTS) : undefined

// ---- the three measurements ---------------------------------------------

async function measureLogins(port, pid) {
  return measureLoginRound({port, cpuMs: () => cpuMs(pid), accounts: IDLE_SESSIONS, seconds: LOGIN_SECONDS, concurrency: LOGIN_CONCURRENCY})
}

async function measureMessages(port, pid) {
  return withPairs(port, async (pairs) => {
    await sleep(500)
    return exchangeMessages(pairs, {seconds: MESSAGE_SECONDS, inFlight: IN_FLIGHT, cpuMs: () => cpuMs(pid)})
  })
}

/** Server CPU per message at BENCH_ARCHIVE_RATE messages a second (bench/lib/xmpp.js exchangeAtRate). */
async function measureMessagesAtRate(server) {
  return withPairs(server.port, (pairs) => exchangeAtRate(pairs, {rate: ARCHIVE_RATE, seconds: MESSAGE_SECONDS, pid: server.child.pid}))
}

/** PAIRS fresh sender→receiver sessions for `measure`, closed after it. */
async function withPairs(port, measure) {
  const pairs = []
  try {
    for (let index = 0; index < PAIRS; index++) {
      const receiver = await login(port, username(IDLE_SESSIONS + PAIRS + index), {bind: true})
      const sender = await login(port, username(IDLE_SESSIONS + index), {bind: true})
      pairs.push({sender, receiver})
    }

    return await measure(pairs)
  } finally {
    for (const {sender, receiver} of pairs) {
      sender.connection.destroy()
      receiver.connection.destroy()
    }
  }
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
  const pid = server.child.pid
  return measureIdleSessions({port: server.port, rss: () => rssKiB(pid), sessions: IDLE_SESSIONS, closeSettleMs: CLOSE_SETTLE_MS, snapshot: (label) => heapSnapshot(server, label)})
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

/**
 * Messages per second of a server with its archive (`withArchive`) and
 * without (`withoutArchive`), both running, in alternating rounds; the
 * medians compared. `fixedRate`: as many rounds again at ARCHIVE_RATE, for
 * the CPU each message costs (Prosody cannot reach that rate).
 */
async function compareArchive(withArchive, withoutArchive, {atFixedRate}) {
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
  const result = {rounds: ARCHIVE_ROUNDS, on: archiveOn, off: archiveOff, ratio, ratio_per_cpu: round(archiveOn.messages_per_cpu_s / archiveOff.messages_per_cpu_s), target: '>= 0.75', met: ratio >= 0.75}
  if (!atFixedRate) return result

  const atRate = {on: [], off: []}
  for (let index = 0; index < ARCHIVE_ROUNDS; index++) {
    atRate.on.push(await measureMessagesAtRate(withArchive))
    atRate.off.push(await measureMessagesAtRate(withoutArchive))
  }

  const costs = (rounds) => Object.fromEntries(['cpu_us_per_message', 'main_thread_us_per_message', 'other_threads_us_per_message'].map((key) => [key, median(rounds.map((round) => round[key]))]))
  const fixedRate = {
    rate_per_s: ARCHIVE_RATE,
    on: costs(atRate.on),
    off: costs(atRate.off),
    rounds_cpu_us_per_message: {on: atRate.on.map((round) => round.cpu_us_per_message), off: atRate.off.map((round) => round.cpu_us_per_message)},
  }
  fixedRate.archive_cpu_us_per_message = round(fixedRate.on.cpu_us_per_message - fixedRate.off.cpu_us_per_message)
  return {...result, fixed_rate: fixedRate}
}

/** compareArchive() with a second server started here (`start`) and stopped after; `arguments_` puts it in its place. */
async function compareArchiveWith(name, start, arguments_) {
  const started = await startServer(name, start)
  try {
    return await compareArchive(...arguments_(started))
  } finally {
    await stop(started.child)
  }
}

// ---- servers --------------------------------------------------------------


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

/** Prosody with `setup` and this benchmark's accounts (bench/lib/xmpp.js). */
const prosody = (dir, cert, setup) => prosodySetup(dir, cert, setup, ACCOUNTS)

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
ensureFileDescriptors(IDLE_SESSIONS + 2 * PAIRS + 1024, fileURLToPath(import.meta.url), 'server')

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
    if (withoutArchiveStart) xmppctl.archive = await compareArchiveWith('xmppctl without mod_mam', withoutArchiveStart, (withoutArchive) => [oursServer, withoutArchive, {atFixedRate: true}])
    for (const reference of references) {
      if (!reference.server) continue
      try {
        reference.entry = {...reference.entry, ...(reference.rounds.length > 0 ? loginSummary(reference.rounds) : {}), ...(await measureRest(reference.server))}
      } catch (error) {
        referenceFailed(reference, error)
        continue
      }

      // Its own failure keeps what was measured of the reference above.
      if (!MEASURE.has('archive') || reference.setup !== PROSODY_DEFAULTS) continue
      try {
        const prepared = await prosody(dir, cert, PROSODY_DEFAULTS_MAM)
        reference.entry.archive = prepared.unavailable
          ? {available: false, reason: prepared.unavailable}
          : await compareArchiveWith('prosody_defaults with mam', prepared.start, (withArchive) => [withArchive, reference.server, {atFixedRate: false}])
      } catch (error) {
        reference.entry.archive = {available: false, reason: `prosody_defaults with mam could not be measured: ${describe(error)}`}
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
