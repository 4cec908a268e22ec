/**
 * Real Prosody and ejabberd for the migration tests: each on its own
 * configuration, data directory, node name and loopback ports, removed (and
 * ejabberd stopped) when the test ends. Passwords reach prosodyctl and
 * ejabberdctl on argv: these are throwaway test servers.
 */
import {type ChildProcess, execFile, execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {freePort} from '../../helpers.js'

type Context = {after(fn: () => unknown): void}

const run = promisify(execFile)

/** Passwords that trip migrations in the wild. */
export const TRICKY_PASSWORDS = {
  colon: 'pa:ss:wo:rd',
  umlauts: 'pässwörd',
  euro: '€ 100 €',
  // 85 × '€' is 255 bytes of UTF-8.
  long: '€'.repeat(85),
  quotes: `it's "quoted" & <tagged>`,
} as const

export function which(binary: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${binary}`], {encoding: 'utf8'}).trim() || undefined
  } catch {
    return undefined
  }
}

function userId(name: string): {uid: number; gid: number} {
  return {uid: Number(execFileSync('id', ['-u', name], {encoding: 'utf8'})), gid: Number(execFileSync('id', ['-g', name], {encoding: 'utf8'}))}
}

/** A directory the daemon's own user (prosody, ejabberd) can write, under a fresh 0755 temp dir. */
export function daemonDir(t: Context, prefix: string, owner: string): {root: string; owned: (name: string) => string} {
  const root = mkdtempSync(path.join(tmpdir(), prefix))
  chmodSync(root, 0o755)
  t.after(() => rmSync(root, {recursive: true, force: true}))
  const {uid, gid} = userId(owner)
  return {
    root,
    owned(name) {
      const dir = path.join(root, name)
      mkdirSync(dir, {recursive: true})
      chownSync(dir, uid, gid)
      return dir
    },
  }
}


export interface Prosody {
  dataPath: string
  /** `prosodyctl register USER HOST PASSWORD`. */
  register(user: string, host: string, password: string): Promise<void>
  /** Runs Prosody in the foreground (`prosody -F`, as the prosody user) until stop() or the test's end; resolves once its c2s port accepts connections. */
  start(): Promise<void>
  /** SIGTERM, and waits (bounded) for it to exit: its files are then complete. */
  stop(): Promise<void>
}

/**
 * Prosody data: `hashed` hosts use internal_hashed, `plain` hosts internal_plain.
 * prosodyctl writes the files; with `c2sPort` start() serves clients on
 * 127.0.0.1 without TLS (SCRAM only: no certificate, plaintext PLAIN is off),
 * with `modules` enabled and `settings` (Lua lines) added to the global section.
 */
export function prosody(t: Context, hosts: {hashed: string[]; plain: string[]}, options: {c2sPort?: number; modules?: string[]; settings?: string[]} = {}): Prosody {
  const dir = daemonDir(t, 'xmppctl-prosody-', 'prosody')
  const dataPath = dir.owned('data')
  dir.owned('certs')
  const log = path.join(dataPath, 'prosody.log')
  const lines = [
    `data_path = ${JSON.stringify(dataPath)}`,
    `pidfile = ${JSON.stringify(path.join(dataPath, 'prosody.pid'))}`,
    `certificates = ${JSON.stringify(path.join(dir.root, 'certs'))}`,
    options.c2sPort ? `c2s_ports = { ${options.c2sPort} }\nc2s_interfaces = { "127.0.0.1" }\nc2s_require_encryption = false` : 'c2s_ports = { }',
    's2s_ports = { }',
    `modules_enabled = { ${(options.modules ?? []).map((name) => JSON.stringify(name)).join('; ')} }`,
    'authentication = "internal_hashed"',
    options.c2sPort ? `log = { info = ${JSON.stringify(log)} }` : 'log = { }',
    ...(options.settings ?? []),
    ...hosts.hashed.map((host) => `VirtualHost ${JSON.stringify(host)}\n  authentication = "internal_hashed"`),
    ...hosts.plain.map((host) => `VirtualHost ${JSON.stringify(host)}\n  authentication = "internal_plain"`),
  ]
  const config = path.join(dir.root, 'prosody.cfg.lua')
  writeFileSync(config, `${lines.join('\n')}\n`)
  let child: ChildProcess | undefined
  let exited: Promise<unknown> = Promise.resolve()
  const stop = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }

  t.after(stop)
  return {
    dataPath,
    async register(user, host, password) {
      const {stdout, stderr} = await run('prosodyctl', ['--config', config, 'register', user, host, password], {encoding: 'utf8', timeout: 30_000})
      if (/does not exist|Please specify|unable to (?:create|register)|failed/i.test(stdout)) throw new Error(`prosodyctl register ${user}@${host} failed: ${stdout}${stderr}`)
    },
    async start() {
      const port = options.c2sPort
      if (!port) throw new Error('prosody(): start() needs a c2sPort')
      // As its own user: prosody (unlike prosodyctl) does not switch, and mod_posix refuses root.
      const started = spawn('prosody', ['--config', config, '-F'], {...userId('prosody'), stdio: 'ignore'})
      child = started
      exited = new Promise((resolve) => started.on('exit', resolve))
      const deadline = Date.now() + 20_000
      for (;;) {
        if (started.exitCode !== null) throw new Error(`prosody exited ${started.exitCode}: ${tail(log)}`)
        if (await accepts(port)) return
        if (Date.now() > deadline) throw new Error(`prosody did not listen on ${port} within 20 s: ${tail(log)}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    },
    stop,
  }
}

/** The end of a log file, for an error message (the directory is removed with the test). */
function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-2000)
  } catch (error) {
    return String(error)
  }
}

/** Whether 127.0.0.1:`port` accepts a TCP connection now. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

export interface Ejabberd {
  root: string
  /** Its c2s port on 127.0.0.1 (no TLS: no certificate). */
  port: number
  /** The SQLite database, when started with `sqlite`. */
  database: string | undefined
  /** ejabberdctl with this server's options. */
  ctl(...args: string[]): Promise<{status: number; stdout: string; stderr: string}>
  /** A directory ejabberd's user can write. */
  owned(name: string): string
}

/** A running ejabberd of our own (configuration, node name, spool, loopback port), stopped after the test. */
export async function ejabberd(
  t: Context,
  options: {hosts: string[]; plainHosts?: string[]; sqlite?: 'multi-host' | 'single-host'; postgres?: Postgres; scramHash?: 'sha256' | 'sha512'; modules?: string[]},
): Promise<Ejabberd> {
  const dir = daemonDir(t, 'xmppctl-ejabberd-', 'ejabberd')
  const spool = dir.owned('spool')
  const logs = dir.owned('logs')
  const port = await freePort()
  const node = `xmppctl${randomBytes(4).toString('hex')}@localhost`
  const plain = options.plainHosts ?? []
  // ejabberd creates the SQLite database with its schema (lite.sql or lite.new.sql) on first start.
  const database = options.sqlite ? path.join(dir.owned('db'), 'ejabberd.db') : undefined
  const pg = options.postgres
  const sql = database
    ? ['sql_type: sqlite', `sql_database: ${JSON.stringify(database)}`, `new_sql_schema: ${options.sqlite === 'multi-host'}`, 'auth_method: [sql]']
    : pg
      ? ['sql_type: pgsql', 'sql_server: "127.0.0.1"', `sql_port: ${pg.port}`, `sql_database: ${pg.database}`, `sql_username: ${pg.user}`, `sql_password: ${JSON.stringify(pg.password)}`, 'new_sql_schema: true', 'auth_method: [sql]']
      : ['auth_method: [internal]']
  const config = [
    'hosts:',
    ...[...options.hosts, ...plain].map((host) => `  - ${JSON.stringify(host)}`),
    'loglevel: warning',
    ...sql,
    'auth_password_format: scram',
    ...(options.scramHash ? [`auth_scram_hash: ${options.scramHash}`] : []),
    ...(plain.length > 0 ? ['host_config:', ...plain.map((host) => `  ${JSON.stringify(host)}:\n    auth_password_format: plain`)] : []),
    'listen:',
    `  - {port: ${port}, ip: "127.0.0.1", module: ejabberd_c2s}`,
    'modules:',
    '  mod_admin_extra: {}',
    // A module by name (its defaults), or `name: {options}` as written in ejabberd.yml.
    ...(options.modules ?? []).map((module) => (module.includes(':') ? `  ${module}` : `  ${module}: {}`)),
  ].join('\n')
  writeFileSync(path.join(dir.root, 'ejabberd.yml'), `${config}\n`)
  writeFileSync(path.join(dir.root, 'inetrc'), '{lookup,[file,native]}.\n')
  const base = ['--config-dir', dir.root, '--config', path.join(dir.root, 'ejabberd.yml'), '--ctl-config', path.join(dir.root, 'none.cfg'), '--node', node, '--spool', spool, '--logs', logs]
  const ctl = async (...args: string[]) => {
    try {
      const {stdout, stderr} = await run('ejabberdctl', [...base, ...args], {encoding: 'utf8', timeout: 60_000})
      return {status: 0, stdout, stderr}
    } catch (error) {
      const failed = error as {code?: number; stdout?: string; stderr?: string}
      return {status: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? ''}
    }
  }

  t.after(async () => {
    await ctl('stop')
    await ctl('stopped')
  })
  const started = await ctl('start')
  if (started.status !== 0) throw new Error(`ejabberdctl start failed: ${started.stdout}${started.stderr}`)
  const waited = await ctl('started')
  if (waited.status !== 0) throw new Error(`ejabberd did not start: ${waited.stdout}${waited.stderr}; see ${logs}`)
  return {root: dir.root, port, database, ctl, owned: dir.owned}
}

export interface Postgres {
  port: number
  database: string
  user: string
  password: string
  /** postgresql://user:password@127.0.0.1:port/database */
  url: string
}

/** The newest installed PostgreSQL server binaries, or undefined. */
export function postgresBin(): string | undefined {
  try {
    const versions = execFileSync('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null'], {encoding: 'utf8'}).trim().split('\n').filter(Boolean)
    return versions.length > 0 ? path.dirname(versions.sort((a, b) => a.localeCompare(b, 'en', {numeric: true})).at(-1)!) : undefined
  } catch {
    return undefined
  }
}

/**
 * A private PostgreSQL cluster on a loopback port, run as the postgres user,
 * with a database `ejabberd` owned by role `ejabberd` holding ejabberd's own
 * schema (pg.new.sql). Stopped by pid after the test.
 */
export async function postgres(t: Context, schema: string): Promise<Postgres> {
  const bin = postgresBin()!
  const dir = daemonDir(t, 'xmppctl-postgres-', 'postgres')
  const data = dir.owned('data')
  const {uid, gid} = userId('postgres')
  execFileSync(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C'], {uid, gid, stdio: 'ignore', cwd: dir.root})
  const port = await freePort()
  const server = spawn(path.join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', data, '-c', 'listen_addresses=127.0.0.1'], {uid, gid, stdio: 'ignore', cwd: dir.root})
  const exited = new Promise((resolve) => server.on('exit', resolve))
  t.after(async () => {
    server.kill('SIGTERM')
    await exited
  })
  const {default: pg} = await import('pg')
  const connect = async (database: string, user: string) => {
    for (let attempt = 0; ; attempt++) {
      const client = new pg.Client({host: '127.0.0.1', port, database, user})
      try {
        await client.connect()
        return client
      } catch (error) {
        await client.end().catch(() => {})
        if (attempt > 150) throw error
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    }
  }

  const password = 'pg:secret'
  const admin = await connect('postgres', 'postgres')
  await admin.query(`CREATE ROLE ejabberd LOGIN PASSWORD '${password}'`)
  await admin.query('CREATE DATABASE ejabberd OWNER ejabberd')
  await admin.end()
  const owner = await connect('ejabberd', 'ejabberd')
  await owner.query(schema)
  await owner.end()
  return {port, database: 'ejabberd', user: 'ejabberd', password, url: `postgresql://ejabberd:${encodeURIComponent(password)}@127.0.0.1:${port}/ejabberd`}
}
