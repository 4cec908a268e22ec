/**
 * `cluster: {node: w, workers: 2}`: one `xmppctl start` runs a supervisor
 * and two worker nodes (w-1, w-2) sharing one port, on a private Redis and
 * PostgreSQL. Clients land on both workers and talk to each other; status
 * shows both nodes; reload, restart --node, stop --node and a rolling
 * restart act per worker (a fresh client can log in at every moment of the
 * rolling restart); a worker killed with -9 is started again and its users'
 * contacts see them leave; stop ends every process.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {waitForExit} from '../../../src/server/process.js'
import {BIN, freePort, runCli, tempDir, writeConfig} from '../../helpers.js'
import {postgresMissing, startPostgres, writePostgresConfig} from '../../postgres.js'
import {redisMissing, redisSettings, startRedis} from '../../redis.js'
import {type RawClient, loginRaw, next, nextMessage, sync} from './helpers.js'

// CI must run these (CI=true fails rather than skips).
const skip = process.env.CI === 'true' ? false : (postgresMissing() ?? redisMissing() ?? false)

interface WorkerStatus {
  node: string
  state: string
  pid?: number
  sessions?: number
  restarts: number
}

interface Status {
  pid: number
  supervisor: true
  sessions: Record<string, number>
  workers: WorkerStatus[]
  memory: {allocator: string; rssKiB: number}
  cluster: {node: string; nodes: Array<{node: string; health: string; sessions: number; pid?: number; here?: true}>}
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('cluster.workers: two nodes on one machine sharing a port', {skip}, () => {
  const cleanups: Array<() => unknown> = []
  const suite = {after: (fn: () => unknown) => cleanups.push(fn)}
  after(async () => {
    for (const fn of cleanups.reverse()) await fn()
  })
  let dir = ''
  let port = 0
  let supervisor = 0
  const cli = (args: string[], stdin?: string) => runCli(args, {cwd: dir, stdin})
  const status = async (): Promise<Status> => {
    const result = await cli(['status', '--json'])
    assert.equal(result.status, 0, result.stderr)
    return JSON.parse(result.stdout) as Status
  }

  const pids = (current: Status) => Object.fromEntries(current.workers.map((worker) => [worker.node, worker.pid]))
  /** Logs `user` in and returns the client with the worker it landed on (the one whose session count grew). */
  const login = async (t: {after(fn: () => unknown): void}, user: string, resource: string): Promise<{client: RawClient; node: string}> => {
    const before = Object.fromEntries((await status()).workers.map((worker) => [worker.node, worker.sessions ?? 0]))
    const client = await loginRaw(t, port, user, `${user} pw`, {resource})
    await sync(client)
    const grown = (await status()).workers.find((worker) => (worker.sessions ?? 0) > before[worker.node])
    assert.ok(grown, `${user}/${resource} is on no worker`)
    return {client, node: grown.node}
  }

  before(async () => {
    const redis = await startRedis(suite)
    const postgres = await startPostgres('exit')
    const database = await postgres.createDatabase()
    dir = tempDir(suite, 'xmppctl-workers-')
    port = await freePort()
    writePostgresConfig(dir, database, [
      'hosts: [localhost]',
      `listen:\n  - {port: ${port}, ip: 127.0.0.1}`,
      ...redisSettings(dir, redis),
      'cluster: {node: w, workers: 2}',
    ])
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6']
    for (const user of users) {
      const added = await cli(['user', 'add', `${user}@localhost`, '--password-stdin'], `${user} pw\n`)
      assert.equal(added.status, 0, added.stderr)
    }

    // u6 (who logs in on w-1 after its restart) and u1 to u4 (some of them on w-2) see each other's presence.
    for (const user of ['u1', 'u2', 'u3', 'u4']) {
      for (const [owner, contact] of [[user, 'u6'], ['u6', user]]) {
        const added = await cli(['roster', 'add', `${owner}@localhost`, `${contact}@localhost`, '--subscription', 'both'])
        assert.equal(added.status, 0, added.stderr)
      }
    }
  })

  it('starts a supervisor and two workers in the background; status lists both nodes up, here', async () => {
    const started = await cli(['start', '--json'])
    assert.equal(started.status, 0, started.stdout + started.stderr)
    const result = JSON.parse(started.stdout) as {pid: number; workers: Array<{node: string; pid: number}>}
    supervisor = result.pid
    suite.after(async () => {
      for (const pid of [supervisor, ...Object.values(pids(await status().catch(() => ({workers: []}) as unknown as Status)))]) {
        try {
          if (pid) process.kill(pid, 'SIGKILL')
        } catch {}
      }
    })
    assert.deepEqual(result.workers.map((worker) => worker.node), ['w-1', 'w-2'])
    assert.equal(new Set([supervisor, ...result.workers.map((worker) => worker.pid)]).size, 3)
    const current = await status()
    assert.equal(current.pid, supervisor)
    assert.deepEqual(current.workers.map(({node, state, pid}) => ({node, state, pid})), result.workers.map(({node, pid}) => ({node, state: 'running', pid})))
    assert.deepEqual(current.cluster.nodes.map(({node, health, here, pid}) => ({node, health, here, pid})), result.workers.map(({node, pid}) => ({node, health: 'up', here: true, pid})))
    // One log, written by the supervisor: each line names its node.
    const log = readFileSync(path.join(dir, 'data', 'server.log'), 'utf8')
    for (const node of ['w-1', 'w-2']) assert.match(log, new RegExp(`^\\S+ info  \\[${node}\\] listening on 127\\.0\\.0\\.1:${port} for c2s`, 'm'))
    assert.match(log, /^\S+ info {2}\[supervisor\] supervisor of 2 workers \(w-1, w-2\), pid \d+$/m)
    // Workers run on the background server's allocator (memory_allocator: auto; CI installs libjemalloc2).
    assert.equal(current.memory.allocator, 'jemalloc')
    assert.ok(current.memory.rssKiB > 3 * 20_000, `the supervisor's and both workers' RSS: ${current.memory.rssKiB} KiB`)
  })

  let clients: Array<{client: RawClient; node: string; user: string}> = []

  it('spreads clients of the one port over both workers, and they exchange messages across them', async () => {
    for (const user of ['u1', 'u2', 'u3', 'u4']) clients.push({...(await login(suite, user, 'r')), user})
    const on1 = clients.find((entry) => entry.node === 'w-1')
    const on2 = clients.find((entry) => entry.node === 'w-2')
    assert.ok(on1 && on2, `all on one worker: ${clients.map((entry) => entry.node).join(', ')}`)
    const current = await status()
    assert.deepEqual(current.cluster.nodes.map(({node, sessions}) => ({node, sessions})), [
      {node: 'w-1', sessions: clients.filter((entry) => entry.node === 'w-1').length},
      {node: 'w-2', sessions: clients.filter((entry) => entry.node === 'w-2').length},
    ])
    assert.equal(current.sessions.localhost, 4)
    on1.client.write(`<message to='${on2.user}@localhost/r' type='chat' id='x1'><body>from w-1</body></message>`)
    assert.match(await nextMessage(on2.client), new RegExp(`^<message to='${on2.user}@localhost/r' type='chat' id='x1' from='${on1.user}@localhost/r'><body>from w-1</body>`))
    on2.client.write(`<message to='${on1.user}@localhost' type='chat' id='x2'><body>from w-2</body></message>`)
    assert.match(await nextMessage(on1.client), new RegExp(`^<message to='${on1.user}@localhost' type='chat' id='x2' from='${on2.user}@localhost/r'><body>from w-2</body>`))
    const text = await cli(['status'])
    assert.match(text.stdout, /^running \(pid \d+, up [^;]+; supervisor of 2 workers, 2 running\)$/m)
    assert.match(text.stdout, /^ {4}w-1: running, pid \d+, \d sessions?$/m)
    assert.match(text.stdout, /^ {4}w-2: up, \d sessions?, pid \d+ \(here\)$/m)
  })

  it('reloads every worker', async () => {
    const reloaded = await cli(['reload', '--json'])
    assert.equal(reloaded.status, 0, reloaded.stderr)
    const result = JSON.parse(reloaded.stdout) as {nodes: string[]; restartNeeded: string[]}
    assert.deepEqual(result.nodes, ['w-1', 'w-2'])
    assert.deepEqual(result.restartNeeded, [])
  })

  it('names where a node that is not here runs', async () => {
    const elsewhere = await cli(['stop', '--node', 'n9'])
    assert.equal(elsewhere.status, 2)
    assert.equal(elsewhere.stderr.trim().split('\n')[0], 'error: no node n9 in the cluster (nodes: w-1, w-2); this machine runs w-1, w-2 (name one of w-1, w-2)')
  })

  it('restart --node w-1 replaces that worker while w-2 keeps its clients', async () => {
    const previous = pids(await status())
    const restarted = await cli(['restart', '--node', 'w-1', '--json'])
    assert.equal(restarted.status, 0, restarted.stderr)
    const result = JSON.parse(restarted.stdout) as {node: string; previousPid: number; pid: number}
    assert.deepEqual({node: result.node, previousPid: result.previousPid}, {node: 'w-1', previousPid: previous['w-1']})
    assert.equal(alive(previous['w-1']!), false)
    const now = pids(await status())
    assert.deepEqual(now, {'w-1': result.pid, 'w-2': previous['w-2']})
    for (const entry of clients) {
      if (entry.node === 'w-1') await entry.client.waitClosed()
      else await sync(entry.client)
    }

    clients = clients.filter((entry) => entry.node === 'w-2')
  })

  it('stop --node leaves that worker stopped until restart --node; the other serves the port meanwhile', async () => {
    const stopped = await cli(['stop', '--node', 'w-1', '--json'])
    assert.equal(stopped.status, 0, stopped.stderr)
    assert.equal((JSON.parse(stopped.stdout) as {node: string}).node, 'w-1')
    let current = await status()
    assert.deepEqual(current.workers.map(({node, state}) => ({node, state})), [{node: 'w-1', state: 'stopped'}, {node: 'w-2', state: 'running'}])
    const last = await cli(['stop', '--node', 'w-2'])
    assert.equal(last.status, 2)
    assert.match(last.stderr, /worker w-2 is the last one running on this machine/)
    const {client, node} = await login(suite, 'u5', 'r')
    assert.equal(node, 'w-2')
    client.end()
    const started = await cli(['restart', '--node', 'w-1'])
    assert.equal(started.status, 0, started.stdout + started.stderr)
    current = await status()
    assert.deepEqual(current.workers.map(({node: name, state}) => ({node: name, state})), [{node: 'w-1', state: 'running'}, {node: 'w-2', state: 'running'}])
  })

  it('starts a worker again after kill -9; the contacts of its users see them leave', async () => {
    // A client on each worker: log in until both have one (connections alternate between workers).
    for (let attempt = 0; attempt < 6 && !(clients.some((entry) => entry.node === 'w-1') && clients.some((entry) => entry.node === 'w-2')); attempt++) {
      clients.push({...(await login(suite, 'u6', `r${attempt}`)), user: 'u6'})
    }

    // u6 on w-1 watches one of u1 to u4 on w-2 (left there by the restart of w-1).
    const watcher = clients.find((entry) => entry.node === 'w-1')!
    const victim = clients.find((entry) => entry.node === 'w-2' && entry.user !== 'u6')!
    assert.ok(watcher && victim)
    await sync(watcher.client)
    const before = pids(await status())
    process.kill(before['w-2']!, 'SIGKILL')
    const resource = victim.client.jid.split('/')[1]
    assert.equal(await next(watcher.client, 'presence', `type='unavailable' from='${victim.user}@localhost/${resource}'`), `<presence type='unavailable' from='${victim.user}@localhost/${resource}' to='${watcher.client.jid}'/>`)
    const deadline = Date.now() + 15_000
    let current = await status()
    while (!(current.workers[1].state === 'running' && current.cluster?.nodes[1]?.health === 'up' && current.cluster.nodes[1].pid === current.workers[1].pid) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      current = await status()
    }

    assert.equal(current.workers[1].state, 'running', JSON.stringify(current.workers))
    assert.notEqual(current.workers[1].pid, before['w-2'])
    assert.equal(current.workers[1].restarts, 1)
    assert.match(readFileSync(path.join(dir, 'data', 'server.log'), 'utf8'), new RegExp(`error \\[supervisor\\] worker w-2 \\(pid ${before['w-2']}\\) exited unexpectedly \\(killed by SIGKILL\\); starting it again in 0\\.5 s`))
    assert.equal(current.workers[0].pid, before['w-1'])
    assert.deepEqual(current.cluster.nodes.map(({node, health}) => ({node, health})), [{node: 'w-1', health: 'up'}, {node: 'w-2', health: 'up'}])
    clients = clients.filter((entry) => entry !== victim)
  })

  it('restarts every worker in turn (rolling); a fresh client can log in all along, and a client with stream management keeps its session', async (t) => {
    const before = pids(await status())
    // u6 enables resumption (XEP-0198 §5): each time a restart cuts its connection, it resumes, wherever it lands.
    const SM = 'urn:xmpp:sm:3'
    let keeper = await loginRaw(suite, port, 'u6', 'u6 pw', {resource: 'keep', presence: false})
    keeper.write(`<enable xmlns='${SM}' resume='true'/>`)
    const id = /id='([^']+)'/.exec(await keeper.until(/<enabled [^>]*\/>/))![1]
    const resumes: string[] = []
    const resume = async () => {
      const again = await loginRaw({after() {}}, port, 'u6', 'u6 pw', {bind: false})
      again.write(`<resume xmlns='${SM}' previd='${id}' h='0'/>`)
      resumes.push(await again.until(/<resumed [^>]*\/>|<\/failed>/, 10_000))
      keeper = again
    }

    let done = false
    const restart = cli(['restart', '--json']).finally(() => (done = true))
    const probes: string[] = []
    let attempts = 0
    let retried = 0
    for (let probe = 0; !done && probe < 200; probe++) {
      // A login that lands on the worker as it stops is closed (system-shutdown): a client logs in again, at once.
      let failure = ''
      for (let attempt = 0; attempt < 2; attempt++) {
        attempts++
        try {
          const client = await loginRaw({after() {}}, port, 'u5', 'u5 pw', {resource: `p${probe}`, presence: false})
          await sync(client)
          client.end()
          failure = ''
          break
        } catch (error) {
          failure = String(error)
          retried++
        }
      }

      if (failure) probes.push(`probe ${probe}: ${failure}`)
      if (keeper.closed && resumes.length < 6) await resume()
      await new Promise((resolve) => setTimeout(resolve, 100))
    }

    const result = await restart
    // Cut by the last worker's restart after the last probe: resumed now.
    await new Promise((resolve) => setTimeout(resolve, 300))
    if (keeper.closed) await resume()
    assert.ok(resumes.length >= 1, 'the restarts cut its connection')
    for (const answer of resumes) assert.match(answer, new RegExp(`^<resumed xmlns='${SM}' h='0' previd='${id}'/>$`))
    const sender = await loginRaw(t, port, 'u5', 'u5 pw', {resource: 'sender', presence: false})
    sender.write("<message to='u6@localhost/keep' type='chat' id='kept'><body>still there</body></message>")
    assert.match(await nextMessage(keeper), /^<message to='u6@localhost\/keep' type='chat' id='kept' from='u5@localhost\/sender'><body>still there<\/body>/)
    assert.equal(result.status, 0, result.stderr)
    assert.deepEqual(probes, [], `${attempts} login attempts`)
    t.diagnostic(`${attempts} login attempts during the rolling restart, ${retried} of them failed and retried at once`)
    const {workers} = JSON.parse(result.stdout) as {workers: Array<{node: string; previousPid: number; pid: number}>}
    assert.deepEqual(workers.map(({node, previousPid}) => ({node, previousPid})), [{node: 'w-1', previousPid: before['w-1']}, {node: 'w-2', previousPid: before['w-2']}])
    const after = pids(await status())
    assert.deepEqual(after, {'w-1': workers[0].pid, 'w-2': workers[1].pid})
    for (const node of ['w-1', 'w-2'] as const) assert.notEqual(after[node], before[node])
  })

  it('fails to start as a single server would when a worker cannot listen: the port is taken', async (t) => {
    const other = tempDir(t, 'xmppctl-workers-other-')
    for (const file of ['sql.password', 'redis.password']) writeFileSync(path.join(other, file), readFileSync(path.join(dir, file)), {mode: 0o600})
    writeConfig(other, readFileSync(path.join(dir, 'xmppctl.yml'), 'utf8').replace('node: w,', 'node: z,'))
    const taken = await runCli(['start'], {cwd: other, timeoutMs: 30_000})
    assert.equal(taken.status, 3, taken.stderr)
    assert.equal(taken.stderr, `error: port ${port} on 127.0.0.1 is already in use (stop the other server on that port, or change "listen" in the configuration)\n`)
    assert.equal(existsSync(path.join(other, 'data', 'control.sock')), false)
  })

  it('restarts everything when the change cannot roll (a listener), and says so', async () => {
    const previous = port
    port = await freePort()
    writeFileSync(path.join(dir, 'xmppctl.yml'), readFileSync(path.join(dir, 'xmppctl.yml'), 'utf8').replace(`port: ${previous}`, `port: ${port}`))
    const restarted = await cli(['restart'])
    assert.equal(restarted.status, 0, restarted.stderr)
    assert.equal(restarted.stderr, 'warning: changes to listen cannot be applied one worker at a time: stopping every worker and starting again (their sessions close)\n')
    const [, before, after] = /^restarted \(pid (\d+) → (\d+)\)/.exec(restarted.stdout) ?? []
    assert.equal(Number(before), supervisor)
    supervisor = Number(after)
    const client = await loginRaw(suite, port, 'u5', 'u5 pw', {presence: false})
    await sync(client)
    client.end()
  })

  it('stop ends the supervisor and every worker; the control socket and pid file go', async () => {
    const before = pids(await status())
    const stopped = await cli(['stop', '--json'])
    assert.equal(stopped.status, 0, stopped.stderr)
    assert.equal((JSON.parse(stopped.stdout) as {pid: number}).pid, supervisor)
    for (const pid of [supervisor, ...Object.values(before)]) assert.ok(await waitForExit(pid!, 5000), `pid ${pid} still runs`)
    assert.equal(existsSync(path.join(dir, 'data', 'control.sock')), false)
    assert.equal(existsSync(path.join(dir, 'data', 'xmppctl.pid')), false)
  })

  it('in the foreground, logs every worker\'s lines on stderr with its node, and Ctrl-C stops them all', async (t) => {
    const main = dir
    const fg = tempDir(t, 'xmppctl-workers-fg-')
    const fgPort = await freePort()
    for (const file of ['sql.password', 'redis.password']) writeFileSync(path.join(fg, file), readFileSync(path.join(main, file)), {mode: 0o600})
    writeConfig(fg, readFileSync(path.join(main, 'xmppctl.yml'), 'utf8').replace(/\{port: \d+/, `{port: ${fgPort}`).replace('node: w,', 'node: f,'))
    // Its own process group, as a shell gives a foreground job: Ctrl-C signals every process of it.
    const child = spawn(process.execPath, [BIN, 'start', '--foreground'], {cwd: fg, detached: true, stdio: ['ignore', 'pipe', 'pipe']})
    t.after(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {}
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    const deadline = Date.now() + 30_000
    while (!stderr.includes('Ctrl-C stops it') && child.exitCode === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    const ready = /^xmppctl server \(pid (\d+), supervisor of f-1 pid (\d+), f-2 pid (\d+)\) on 127\.0\.0\.1:\d+ \(STARTTLS required\); Ctrl-C stops it$/m.exec(stderr)
    assert.ok(ready, stderr)
    for (const node of ['f-1', 'f-2']) assert.match(stderr, new RegExp(`^\\S+ info {2}\\[${node}\\] listening on 127\\.0\\.0\\.1:${fgPort} for c2s`, 'm'))
    process.kill(-child.pid!, 'SIGINT')
    assert.equal(await exited, 0, stderr)
    for (const pid of ready.slice(1)) assert.ok(await waitForExit(Number(pid), 5000), `pid ${pid} still runs`)
    assert.match(stderr, /\[f-1\] stopped\n/)
    assert.match(stderr, /\[supervisor\] stopped\n/)
    assert.equal(existsSync(path.join(fg, 'data', 'control.sock')), false)
  })
})

describe('cluster.workers in the configuration', () => {
  it('needs sm_db_type: redis and sql_type: pgsql for more than one worker', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [localhost]\ncluster:\n  node: w\n  workers: 2\n')
    const checked = await runCli(['config', 'check'], {cwd: dir})
    assert.equal(checked.status, 2)
    assert.equal(checked.stderr, 'error: xmppctl.yml:4:12: cluster.workers: 2 runs several nodes, which need sm_db_type: redis and sql_type: pgsql (set sm_db_type: redis with the redis_* keys and sql_type: pgsql with the sql_* keys, or workers: 1)\n')
    const started = await runCli(['start'], {cwd: dir})
    assert.equal(started.status, 2)
    assert.match(started.stderr, /^error: xmppctl\.yml:4:12: cluster\.workers: 2 runs several nodes/)
  })
})
