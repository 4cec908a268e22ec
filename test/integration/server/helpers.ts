/**
 * Servers for tests: 127.0.0.1 on free ports (port 0), a temp data_dir
 * each, the real authentication of src/auth, and a raw client for
 * protocol-level tests.
 */
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'

import {addUser} from '../../../src/accounts/index.js'
import {Configuration} from '../../../src/config/index.js'
import {defaultSettings, type HostSettings, type Settings} from '../../../src/config/schema.js'
import {type ServerOptions, XmppServer} from '../../../src/server/server.js'
import {openAccountStore} from '../../../src/store/index.js'
import type {AccountStore} from '../../../src/store/account-store.js'
import {tempDir} from '../../helpers.js'

export interface TestServer {
  server: XmppServer
  config: Configuration
  dataDir: string
  starttlsPort: number
  tlsPort: number
  addUser(jid: string, password: string): Promise<void>
}

/** A started server on 127.0.0.1 (STARTTLS and direct TLS listeners on free ports), stopped when the test ends. */
export async function startTestServer(
  t: {after(fn: () => unknown): void},
  options: {settings?: Partial<Settings>; hostConfig?: Record<string, Partial<HostSettings>>; server?: ServerOptions} = {},
): Promise<TestServer> {
  const dir = tempDir(t, 'xmppctl-server-')
  const settings: Settings = {
    ...defaultSettings(),
    auth_scram_iterations: 4096,
    listen: [
      {port: 0, ip: '127.0.0.1', module: 'c2s', starttls: 'required', tls: false},
      {port: 0, ip: '127.0.0.1', module: 'c2s', starttls: 'required', tls: true},
    ],
    ...options.settings,
  }
  const config = new Configuration(path.join(dir, 'xmppctl.yml'), settings, options.hostConfig)
  const server = new XmppServer(config, options.server)
  const listeners = await server.start()
  t.after(() => server.stop())
  const store = await openAccountStore(config)
  t.after(() => store.close())
  return {
    server,
    config,
    dataDir: config.dataDir,
    starttlsPort: listeners.find((listener) => !listener.tls)?.port ?? 0,
    tlsPort: listeners.find((listener) => listener.tls)?.port ?? 0,
    addUser: async (jid, password) => {
      await addUser({config, store}, jid, password)
    },
  }
}

/** A raw connection for protocol tests: write text, read until a pattern shows up. */
export class RawClient {
  socket: net.Socket
  received = ''
  closed = false
  private waiters: Array<() => void> = []

  constructor(socket: net.Socket) {
    this.socket = socket
    this.listen(socket)
  }

  static async connect(port: number, options: {tls?: boolean; servername?: string} = {}): Promise<RawClient> {
    const socket = options.tls
      ? tls.connect({port, host: '127.0.0.1', rejectUnauthorized: false, servername: options.servername ?? 'localhost', ALPNProtocols: ['xmpp-client']})
      : net.connect({port, host: '127.0.0.1'})
    await new Promise<void>((resolve, reject) => {
      socket.once(options.tls ? 'secureConnect' : 'connect', () => resolve())
      socket.once('error', reject)
    })
    return new RawClient(socket)
  }

  private listen(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.toString('utf8')
      for (const waiter of this.waiters.splice(0)) waiter()
    })
    socket.on('close', () => {
      this.closed = true
      for (const waiter of this.waiters.splice(0)) waiter()
    })
    socket.on('error', () => {})
  }

  write(text: string | Buffer): void {
    this.socket.write(text)
  }

  /** Waits until the received text matches; returns it and forgets what was read. */
  async until(pattern: RegExp, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const match = pattern.exec(this.received)
      if (match) {
        const upto = match.index + match[0].length
        const text = this.received.slice(0, upto)
        this.received = this.received.slice(upto)
        return text
      }

      if (this.closed) throw new Error(`connection closed before ${pattern}; got: ${this.received}`)
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; got: ${this.received}`)
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve)
        setTimeout(resolve, 50)
      })
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    if (!this.closed) throw new Error('connection still open')
  }

  /** Upgrades to TLS after <proceed/>. */
  async startTls(servername = 'localhost', options: tls.ConnectionOptions = {}): Promise<void> {
    this.socket.removeAllListeners('data')
    const secure = tls.connect({socket: this.socket, servername, rejectUnauthorized: false, ...options})
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve())
      secure.once('error', reject)
    })
    this.socket = secure
    this.listen(secure)
  }

  end(): void {
    this.socket.destroy()
  }
}

export const header = (to = 'localhost', extra = "version='1.0'") =>
  `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${to}' ${extra}>`
