/**
 * A private PostgreSQL cluster for tests, from Debian's server binaries:
 * initdb as the postgres user in a temporary directory, a loopback port
 * below 32768, password (SCRAM) logins over TCP and trust over its own Unix
 * socket for the administrator. Each test gets a database and role of its
 * own (createDatabase). The cluster is stopped when the test (or, for the
 * process-wide one, the process) ends.
 */
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import type pg from 'pg'

import {freePort, writeConfig} from './helpers.js'

/** The newest installed PostgreSQL server binaries, or undefined. */
export function postgresBin(): string | undefined {
  try {
    const versions = execFileSync('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null'], {encoding: 'utf8'}).trim().split('\n').filter(Boolean)
    return versions.length > 0 ? path.dirname(versions.sort((a, b) => a.localeCompare(b, 'en', {numeric: true})).at(-1)!) : undefined
  } catch {
    return undefined
  }
}

/** Why PostgreSQL tests cannot run here, or undefined when they can (binaries, and root to run them as postgres). */
export function postgresMissing(): string | undefined {
  if (!postgresBin()) return 'PostgreSQL server binaries not installed (Debian package postgresql)'
  if (process.getuid?.() !== 0) return 'needs root to run PostgreSQL as the postgres user'
  return undefined
}

export interface PostgresDatabaseInfo {
  host: string
  port: number
  database: string
  user: string
  password: string
  /** postgresql://user:password@127.0.0.1:port/database */
  url: string
}

export interface PostgresCluster {
  port: number
  /** The directory of its Unix socket. */
  socketDir: string
  /** A client as the superuser (over the socket, trusted), or as `user` with `password` over TCP. */
  connect(database: string, user?: string, password?: string): Promise<pg.Client>
  /** A new database owned by a new login role with a password, as an operator sets one up for xmppctl. */
  createDatabase(name?: string): Promise<PostgresDatabaseInfo>
  /** Stops the cluster (SIGKILL: a crash, for kill -9 tests; SIGINT, the default: PostgreSQL's fast shutdown). */
  stop(signal?: NodeJS.Signals): Promise<void>
  /** The running postmaster's children (checkpointer, writers, one backend per connection). */
  children(): number[]
  /** Starts it again on the same port and data after stop(). */
  restart(): Promise<void>
}

/** The processes whose parent is `pid`, from /proc (procps, which has pgrep, need not be installed). */
function childPids(pid: number): number[] {
  const children = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const fields = procStatFields(Number(entry))
    // After the command name: state, then the parent's pid (proc(5)).
    if (fields && Number(fields[1]) === pid) children.push(Number(entry))
  }

  return children
}

/** The fields of /proc/`pid`/stat after the parenthesised command name (which may itself hold spaces or parentheses). */
function procStatFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** Whether `pid` still runs. A zombie (state Z) does not: it holds no shared memory, and the PID 1 of a container may never reap it. */
function alive(pid: number): boolean {
  const fields = procStatFields(pid)
  return fields !== undefined && fields[0] !== 'Z'
}

function userId(name: string): {uid: number; gid: number} {
  return {uid: Number(execFileSync('id', ['-u', name], {encoding: 'utf8'})), gid: Number(execFileSync('id', ['-g', name], {encoding: 'utf8'}))}
}

/**
 * Starts a cluster, stopped and removed by `cleanup` (a test's after). With
 * `cleanup` 'exit', it lives as long as the process: it holds no event-loop
 * reference, and the process's exit stops it (immediate shutdown) and
 * removes its files.
 */
export async function startPostgres(cleanup: ((fn: () => unknown) => void) | 'exit'): Promise<PostgresCluster> {
  const bin = postgresBin()
  if (!bin) throw new Error('PostgreSQL server binaries not installed (Debian package postgresql)')
  const root = mkdtempSync(path.join(tmpdir(), 'xmppctl-postgres-'))
  chmodSync(root, 0o755)
  const {uid, gid} = userId('postgres')
  const data = path.join(root, 'data')
  mkdirSync(data)
  chownSync(data, uid, gid)
  execFileSync(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C'], {uid, gid, stdio: 'ignore', cwd: root})
  const port = await freePort()
  let server: ChildProcess | undefined
  let exited: Promise<unknown> = Promise.resolve()
  const {default: pgModule} = await import('pg')

  const connect = async (database: string, user = 'postgres', password?: string): Promise<pg.Client> => {
    for (let attempt = 0; ; attempt++) {
      const client = password === undefined ? new pgModule.Client({host: data, port, database, user}) : new pgModule.Client({host: '127.0.0.1', port, database, user, password})
      try {
        await client.connect()
        return client
      } catch (error) {
        await client.end().catch(() => {})
        // Starting up or recovering after a crash: the socket is not there yet, or the server
        // answers 57P03 (cannot_connect_now) until it accepts connections.
        if (attempt > 300 || !/ENOENT|ECONNREFUSED|57P03/.test(String((error as {code?: string}).code))) throw error
        // A postmaster that exited will not come up: say why at once rather than after 30 s of retries.
        if (server !== undefined && (server.exitCode !== null || server.signalCode !== null)) throw new Error(`PostgreSQL exited while starting: ${logTail()}`, {cause: error})
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }

  const log = path.join(root, 'postgres.log')
  const logTail = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ') : 'no log')
  const start = async () => {
    // Its messages go to a file this process opened, so a failed start can say why.
    const logFd = openSync(log, 'a')
    try {
      server = spawn(path.join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', data, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on'], {uid, gid, stdio: ['ignore', 'ignore', logFd], cwd: root})
    } finally {
      closeSync(logFd)
    }

    exited = new Promise((resolve) => server!.on('exit', resolve))
    if (cleanup === 'exit') server.unref()
    const probe = await connect('postgres')
    await probe.end()
  }

  const stop = async (signal: NodeJS.Signals = 'SIGINT') => {
    if (!server || server.exitCode !== null) return
    // An unreferenced child's exit would not keep the event loop alive while it is awaited.
    server.ref()
    // A crash takes every process of the cluster. The postmaster's children outlive it until they notice it is
    // gone, and a new postmaster refuses to start while one of them still holds the old shared memory
    // ("pre-existing shared memory block is still in use"). Each child is its own session leader with a
    // retitled command line (postgres: checkpointer), so neither the process group nor the data directory
    // names them: they are listed by parent before the kill.
    const children = signal === 'SIGKILL' ? childPids(server.pid!) : []
    server.kill(signal)
    for (const child of children) {
      try {
        process.kill(child, 'SIGKILL')
      } catch {}
    }

    await exited
    for (let waited = 0; children.some((child) => alive(child)); waited += 50) {
      if (waited > 10_000) throw new Error(`PostgreSQL processes ${children.filter((child) => alive(child)).join(', ')} outlived SIGKILL for 10 s`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  if (cleanup === 'exit') {
    process.once('exit', () => {
      server?.kill('SIGQUIT')
      rmSync(root, {recursive: true, force: true})
    })
  } else {
    cleanup(async () => {
      await stop()
      rmSync(root, {recursive: true, force: true})
    })
  }

  await start()
  return {
    port,
    socketDir: data,
    connect,
    async createDatabase(name = `x${randomBytes(6).toString('hex')}`) {
      const password = `pw:${randomBytes(9).toString('base64url')}`
      const admin = await connect('postgres')
      try {
        await admin.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`)
        await admin.query(`CREATE DATABASE ${name} OWNER ${name}`)
      } finally {
        await admin.end()
      }

      return {host: '127.0.0.1', port, database: name, user: name, password, url: `postgresql://${name}:${encodeURIComponent(password)}@127.0.0.1:${port}/${name}`}
    },
    stop,
    children: () => (server?.pid === undefined ? [] : childPids(server.pid)),
    restart: start,
  }
}

let shared: Promise<PostgresCluster> | undefined

/** One cluster for the whole test process, started on first use (XMPPCTL_TEST_STORE=postgresql runs every test server on it). */
export function sharedPostgres(): Promise<PostgresCluster> {
  shared ??= startPostgres('exit')
  return shared
}

/** Writes `dir`/xmppctl.yml as an operator would for `database`: ejabberd's sql_* keys, the password in a 0600 file beside it, then `lines`. */
export function writePostgresConfig(dir: string, database: PostgresDatabaseInfo, lines: readonly string[]): void {
  writeFileSync(path.join(dir, 'sql.password'), `${database.password}\n`, {mode: 0o600})
  writeConfig(
    dir,
    [
      'default_db: sql',
      'sql_type: pgsql',
      `sql_server: ${database.host}`,
      `sql_port: ${database.port}`,
      `sql_database: ${database.database}`,
      `sql_username: ${database.user}`,
      'sql_password_file: ./sql.password',
      ...lines,
    ].join('\n'),
  )
}
