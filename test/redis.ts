/**
 * A private Redis for tests, from Debian's redis-server: on 127.0.0.1, a
 * port below 32768, a password, no persistence, its files in a temporary
 * directory. Stopped (and its files removed) when the test ends.
 */
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {freePort} from './helpers.js'

/** Why Redis tests cannot run here, or undefined when they can. */
export function redisMissing(): string | undefined {
  try {
    execFileSync('redis-server', ['--version'], {stdio: 'ignore'})
    return undefined
  } catch {
    return 'redis-server not installed (Debian package redis-server)'
  }
}

export interface RedisServer {
  port: number
  password: string
  /** SIGKILL (a crash) or SIGTERM. */
  stop(signal?: NodeJS.Signals): Promise<void>
}

export async function startRedis(t: {after(fn: () => unknown): void}): Promise<RedisServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-redis-'))
  const port = await freePort()
  const password = randomBytes(12).toString('hex')
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--requirepass', password, '--daemonize', 'no', '--loglevel', 'warning'], {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill(signal)
    await exited
  }

  t.after(async () => {
    await stop('SIGKILL')
    rmSync(dir, {recursive: true, force: true})
  })
  // Ready when it answers PING (with the password) on its port: at most 10 s.
  const deadline = Date.now() + 10_000
  for (;;) {
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect({port, host: '127.0.0.1'})
      let data = ''
      socket.setEncoding('utf8')
      socket.on('connect', () => socket.write(`AUTH ${password}\r\nPING\r\n`))
      socket.on('data', (chunk: string) => {
        data += chunk
        if (data.includes('PONG')) socket.destroy()
      })
      socket.on('close', () => resolve(data))
      socket.on('error', () => resolve(''))
      setTimeout(() => socket.destroy(), 1000)
    })
    if (answer.includes('+PONG')) break
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}: ${stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }

  return {port, password, stop}
}

/**
 * The configuration lines of a cluster node on `redis` (sm_db_type: redis),
 * its password in `dir`/redis.password (0600), as an operator keeps it.
 */
export function redisSettings(dir: string, redis: RedisServer): string[] {
  writeFileSync(path.join(dir, 'redis.password'), `${redis.password}\n`, {mode: 0o600})
  return ['sm_db_type: redis', 'redis_server: 127.0.0.1', `redis_port: ${redis.port}`, 'redis_password_file: ./redis.password']
}
