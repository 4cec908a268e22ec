import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/** The project root, from the compiled test files under dist/test/. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BIN = path.join(PROJECT_ROOT, 'bin', 'run.js')

/** A fresh directory, removed when the test ends. */
export function tempDir(t: {after(fn: () => void): void}, prefix = 'xmppctl-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  t.after(() => rmSync(dir, {recursive: true, force: true}))
  return dir
}

/** Writes `xmppctl.yml` in `dir` and returns its path. */
export function writeConfig(dir: string, text: string): string {
  const file = path.join(dir, 'xmppctl.yml')
  writeFileSync(file, text)
  return file
}

export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

/**
 * `xmppctl start --json` in `server.dir`, which must succeed: sets
 * `server.pid`, and kills whatever process `server.pid` names when `t` ends
 * (a test that starts it again updates the pid).
 */
export async function startInBackground(t: {after(fn: () => unknown): void}, server: {dir: string; pid: number}): Promise<void> {
  const started = await runCli(['start', '--json'], {cwd: server.dir})
  assert.equal(started.status, 0, started.stdout + started.stderr)
  server.pid = (JSON.parse(started.stdout) as {pid: number}).pid
  t.after(() => {
    try {
      process.kill(server.pid, 'SIGKILL')
    } catch {}
  })
}

/** How long runCli lets a command run when the test sets no timeout: far past any command the tests run. */
const RUN_CLI_BOUND_MS = 4 * 60_000

/** Runs the real CLI as a user would: a child process, no terminal, optional stdin. */
export function runCli(
  args: readonly string[],
  options: {cwd: string; stdin?: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number; timeoutMs?: number},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {...process.env, NO_COLOR: '1'}
    delete env.FORCE_COLOR
    delete env.XMPPCTL_CONFIG
    // A process under another uid cannot read root's oclif data directory; give it its own.
    if (options.uid !== undefined) Object.assign(env, {HOME: options.cwd, XDG_DATA_HOME: options.cwd, XDG_CACHE_HOME: options.cwd, XDG_CONFIG_HOME: options.cwd})
    Object.assign(env, options.env)
    // timeoutMs: a command that should fail but runs on (a server that starts) is killed, and ends with status null.
    // Without it, a command that hangs is killed at RUN_CLI_BOUND_MS and says so on stderr, so that the test that ran it
    // fails by name rather than its whole file at the runner's bound (scripts/test.js).
    const child = spawn(process.execPath, [BIN, ...args], {cwd: options.cwd, env, uid: options.uid, gid: options.gid, stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    let killed = false
    const timer = setTimeout(() => {
      killed = true
      child.kill('SIGKILL')
      if (options.timeoutMs === undefined) stderr += `\n[runCli: xmppctl ${args[0] ?? ''} ${args[1] ?? ''} did not end within ${RUN_CLI_BOUND_MS} ms and was killed]\n`
      // A process it started may hold its output open: do not wait for that past a few seconds.
      setTimeout(() => resolve({status: null, stdout, stderr}), 5000).unref()
    }, options.timeoutMs ?? RUN_CLI_BOUND_MS)
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({status: killed ? null : status, stdout, stderr})
    })
    child.stdin.end(options.stdin ?? '')
  })
}

/** Ports freePort handed out in this process: none is handed out twice. */
const handedOut = new Set<number>()

/**
 * Claims `port` for this process: false when this process or, through the run's directory of claims
 * (XMPPCTL_TEST_PORTS_DIR, made by scripts/test.js), another test file's process has it. Without a
 * claim, two files running side by side could both find a port free, and the second to listen on it
 * would fail to start. A file made with 'wx' is created by exactly one process, so a claim is atomic.
 */
function claimPort(port: number): boolean {
  if (handedOut.has(port)) return false
  const claims = process.env.XMPPCTL_TEST_PORTS_DIR
  if (claims) {
    try {
      closeSync(openSync(path.join(claims, String(port)), 'wx'))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw error
    }
  }

  handedOut.add(port)
  return true
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago and that no other test
 * of this run was given, for configurations that need a fixed port: below
 * 32768, since the kernel hands out ports from 32768 to 60999 to outgoing
 * connections, which would collide with a server started on one later (a
 * port 0 read back comes from that range).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    if (!claimPort(port)) continue
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer()
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
    })
    if (free) return port
  }

  throw new Error('no free loopback port found below 32768')
}

/** Overwrites every byte of `file` from `offset` on (the pages written after the schema), as a bad disk or a torn copy would. */
export function damageAfter(file: string, offset: number): void {
  const size = statSync(file).size
  assert.ok(size > offset + 4 * 4096, `${file} has too few pages past ${offset} to damage`)
  const fd = openSync(file, 'r+')
  try {
    writeSync(fd, randomBytes(size - offset), 0, size - offset, offset)
  } finally {
    closeSync(fd)
  }
}
