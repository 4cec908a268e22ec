#!/usr/bin/env node
// Issue 18: on one machine, in one run, one cluster node against
// `cluster.workers: 2` (a supervisor and two worker processes sharing the
// port), both on PostgreSQL and Redis on the same machine, with Debian's
// ejabberd 23.01 and Prosody 0.12 alongside. Configurations (BENCH_ONLY):
//   ours-1       one node: sql_type pgsql, sm_db_type redis, cluster {node: n}
//   ours-2       the same with cluster {node: n, workers: BENCH_CLUSTER_WORKERS}:
//                nodes n-1 … n-N; "unavailable" when this build refuses
//                cluster.workers (a configuration error)
//   ours-sqlite  the plain default, one process on SQLite, no Redis: what users
//                run today, for reference
//   ejabberd     Debian's ejabberd 23.01, run as root as bench/muc.js does,
//                internal Mnesia, SCRAM-SHA-1 stored credentials, STARTTLS
//                required (unavailable when not root or not installed)
//   prosody      Debian's Prosody 0.12 with the few modules a login and a chat
//                need, as bench/server.js runs it
// ours-1 and ours-2 each have a database of their own on one private
// PostgreSQL cluster and a Redis of their own (Redis pub/sub is not per
// database: on one Redis they would be one cluster). Every server gets the
// same accounts (SCRAM-SHA-1, 10,000 iterations, the same salt and keys), the
// same ECDSA certificate and a loopback port, and runs the whole time; one is
// loaded at a time. Measured with bench/lib/xmpp.js's client:
//   - SCRAM-SHA-1 logins over STARTTLS per second at concurrency 50, and per
//     CPU second of the server's processes (the process we start and all its
//     descendants: for ours-2 the supervisor and its workers; exited children
//     count through their parent's cutime), for ours-1/ours-2 also with the
//     CPU of their Redis and of PostgreSQL (postmaster and backends) added
//     (`_with_backends`), in BENCH_LOGIN_ROUNDS rounds alternating between
//     the servers (the machine is shared and noisy): the medians compared;
//   - messages per second, p50 and p99 latency across BENCH_PAIRS
//     sender→receiver pairs, each with 8 messages in flight, in
//     BENCH_MESSAGE_ROUNDS alternating rounds, and for ours-1/ours-2 the CPU
//     their Redis spends per message (`redis_cpu_us_per_message`). With several nodes each pair's
//     two ends are on different nodes: a node is chosen by the shared port,
//     not by us, so sessions are opened (bound to resource "bench") until
//     there are enough on each node, found in Redis (HKEYS
//     xmppctl:sessions:NODE of each member of xmppctl:nodes);
//   - the latency Redis adds: p50/p99 of a single message in flight between
//     one pair for BENCH_LATENCY_SECONDS, on ours-2 between two sessions of
//     one node and between two sessions on different nodes, and on ours-1;
//   - RSS (VmRSS, summed over the server's processes) per idle, bound TLS
//     session at BENCH_CLUSTER_SESSIONS sessions, one server at a time; for
//     ours-1/ours-2 also what their Redis grows by per session.
// Targets (issue 18): ours-2 ≥ 1.6 × ours-1 in logins and messages per
// second, and ours-2 ≥ 1.5 × ejabberd in logins per CPU second of the server
// processes (`met.logins_per_cpu_vs_ejabberd`; with Redis and PostgreSQL
// counted too, `met.logins_per_cpu_vs_ejabberd_with_backends`). Each round
// also reads how many cores the whole machine kept busy (`*_machine_cores_busy`:
// servers, load generator, Redis, PostgreSQL); `ratios.ours2_over_ours1_ceiling`
// is the most ours-2 could reach over ours-1 here, if every idle core went to
// it: cores / what ours-1's rounds kept busy. Prints one
// JSON line; a configuration that cannot run says why and its ratios are null.
//
// Needs `npm run build` (dist/test/postgres.js, dist/test/redis.js), root
// (PostgreSQL runs as its user, ejabberd as its own), Debian's postgresql,
// redis-server, ejabberd and prosody.
//
// Knobs (environment):
//   BENCH_CLUSTER_SESSIONS  idle sessions per server (default 10000); logins
//                           cycle through as many accounts
//   BENCH_CLUSTER_WORKERS   ours-2's cluster.workers (default 2)
//   BENCH_LOGIN_SECONDS     length of one login round (default 8)
//   BENCH_LOGIN_ROUNDS      login rounds per server (default 3)
//   BENCH_MESSAGE_SECONDS   length of one message round (default 8)
//   BENCH_MESSAGE_ROUNDS    message rounds per server (default 3)
//   BENCH_PAIRS             sender→receiver pairs (default 100)
//   BENCH_LATENCY_SECONDS   length of each one-in-flight measurement (default 5)
//   BENCH_CLOSE_SETTLE_SECONDS  wait after the idle sessions close before
//                           reading rss_after_close_kib (default 5)
//   BENCH_ONLY              comma list of ours-1, ours-2, ours-sqlite,
//                           ejabberd, prosody (default: all)
//   BENCH_MEASURE           comma list of logins, messages, latency, sessions
//                           (default: all)
//   BENCH_ALLOCATOR         our servers' memory_allocator (auto, jemalloc or
//                           system; default auto, as bench/server.js)
//   BENCH_SERVER_NODE_ARGS  node flags for our servers
// For a quick check: BENCH_CLUSTER_SESSIONS=300 BENCH_LOGIN_SECONDS=3
// BENCH_LOGIN_ROUNDS=2 BENCH_MESSAGE_SECONDS=3 BENCH_MESSAGE_ROUNDS=2
// BENCH_PAIRS=20 BENCH_LATENCY_SECONDS=2 node bench/cluster.js
import {spawn, spawnSync} from 'node:child_process'
import {chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import os, {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {startEjabberd} from './lib/ejabberd.js'
import {
  CERTIFICATE_KINDS,
  HOST,
  ITERATIONS,
  PROSODY_MINIMAL,
  SALT,
  certificate,
  describe,
  ensureFileDescriptors,
  exchangeMessages,
  freePort,
  login,
  loginSummary,
  measureIdle,
  measureLogins,
  median,
  prosody,
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
const SESSIONS = Number(process.env.BENCH_CLUSTER_SESSIONS ?? 10_000)
const WORKERS = Number(process.env.BENCH_CLUSTER_WORKERS ?? 2)
const LOGIN_CONCURRENCY = 50
const LOGIN_SECONDS = Number(process.env.BENCH_LOGIN_SECONDS ?? 8)
const LOGIN_ROUNDS = Number(process.env.BENCH_LOGIN_ROUNDS ?? 3)
const MESSAGE_SECONDS = Number(process.env.BENCH_MESSAGE_SECONDS ?? 8)
const MESSAGE_ROUNDS = Number(process.env.BENCH_MESSAGE_ROUNDS ?? 3)
const PAIRS = Number(process.env.BENCH_PAIRS ?? 100)
const IN_FLIGHT = 8
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 5)
const CLOSE_SETTLE_MS = Number(process.env.BENCH_CLOSE_SETTLE_SECONDS ?? 5) * 1000
const ALLOCATOR = process.env.BENCH_ALLOCATOR ?? 'auto'
/** Sessions a server's pair pool may open, at most, to find enough on each node: bounded, whatever the port's balancing does. */
const POOL_MAX = 4 * (PAIRS + 4) + 40
/** Accounts 0 … SESSIONS − 1 for logins and idle sessions, then the pools'. */
const ACCOUNTS = SESSIONS + POOL_MAX
const RESOURCE = 'bench'
const TARGETS = {logins_scaling: 1.6, messages_scaling: 1.6, logins_per_cpu_vs_ejabberd: 1.5}

const CONFIGURATIONS = ['ours-1', 'ours-2', 'ours-sqlite', 'ejabberd', 'prosody']
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((name) => name.trim()) : CONFIGURATIONS
const MEASURE = new Set((process.env.BENCH_MEASURE ?? 'logins,messages,latency,sessions').split(',').map((name) => name.trim()))
const wrongName = ONLY.find((name) => !CONFIGURATIONS.includes(name))
const wrongMeasure = [...MEASURE].find((name) => !['logins', 'messages', 'latency', 'sessions'].includes(name))
if (wrongName !== undefined || wrongMeasure !== undefined) {
  console.log(JSON.stringify({bench: 'cluster', error: wrongName !== undefined ? `BENCH_ONLY names ${JSON.stringify(wrongName)}: write a comma list of ${CONFIGURATIONS.join(', ')}` : `BENCH_MEASURE names ${JSON.stringify(wrongMeasure)}: write a comma list of logins, messages, latency, sessions`}))
  process.exit(1)
}

// The load generator holds every idle session of the server measured and the pair pools of all of them.
ensureFileDescriptors(SESSIONS + CONFIGURATIONS.length * POOL_MAX + 1024, fileURLToPath(import.meta.url), 'cluster', 'BENCH_CLUSTER_SESSIONS')

// ---- processes ------------------------------------------------------------

/** Every process: pid → {ppid, cpu} (utime + stime + cutime + cstime, in ms: what a process and its reaped children used). */
function processTable() {
  const table = new Map()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ')
      table.set(Number(name), {ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 10})
    } catch {
      // Gone meanwhile.
    }
  }

  return table
}

/** `rootPid` and its descendants, in `table`. */
function tree(rootPid, table = processTable()) {
  const pids = [rootPid]
  for (let index = 0; index < pids.length && index < 10_000; index++) {
    for (const [pid, entry] of table) if (entry.ppid === pids[index]) pids.push(pid)
  }

  return pids.filter((pid) => table.has(pid))
}

/** CPU ms of the trees under `roots` (pids, or functions giving one), read in one pass over /proc. */
function treeCpuMs(...roots) {
  const table = processTable()
  let sum = 0
  for (const rootPid of roots) {
    const pid = typeof rootPid === 'function' ? rootPid() : rootPid
    if (pid) for (const member of tree(pid, table)) sum += table.get(member).cpu
  }

  return sum
}

/** CPU ms of each process of the tree under `rootPid`: pid → ms. */
function cpuByProcess(rootPid) {
  const table = processTable()
  return new Map(tree(rootPid, table).map((pid) => [pid, table.get(pid).cpu]))
}

/** VmRSS summed over the tree under `rootPid`, in KiB. */
function treeRssKiB(rootPid) {
  let sum = 0
  for (const pid of tree(rootPid)) {
    try {
      sum += rssKiB(pid)
    } catch {
      // Gone meanwhile.
    }
  }

  return sum
}

/** The redis-server child of this process that serves `port` (it names its address in its title). */
function redisPid(port) {
  for (const [pid, entry] of processTable()) {
    if (entry.ppid !== process.pid) continue
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`:${port}`)) return pid
    } catch {
      // Gone meanwhile.
    }
  }

  return undefined
}

function maxOpenFiles(pid) {
  try {
    return Number(/^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1])
  } catch {
    return null
  }
}

// ---- accounts ---------------------------------------------------------------

const {formatUser, XEP0227_HEAD, XEP0227_TAIL, hostOpen, HOST_CLOSE} = await import(path.join(root, 'dist/src/migrate/xep0227.js'))
const {allocatorEnvironment, findJemalloc} = await import(path.join(root, 'dist/src/server/allocator.js'))

/** Accounts 0 … ACCOUNTS − 1 as XEP-0227 (ejabberd: as import_piefxis reads them). */
function accountsFile(file, {ejabberd = false} = {}) {
  const credentials = [{hash: 'sha1', storedKey, serverKey, salt: SALT, iterations: ITERATIONS}]
  const users = []
  for (let index = 0; index < ACCOUNTS; index++) users.push(formatUser(username(index), {plaintext: undefined, credentials}, {ejabberd}))
  writeFileSync(file, `${XEP0227_HEAD}${hostOpen(HOST)}${users.join('')}${HOST_CLOSE}${XEP0227_TAIL}`)
}

/**
 * The machine's busy CPU (every process: servers, load generator, Redis,
 * PostgreSQL) from now on; cores() is how many cores that kept busy on
 * average, warm-up and drain included.
 */
function machineBusy() {
  const busyMs = () => os.cpus().reduce((sum, {times}) => sum + times.user + times.nice + times.sys + times.irq, 0)
  const start = busyMs()
  const started = performance.now()
  return {cores: () => round((busyMs() - start) / (performance.now() - started), 2)}
}

// ---- servers ----------------------------------------------------------------

const bin = path.join(root, 'bin', 'run.js')
/** What this build says of cluster.workers when it does not know it. */
const workersRefused = (text) => /cluster\.workers/.test(text) && /unknown key|not allowed|invalid/i.test(text)
/** The line of `text` (or the message of its JSON error) that names cluster.workers. */
const workersProblem = (text) => {
  try {
    const {error} = JSON.parse(text)
    if (error?.message) return `${error.message}${error.hint ? ` (${error.hint})` : ''}`
  } catch {
    // Not JSON: the server's own lines.
  }

  return text.split('\n').find((line) => /cluster\.workers/.test(line))?.trim() ?? text.trim().slice(0, 300)
}

class Unavailable extends Error {}

/**
 * Our server in `dir`/`name`, started and listening: on PostgreSQL and
 * `redis` (a cluster node; `workers` > 1: a supervisor and workers) when
 * `backend` is given, else the default SQLite store.
 */
async function ours(dir, name, cert, accounts, {backend, workers = 1} = {}) {
  const home = path.join(dir, name)
  mkdirSync(home, {mode: 0o700})
  const port = await freePort()
  const lines = [
    `hosts: [${HOST}]`,
    `data_dir: ${path.join(home, 'data')}`,
    'listen:',
    `  - {port: ${port}, ip: 127.0.0.1, module: c2s, starttls: required}`,
    `certfiles: [${cert.certFile}, ${cert.keyFile}]`,
    'auth_scram_hash: [sha1]',
    `auth_scram_iterations: ${ITERATIONS}`,
    // Every benchmark connection comes from 127.0.0.1: the per-address caps would refuse the idle sessions.
    `c2s_max_connections_per_ip: ${ACCOUNTS + 1000}`,
    'c2s_max_unauthenticated_per_ip: 10000',
    // Throughput is what is measured: no shaper.
    'shaper_rules: {c2s_shaper: none}',
  ]
  // writePostgresConfig writes xmppctl.yml in `home` too.
  const config = path.join(home, 'xmppctl.yml')
  if (backend) {
    writeFileSync(path.join(home, 'redis.password'), `${backend.redis.password}\n`, {mode: 0o600})
    const {writePostgresConfig} = await import(path.join(root, 'dist/test/postgres.js'))
    writePostgresConfig(home, backend.database, [
      ...lines,
      'sm_db_type: redis',
      'redis_server: 127.0.0.1',
      `redis_port: ${backend.redis.port}`,
      'redis_password_file: ./redis.password',
      `cluster: {node: n${workers === 1 ? '' : `, workers: ${workers}`}}`,
    ])
  } else {
    writeFileSync(config, `${lines.join('\n')}\n`)
  }

  const imported = spawnSync(process.execPath, [bin, 'user', 'import', accounts, '--from', 'xep0227', '--json', '-c', config], {cwd: home, encoding: 'utf8', timeout: 600_000})
  if (imported.status !== 0) {
    const output = `${imported.stdout}${imported.stderr}`
    if (workersRefused(output)) throw new Unavailable(`this build does not take cluster.workers: ${workersProblem(imported.stdout.trim() ? imported.stdout : output)}`)
    throw new Error(`user import failed (${imported.status}): ${output.slice(-500)}`)
  }

  const created = JSON.parse(imported.stdout).counts?.created
  if (created !== ACCOUNTS) throw new Error(`user import created ${created} of ${ACCOUNTS} accounts`)

  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)
  // The allocator the background server gets (run here in the foreground to read its output).
  const {env, allocator} = allocatorEnvironment(ALLOCATOR, process.env, findJemalloc())
  let output = ''
  let server
  try {
    server = await startServer(name, () => {
      const child = spawn(process.execPath, [...nodeArgs, bin, 'start', '--foreground', '--log-level', process.env.BENCH_SERVER_LOG_LEVEL ?? 'warn', '-c', config], {cwd: home, stdio: ['ignore', 'pipe', 'pipe'], env})
      child.stdout.on('data', (chunk) => (output += chunk))
      child.stderr.on('data', (chunk) => (output += chunk))
      return {child, port, log: () => output}
    })
    // The port opens with the first worker that listens: the start line comes once every one does.
    for (let waited = 0; !/Ctrl-C stops it/.test(output); waited += 100) {
      if (server.child.exitCode !== null || waited > 60_000) throw new Error(`${name} did not say it started: ${output.slice(-500)}`)
      await sleep(100)
    }
  } catch (error) {
    if (server) await stop(server.child)
    if (workersRefused(output)) throw new Unavailable(`this build does not take cluster.workers: ${workersProblem(output)}`)
    throw error
  }

  const pid = server.child.pid
  const redis = backend ? redisPid(backend.redis.port) : undefined
  const postmaster = backend ? () => Number(readFileSync(path.join(backend.postgres.socketDir, 'postmaster.pid'), 'utf8').split('\n')[0]) : undefined
  return {
    name,
    port,
    child: server.child,
    log: () => output,
    allocator,
    pid,
    rootLabel: workers === 1 ? 'main' : 'supervisor',
    cpuMs: () => treeCpuMs(pid),
    cpuByProcess: () => cpuByProcess(pid),
    backendCpuMs: backend ? () => treeCpuMs(redis, postmaster) : undefined,
    redisCpuMs: redis ? () => treeCpuMs(redis) : undefined,
    rss: () => treeRssKiB(pid),
    redisRss: redis ? () => rssKiB(redis) : undefined,
    processes: () => tree(pid).length,
    // Which node each full JID is bound on, from the cluster's registry in Redis.
    nodesOf: backend ? () => sessionNodes(backend.redis) : undefined,
    stop: () => stop(server.child),
  }
}

/** The cluster's nodes from Redis: {nodes: [{node, pid, sessions}], of: Map full JID → node}. */
async function sessionNodes(redis) {
  const {createClient} = await import('@redis/client')
  const client = createClient({socket: {host: '127.0.0.1', port: redis.port, connectTimeout: 5000, reconnectStrategy: false}, password: redis.password})
  client.on('error', () => {})
  await client.connect()
  try {
    const of = new Map()
    const nodes = []
    for (const node of (await client.sMembers('xmppctl:nodes')).sort()) {
      const jids = await client.hKeys(`xmppctl:sessions:${node}`)
      const info = await client.hGetAll(`xmppctl:node:${node}`)
      nodes.push({node, pid: info.pid === undefined ? null : Number(info.pid), alive: (await client.exists(`xmppctl:node:${node}:alive`)) === 1, sessions: jids.length})
      for (const jid of jids) of.set(jid, node)
    }

    return {nodes, of}
  } finally {
    await client.quit().catch(() => {})
  }
}

/** Debian's ejabberd with the accounts (import_piefxis) and the certificate, STARTTLS required. */
async function ejabberd(dir, cert, accounts) {
  let tlsDir
  const started = await startEjabberd(dir, (port, owned) => {
    // ejabberd reads the certificate and key as its own user.
    tlsDir = owned('tls')
    const {uid, gid} = statSync(tlsDir)
    for (const file of [cert.certFile, cert.keyFile]) {
      const copy = path.join(tlsDir, path.basename(file))
      copyFileSync(file, copy)
      chownSync(copy, uid, gid)
    }

    return [
      `hosts: [${JSON.stringify(HOST)}]`,
      'loglevel: warning',
      'auth_method: [internal]',
      'auth_password_format: scram',
      'auth_scram_hash: sha',
      `certfiles: [${[cert.certFile, cert.keyFile].map((file) => JSON.stringify(path.join(tlsDir, path.basename(file)))).join(', ')}]`,
      'listen:',
      // Its listen queue is 5 by default: 100 logins at once (the idle measurement) would be dropped, not served. Node's is 511.
      `  - {port: ${port}, ip: "127.0.0.1", module: ejabberd_c2s, starttls: true, starttls_required: true, max_stanza_size: 262144, backlog: 1024}`,
      'modules:',
      '  mod_roster: {}',
      '  mod_disco: {}',
      '  mod_ping: {}',
    ]
  })
  if (started.unavailable) throw new Unavailable(started.unavailable)
  try {
    const file = path.join(started.owned('import'), 'accounts.xml')
    copyFileSync(accounts, file)
    const {uid, gid} = statSync(path.dirname(file))
    chownSync(file, uid, gid)
    const imported = started.ctl('import_piefxis', file)
    if (imported.status !== 0) throw new Error(`ejabberdctl import_piefxis failed: ${imported.stdout}${imported.stderr}`)
    // The first and last accounts log in as the measurements will (STARTTLS, SCRAM-SHA-1).
    for (const index of [0, ACCOUNTS - 1]) (await login(started.port, username(index))).connection.destroy()
  } catch (error) {
    await started.stop()
    throw error
  }

  const version = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'ejabberd'], {encoding: 'utf8'}).stdout || null
  return {
    name: 'ejabberd',
    port: started.port,
    version,
    max_open_files: maxOpenFiles(started.pid()),
    pid: started.pid(),
    cpuMs: () => treeCpuMs(started.pid()),
    cpuByProcess: () => cpuByProcess(started.pid()),
    rss: () => treeRssKiB(started.pid()),
    processes: () => tree(started.pid()).length,
    stop: started.stop,
  }
}

async function prosodyServer(dir, cert) {
  const prepared = await prosody(dir, cert, PROSODY_MINIMAL, ACCOUNTS)
  if (prepared.unavailable) throw new Unavailable(prepared.unavailable)
  const server = await startServer('prosody', prepared.start)
  const pid = server.child.pid
  return {
    name: 'prosody',
    port: server.port,
    version: prepared.version,
    modules: prepared.modules,
    pid,
    cpuMs: () => treeCpuMs(pid),
    cpuByProcess: () => cpuByProcess(pid),
    rss: () => treeRssKiB(pid),
    processes: () => tree(pid).length,
    stop: () => stop(server.child),
  }
}

/** A database of its own on `postgres` and a Redis of its own, both stopped by cleanUp. */
async function backend(postgres) {
  const {startRedis} = await import(path.join(root, 'dist/test/redis.js'))
  const redis = await startRedis({after: (fn) => cleanups.push(fn)})
  const database = await postgres.createDatabase()
  return {postgres, database, redis}
}

// ---- pairs --------------------------------------------------------------------

/**
 * Sessions for the message pairs and the one-in-flight pairs, bound to
 * RESOURCE, from accounts SESSIONS onwards: with several nodes, opened until
 * every node has enough for PAIRS pairs whose ends are on different nodes
 * (pair i: from node i mod N to node i + 1 mod N), one such pair more, and
 * one pair on a single node; at most POOL_MAX sessions.
 */
async function preparePairs(server) {
  const pool = []
  let next = 0
  let lastError
  const open = async (count) => {
    const target = Math.min(POOL_MAX, next + count)
    const opener = async () => {
      while (next < target) {
        const index = next++
        try {
          pool.push(await login(server.port, username(SESSIONS + index), {bind: true, resource: RESOURCE}))
        } catch (error) {
          lastError = error
        }
      }
    }

    await Promise.all(Array.from({length: 10}, opener))
  }

  const assemble = (groups) => {
    const names = [...groups.keys()].filter((node) => node !== null).sort()
    const free = new Map(names.map((node) => [node, [...groups.get(node)]]))
    const take = (node) => free.get(node).shift()
    const pairs = []
    if (names.length > 1) {
      for (let index = 0; index <= PAIRS; index++) {
        const from = names[index % names.length]
        const to = names[(index + 1) % names.length]
        if (free.get(from).length === 0 || free.get(to).length === 0) return undefined
        pairs.push({sender: take(from), receiver: take(to)})
      }
    } else {
      const only = free.get(names[0]) ?? []
      if (only.length < 2 * PAIRS) return undefined
      for (let index = 0; index < PAIRS; index++) pairs.push({sender: take(names[0]), receiver: take(names[0])})
    }

    const fullest = [...names].sort((a, b) => free.get(b).length - free.get(a).length)[0]
    if (fullest === undefined || free.get(fullest).length < 2) return undefined
    const sameNode = {sender: take(fullest), receiver: take(fullest)}
    return names.length > 1 ? {pairs: pairs.slice(0, PAIRS), crossNode: pairs[PAIRS], sameNode} : {pairs, crossNode: undefined, sameNode}
  }

  await open(2 * PAIRS + 4)
  for (let attempt = 0; ; attempt++) {
    const registry = server.nodesOf ? await server.nodesOf() : undefined
    const groups = new Map()
    for (const session of pool.filter(({connection}) => !connection.closed)) {
      const node = registry ? (registry.of.get(session.jid) ?? null) : 'single'
      groups.set(node, [...(groups.get(node) ?? []), session])
    }

    const known = [...groups.keys()].filter((node) => node !== null)
    // With several nodes up, wait for sessions on each (a registry lags a bind by a moment).
    const expected = registry ? registry.nodes.filter((node) => node.alive).length : 1
    const assembled = known.length >= expected ? assemble(groups) : undefined
    if (assembled) {
      return {
        ...assembled,
        pool,
        sessions_per_node: Object.fromEntries(known.sort().map((node) => [node, groups.get(node).length])),
        nodes: registry?.nodes.map(({node, pid, alive}) => ({node, pid, alive})),
      }
    }

    if (next >= POOL_MAX || attempt > 100) {
      for (const session of pool) session.connection.destroy()
      throw new Error(`could not find sessions for ${PAIRS} pairs across nodes in ${pool.length} sessions (per node: ${JSON.stringify(Object.fromEntries([...groups].map(([node, sessions]) => [node, sessions.length])))}${lastError ? `; last error: ${lastError.message}` : ''})`)
    }

    await sleep(200)
    if (known.length >= expected) await open(20)
  }
}

// ---- main -------------------------------------------------------------------

const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-bench-cluster-'))
// ejabberd's user reaches its directory below this one.
chmodSync(dir, 0o755)
const cleanups = []
const servers = []
let cleaning
const cleanUp = async () => {
  cleaning ??= (async () => {
    for (const server of servers.splice(0)) await server.stop().catch(() => {})
    for (const fn of cleanups.splice(0).reverse()) await Promise.resolve(fn()).catch(() => {})
    rmSync(dir, {recursive: true, force: true})
  })()
  return cleaning
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    void cleanUp().finally(() => process.exit(130))
  })
}

const entries = Object.fromEntries(CONFIGURATIONS.map((name) => [name, ONLY.includes(name) ? {available: true} : {available: false, reason: `skipped (BENCH_ONLY=${process.env.BENCH_ONLY})`}]))
const failed = (server, error) => {
  // What the server itself said (warnings and errors) is the first thing to read when it could not be measured.
  const said = server.log?.().trim().split('\n').slice(-Number(process.env.BENCH_SERVER_LOG_LINES ?? 5)).join(' | ')
  entries[server.name] = {...entries[server.name], available: false, reason: `${server.name} could not be measured: ${describe(error)}${said ? `; the server said: ${said}` : ''}`}
  const index = servers.indexOf(server)
  if (index >= 0) servers.splice(index, 1)
  void server.stop().catch(() => {})
}

try {
  const cert = certificate(dir, 'ecdsa')
  const pie = path.join(dir, 'accounts.xml')
  accountsFile(pie)

  // PostgreSQL and a Redis for each configuration on them.
  let postgres
  const wanted = (name) => entries[name].available
  if (wanted('ours-1') || wanted('ours-2')) {
    const {postgresMissing, startPostgres} = await import(path.join(root, 'dist/test/postgres.js'))
    const {redisMissing} = await import(path.join(root, 'dist/test/redis.js'))
    const missing = postgresMissing() ?? redisMissing()
    if (missing) {
      for (const name of ['ours-1', 'ours-2']) if (wanted(name)) entries[name] = {available: false, reason: missing}
    } else {
      postgres = await startPostgres((fn) => cleanups.push(fn))
    }
  }

  const starters = {
    'ours-1': async () => ours(dir, 'ours-1', cert, pie, {backend: await backend(postgres), workers: 1}),
    'ours-2': async () => ours(dir, 'ours-2', cert, pie, {backend: await backend(postgres), workers: WORKERS}),
    'ours-sqlite': () => ours(dir, 'ours-sqlite', cert, pie),
    ejabberd: () => {
      const file = path.join(dir, 'accounts-ejabberd.xml')
      accountsFile(file, {ejabberd: true})
      return ejabberd(dir, cert, file)
    },
    prosody: () => prosodyServer(dir, cert),
  }

  for (const name of CONFIGURATIONS) {
    if (!entries[name].available) continue
    try {
      const server = await starters[name]()
      servers.push(server)
      entries[name] = {
        available: true,
        ...(server.version ? {version: server.version} : {}),
        ...(server.allocator ? {allocator: server.allocator} : {}),
        ...(server.max_open_files ? {max_open_files: server.max_open_files} : {}),
      }
    } catch (error) {
      entries[name] = {available: false, reason: error instanceof Unavailable ? error.message : `${name} could not start: ${describe(error)}`}
    }
  }

  if (servers.length === 0) throw new Error('no configuration could run')

  // What each holds before any client came.
  await sleep(2000)
  for (const server of servers) entries[server.name] = {...entries[server.name], processes: server.processes(), rss_at_start_kib: server.rss()}

  // Logins, in rounds alternating between the servers.
  // With workers, the supervisor's and each worker's share of the CPU the login rounds took (warm-up and drain included).
  const loginRounds = new Map(servers.map((server) => [server, []]))
  const loginCpu = new Map(servers.map((server) => [server, new Map()]))
  for (let index = 0; MEASURE.has('logins') && index < LOGIN_ROUNDS; index++) {
    for (const server of [...servers]) {
      try {
        const others = server.backendCpuMs ? {with_backends: server.backendCpuMs} : {}
        const before = server.cpuByProcess()
        const machine = machineBusy()
        const round = await measureLogins({port: server.port, cpuMs: server.cpuMs, otherCpuMs: others, accounts: SESSIONS, seconds: LOGIN_SECONDS, concurrency: LOGIN_CONCURRENCY})
        loginRounds.get(server).push({...round, machine_cores_busy: machine.cores()})
        const used = loginCpu.get(server)
        for (const [pid, cpu] of server.cpuByProcess()) used.set(pid, (used.get(pid) ?? 0) + cpu - (before.get(pid) ?? 0))
      } catch (error) {
        failed(server, error)
      }
    }
  }

  for (const [server, rounds] of loginRounds) {
    if (!servers.includes(server) || rounds.length === 0) continue
    entries[server.name] = {...entries[server.name], ...loginSummary(rounds), login_machine_cores_busy: median(rounds.map((entry) => entry.machine_cores_busy))}
    const used = loginCpu.get(server)
    const total = [...used.values()].reduce((sum, cpu) => sum + cpu, 0)
    if (server.rootLabel === 'supervisor' && total > 0) {
      const names = new Map((server.nodesOf ? (await server.nodesOf()).nodes : []).map(({node, pid}) => [pid, node]))
      const label = (pid) => (pid === server.pid ? 'supervisor' : (names.get(pid) ?? `pid ${pid}`))
      entries[server.name].login_cpu_share = Object.fromEntries([...used].map(([pid, cpu]) => [label(pid), round(cpu / total)]))
    }
  }

  // Messages: the pairs of every server, then rounds alternating between them; then one message in flight.
  const prepared = new Map()
  for (const server of MEASURE.has('messages') || MEASURE.has('latency') ? [...servers] : []) {
    try {
      prepared.set(server, await preparePairs(server))
    } catch (error) {
      failed(server, error)
    }
  }

  const messageRounds = new Map([...prepared.keys()].map((server) => [server, []]))
  for (let index = 0; MEASURE.has('messages') && index < MESSAGE_ROUNDS; index++) {
    for (const [server, setup] of prepared) {
      if (!servers.includes(server)) continue
      try {
        const others = server.backendCpuMs ? {with_backends: server.backendCpuMs, with_redis: server.redisCpuMs} : {}
        const machine = machineBusy()
        const round = await exchangeMessages(setup.pairs, {seconds: MESSAGE_SECONDS, inFlight: IN_FLIGHT, cpuMs: server.cpuMs, otherCpuMs: others})
        messageRounds.get(server).push({...round, machine_cores_busy: machine.cores()})
      } catch (error) {
        failed(server, error)
      }
    }
  }

  for (const [server, setup] of prepared) {
    if (!servers.includes(server)) continue
    const rounds = messageRounds.get(server)
    const medianOf = (key) => (rounds.length === 0 || rounds[0][key] === undefined ? undefined : median(rounds.map((entry) => entry[key])))
    const figures = {
      pairs: setup.pairs.length,
      pairs_cross_node: setup.crossNode ? setup.pairs.length : 0,
      ...(setup.nodes ? {nodes: setup.nodes, pair_pool_sessions_per_node: setup.sessions_per_node} : {}),
    }
    for (const key of ['messages_per_s', 'messages_per_cpu_s', 'messages_per_cpu_s_with_backends', 'latency_p50_ms', 'latency_p99_ms']) {
      const value = medianOf(key)
      if (value !== undefined) figures[key] = value
    }

    const busy = medianOf('machine_cores_busy')
    if (busy !== undefined) figures.message_machine_cores_busy = busy
    // What Redis spends on each message (routing between nodes, the registry), from the median round's figures.
    const withRedis = medianOf('messages_per_cpu_s_with_redis')
    if (withRedis !== undefined) figures.redis_cpu_us_per_message = round(1e6 / withRedis - 1e6 / figures.messages_per_cpu_s, 2)

    if (rounds.length > 0) figures.message_rounds_per_s = rounds.map((entry) => entry.messages_per_s)
    try {
      if (MEASURE.has('latency')) {
        const single = async (pair) => {
          const measured = await exchangeMessages([pair], {seconds: LATENCY_SECONDS, inFlight: 1, cpuMs: server.cpuMs, warmupMs: 500})
          return {p50_ms: measured.latency_p50_ms, p99_ms: measured.latency_p99_ms, messages_per_s: measured.messages_per_s}
        }

        figures.one_in_flight = await single(setup.sameNode)
        if (setup.crossNode) figures.one_in_flight_cross_node = await single(setup.crossNode)
      }

      entries[server.name] = {...entries[server.name], ...figures}
    } catch (error) {
      failed(server, error)
    }
  }

  for (const setup of prepared.values()) for (const session of setup.pool) session.connection.destroy()
  await sleep(1000)

  // Idle sessions, one server at a time (the others idle).
  for (const server of MEASURE.has('sessions') ? [...servers] : []) {
    try {
      const redis = {}
      const snapshot = async (label) => {
        if (server.redisRss) redis[label] = server.redisRss()
        if (label === 'open' && server.nodesOf) redis.perNode = Object.fromEntries((await server.nodesOf()).nodes.map(({node, sessions}) => [node, sessions]))
      }

      const idle = await measureIdle({port: server.port, rss: server.rss, sessions: SESSIONS, closeSettleMs: CLOSE_SETTLE_MS, snapshot})
      entries[server.name] = {
        ...entries[server.name],
        ...idle,
        ...(redis.perNode ? {idle_sessions_per_node: redis.perNode} : {}),
        ...(server.redisRss ? {redis_rss_per_session_kib: round((redis.open - redis.before) / idle.sessions)} : {}),
      }
    } catch (error) {
      failed(server, error)
    }
  }

  // Whether a process came or went while measured (a worker restarted, say).
  for (const server of servers) entries[server.name].processes_at_end = server.processes()

  // ---- the line ----
  const ours1 = entries['ours-1']
  const ours2 = entries['ours-2']
  const ej = entries.ejabberd
  const pr = entries.prosody
  const ratio = (a, b, key, keyB = key) => (a.available && b.available && a[key] && b[keyB] ? round(a[key] / b[keyB]) : null)
  const ratios = {
    ours2_over_ours1: {
      logins: ratio(ours2, ours1, 'logins_per_s'),
      logins_best_round: ratio(ours2, ours1, 'logins_best_round_per_s'),
      logins_per_cpu: ratio(ours2, ours1, 'logins_per_cpu_s'),
      messages: ratio(ours2, ours1, 'messages_per_s'),
      messages_per_cpu: ratio(ours2, ours1, 'messages_per_cpu_s'),
      latency_p99: ratio(ours2, ours1, 'latency_p99_ms'),
      rss_per_session: ratio(ours2, ours1, 'rss_per_session_kib'),
    },
    // The most ours-2 could gain over ours-1 on this machine: ours-1's rounds plus every core's idle time (the load generator, Redis and PostgreSQL share the cores).
    ours2_over_ours1_ceiling: {
      logins: ours1.available && ours1.login_machine_cores_busy ? round(os.availableParallelism() / ours1.login_machine_cores_busy) : null,
      messages: ours1.available && ours1.message_machine_cores_busy ? round(os.availableParallelism() / ours1.message_machine_cores_busy) : null,
    },
    ours2_vs_ejabberd: {
      logins: ratio(ours2, ej, 'logins_per_s'),
      logins_per_cpu: ratio(ours2, ej, 'logins_per_cpu_s'),
      logins_per_cpu_with_backends: ratio(ours2, ej, 'logins_per_cpu_s_with_backends', 'logins_per_cpu_s'),
      messages: ratio(ours2, ej, 'messages_per_s'),
      rss_per_session: ratio(ours2, ej, 'rss_per_session_kib'),
    },
    ours2_vs_prosody: {
      logins: ratio(ours2, pr, 'logins_per_s'),
      logins_per_cpu: ratio(ours2, pr, 'logins_per_cpu_s'),
      messages: ratio(ours2, pr, 'messages_per_s'),
      rss_per_session: ratio(ours2, pr, 'rss_per_session_kib'),
    },
    ours1_vs_ejabberd: {
      logins: ratio(ours1, ej, 'logins_per_s'),
      logins_per_cpu: ratio(ours1, ej, 'logins_per_cpu_s'),
      logins_per_cpu_with_backends: ratio(ours1, ej, 'logins_per_cpu_s_with_backends', 'logins_per_cpu_s'),
    },
  }

  // What Redis adds to one message's trip: ours-2 across nodes against within one node, and against ours-1.
  const difference = (a, b) => (a === undefined || b === undefined || a === null || b === null ? null : round(a - b))
  const redisLatency = ours2.available && ours2.one_in_flight_cross_node
    ? {
        same_node: ours2.one_in_flight,
        cross_node: ours2.one_in_flight_cross_node,
        ours_1: ours1.available ? ours1.one_in_flight : null,
        added_p50_ms: difference(ours2.one_in_flight_cross_node.p50_ms, ours2.one_in_flight.p50_ms),
        added_p99_ms: difference(ours2.one_in_flight_cross_node.p99_ms, ours2.one_in_flight.p99_ms),
        added_p50_ms_vs_ours_1: ours1.available && ours1.one_in_flight ? difference(ours2.one_in_flight_cross_node.p50_ms, ours1.one_in_flight.p50_ms) : null,
        added_p99_ms_vs_ours_1: ours1.available && ours1.one_in_flight ? difference(ours2.one_in_flight_cross_node.p99_ms, ours1.one_in_flight.p99_ms) : null,
      }
    : {unavailable: ours2.available ? 'no pair across nodes was measured' : `ours-2: ${ours2.reason}`}

  const atLeast = (value, target) => (value === null ? null : value >= target)
  const {label: certificateLabel} = CERTIFICATE_KINDS.ecdsa
  console.log(
    JSON.stringify({
      bench: 'cluster',
      // The machine may be shared: a high load average makes absolute numbers noisy; the per-CPU figures hold up better.
      loadavg_1m_at_end: round(os.loadavg()[0]),
      cpus: os.availableParallelism(),
      settings: {login_concurrency: LOGIN_CONCURRENCY, login_seconds: LOGIN_SECONDS, login_rounds: LOGIN_ROUNDS, message_seconds: MESSAGE_SECONDS, message_rounds: MESSAGE_ROUNDS, pairs: PAIRS, in_flight_per_pair: IN_FLIGHT, latency_seconds: LATENCY_SECONDS, idle_sessions: SESSIONS, workers: WORKERS, scram_iterations: ITERATIONS, tls: `STARTTLS, ${certificateLabel}`},
      'ours-1': ours1,
      'ours-2': ours2.available ? ours2 : {unavailable: ours2.reason},
      'ours-sqlite': entries['ours-sqlite'],
      ejabberd: ej,
      prosody: pr,
      redis_cross_node_latency: redisLatency,
      ratios,
      targets: {ours2_over_ours1_logins: `>= ${TARGETS.logins_scaling}`, ours2_over_ours1_messages: `>= ${TARGETS.messages_scaling}`, ours2_vs_ejabberd_logins_per_cpu: `>= ${TARGETS.logins_per_cpu_vs_ejabberd}`},
      met: {
        logins_scaling: atLeast(ratios.ours2_over_ours1.logins, TARGETS.logins_scaling),
        messages_scaling: atLeast(ratios.ours2_over_ours1.messages, TARGETS.messages_scaling),
        logins_per_cpu_vs_ejabberd: atLeast(ratios.ours2_vs_ejabberd.logins_per_cpu, TARGETS.logins_per_cpu_vs_ejabberd),
        logins_per_cpu_vs_ejabberd_with_backends: atLeast(ratios.ours2_vs_ejabberd.logins_per_cpu_with_backends, TARGETS.logins_per_cpu_vs_ejabberd),
      },
    }),
  )
} catch (error) {
  console.log(JSON.stringify({bench: 'cluster', error: describe(error), configurations: entries}))
  process.exitCode = 1
} finally {
  await cleanUp()
}
