/**
 * For plugin tests: a private oclif data directory per test (so nothing is
 * installed into the real one), the example plugin as a directory and as an
 * `npm pack` tarball, and a small HTTP(S) auth service that records what it
 * was sent.
 */
import {spawnSync} from 'node:child_process'
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import type {AddressInfo} from 'node:net'
import path from 'node:path'

import {Configuration} from '../../../src/config/index.js'
import {defaultSettings} from '../../../src/config/schema.js'
import {generateCertificates} from '../../../src/tls/generate.js'
import {PROJECT_ROOT, type CliResult, runCli} from '../../helpers.js'

export const EXAMPLE_PLUGIN = path.join(PROJECT_ROOT, 'examples', 'auth-http')
const NPM_CLI = path.join(PROJECT_ROOT, 'node_modules', 'npm', 'bin', 'npm-cli.js')

/** Environment giving xmppctl (oclif) and npm a data directory, home and cache under `dir`. */
export function pluginEnv(dir: string): NodeJS.ProcessEnv {
  for (const sub of ['data', 'home', 'cache', 'config']) mkdirSync(path.join(dir, sub), {recursive: true})
  return {
    XDG_DATA_HOME: path.join(dir, 'data'),
    XDG_CACHE_HOME: path.join(dir, 'cache'),
    XDG_CONFIG_HOME: path.join(dir, 'config'),
    HOME: path.join(dir, 'home'),
    npm_config_cache: path.join(dir, 'cache', 'npm'),
    npm_config_update_notifier: 'false',
  }
}

/** The CLI with the plugin environment of `dir`, run in `dir`. */
export function cliIn(dir: string): (args: string[], stdin?: string) => Promise<CliResult> {
  const env = pluginEnv(dir)
  return (args, stdin) => runCli(args, {cwd: dir, env, stdin})
}

/** `npm pack` of the example plugin into `dir`; returns the tarball's path. */
export function packExample(dir: string): string {
  const result = spawnSync(process.execPath, [NPM_CLI, 'pack', EXAMPLE_PLUGIN, '--pack-destination', dir, '--silent'], {
    cwd: dir,
    env: {...process.env, ...pluginEnv(dir)},
    encoding: 'utf8',
  })
  if (result.status !== 0) throw new Error(`npm pack failed: ${result.stderr}`)
  const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'))
  if (!tarball) throw new Error(`npm pack wrote no tarball: ${result.stdout}`)
  return path.join(dir, tarball)
}

export interface AuthRequest {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  body: string
  json: Record<string, string>
}

export interface AuthService {
  url: string
  requests: AuthRequest[]
  /** PEM of the service's self-signed certificate (https only). */
  certificate?: string
}

/**
 * An auth service speaking the example plugin's protocol: `users` maps
 * usernames to passwords. `delayMs` holds every answer back; `status` forces
 * an HTTP status.
 */
export async function startAuthService(
  t: {after(fn: () => unknown): void},
  options: {users: Record<string, string>; tls?: {dir: string}; delayMs?: number; status?: number; token?: string},
): Promise<AuthService> {
  const requests: AuthRequest[] = []
  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      let json: Record<string, string> = {}
      try {
        json = JSON.parse(body)
      } catch {}

      requests.push({method: request.method ?? '', url: request.url ?? '', headers: request.headers, body, json})
      const answer = () => {
        if (options.status) return response.writeHead(options.status).end('no')
        if (options.token && request.headers.authorization !== `Bearer ${options.token}`) return response.writeHead(403).end()
        const known = Object.hasOwn(options.users, json.username ?? '')
        if (json.action === 'check_password') return response.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify(known && options.users[json.username] === json.password))
        if (json.action === 'user_exists') return known ? response.writeHead(200).end('true') : response.writeHead(404).end()
        response.writeHead(400).end()
      }

      if (options.delayMs) setTimeout(answer, options.delayMs)
      else answer()
    })
  }

  let server: http.Server
  let certificate: string | undefined
  if (options.tls) {
    const config = new Configuration(path.join(options.tls.dir, 'xmppctl.yml'), {...defaultSettings(), hosts: ['localhost'], data_dir: './tls'})
    const [generated] = await generateCertificates(config, ['localhost'], {key: 'ec:p256', days: 2, subdomains: [], force: true})
    const {readFileSync} = await import('node:fs')
    certificate = readFileSync(generated.certFile, 'utf8')
    server = https.createServer({cert: certificate, key: readFileSync(generated.keyFile)}, handler)
  } else {
    server = http.createServer(handler)
  }

  const sockets = new Set<import('node:net').Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  const host = options.tls ? 'localhost' : '127.0.0.1'
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  )
  const {port} = server.address() as AddressInfo
  return {url: `${options.tls ? 'https' : 'http'}://${host}:${port}/xmpp/auth`, requests, ...(certificate ? {certificate} : {})}
}

/** A plugin directory whose hook throws when loaded, for "a broken plugin never stops xmppctl". */
export function brokenPlugin(dir: string, name = 'xmppctl-auth-broken'): string {
  const root = path.join(dir, name)
  mkdirSync(root, {recursive: true})
  writeFileSync(
    path.join(root, 'package.json'),
    JSON.stringify({name, version: '1.0.0', type: 'module', oclif: {hooks: {'auth-backends': './hook.js'}}}, null, 2),
  )
  writeFileSync(path.join(root, 'hook.js'), "throw new Error('broken on purpose: cannot reach the plugin\\'s own configuration')\n")
  return root
}
