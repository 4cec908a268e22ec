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
import {DEFAULT_MODULES, optionDefaults} from '../../../src/config/modules.js'
import {defaultSettings, type HostSettings, type Settings} from '../../../src/config/schema.js'
import {type ServerOptions, XmppServer} from '../../../src/server/server.js'
import {openAccountStore, storeEngine} from '../../../src/store/index.js'
import {STORE_FILE} from '../../../src/store/sqlite/index.js'
import Database from '../../../src/store/sqlite/driver.js'
import {tempDir} from '../../helpers.js'
import {sharedPostgres} from '../../postgres.js'

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
    // Tests send megabytes in a second; the shaper has its own test (hardening.test.ts).
    shaper_rules: {c2s_shaper: 'none'},
    listen: [
      {port: 0, ip: '127.0.0.1', module: 'c2s', starttls: 'required', tls: false},
      {port: 0, ip: '127.0.0.1', module: 'c2s', starttls: 'required', tls: true},
    ],
    ...(await testStoreSettings()),
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

/**
 * The store settings of test servers: the embedded SQLite store, or with
 * XMPPCTL_TEST_STORE=postgresql a database of its own on one PostgreSQL
 * cluster per test process, so that the server suite runs on either store.
 */
export async function testStoreSettings(): Promise<Partial<Settings>> {
  if (process.env.XMPPCTL_TEST_STORE !== 'postgresql') return {}
  const database = await (await sharedPostgres()).createDatabase()
  return {sql_type: 'pgsql', sql_server: database.host, sql_port: database.port, sql_database: database.database, sql_username: database.user, sql_password: database.password}
}

/**
 * Runs SQL with `?` placeholders on a test server's store, whichever its
 * engine, for tests that look at (or damage) what is stored: the rows of
 * a query, none of a write. Counts come back as numbers on both engines.
 */
export async function storeQuery<Row = Record<string, unknown>>(config: Configuration, sql: string, parameters: unknown[] = []): Promise<Row[]> {
  if (storeEngine(config) === 'sqlite') {
    const db = new Database(path.join(config.dataDir, STORE_FILE), {timeout: 5000})
    try {
      const statement = db.prepare(sql)
      if (statement.reader) return statement.all(...parameters) as Row[]
      statement.run(...parameters)
      return []
    } finally {
      db.close()
    }
  }

  const {default: pg} = await import('pg')
  const {settings} = config
  const client = new pg.Client({
    host: settings.sql_server,
    port: settings.sql_port,
    database: settings.sql_database,
    user: settings.sql_username,
    password: settings.sql_password,
    types: {getTypeParser: ((oid: number, format?: string) => (oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser},
  })
  await client.connect()
  try {
    let index = 0
    return (await client.query(sql.replaceAll('?', () => `$${++index}`), parameters)).rows as Row[]
  } finally {
    await client.end()
  }
}

/**
 * The default modules, with accounts that archive nothing (mod_mam's default
 * never): messages are delivered without archive ids (XEP-0359), so tests of
 * other modules can expect exact stanzas. mam.test.ts tests the ids.
 */
export const NO_ARCHIVING: Partial<Settings> = {modules: {...DEFAULT_MODULES, mod_mam: {...optionDefaults('mod_mam'), default: 'never'}}}

/** A test server with the accounts `users`@localhost, each with the password "`user` pw". */
export async function startWithUsers(t: {after(fn: () => unknown): void}, options: Parameters<typeof startTestServer>[1] = {}, ...users: string[]): Promise<TestServer> {
  const test = await startTestServer(t, options)
  for (const user of users) await test.addUser(`${user}@localhost`, `${user} pw`)
  return test
}

/** A raw connection for protocol tests: write text, read until a pattern shows up. */
export class RawClient {
  socket: net.Socket
  closed = false
  /** What arrived and was not yet consumed, in arrival order (joined on demand: a large stream is not copied per chunk). */
  private parts: string[] = []
  /** The full JID bound by loginRaw. */
  jid = ''
  private waiters: Array<() => void> = []

  constructor(socket: net.Socket) {
    this.socket = socket
    this.listen(socket)
  }

  static async connect(port: number, options: {tls?: boolean; servername?: string; /** Plain connections only. */ localAddress?: string} = {}): Promise<RawClient> {
    const socket = options.tls
      ? tls.connect({port, host: '127.0.0.1', rejectUnauthorized: false, servername: options.servername ?? 'localhost', ALPNProtocols: ['xmpp-client']})
      : net.connect({port, host: '127.0.0.1', localAddress: options.localAddress})
    await new Promise<void>((resolve, reject) => {
      socket.once(options.tls ? 'secureConnect' : 'connect', () => resolve())
      socket.once('error', reject)
    })
    return new RawClient(socket)
  }

  get received(): string {
    if (this.parts.length > 1) this.parts = [this.parts.join('')]
    return this.parts[0] ?? ''
  }

  set received(text: string) {
    this.parts = text === '' ? [] : [text]
  }

  private listen(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.parts.push(chunk.toString('utf8'))
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

  /**
   * Like until, for a literal text in a large amount of data: each arrival is
   * searched only from where the last search stopped, not from the start.
   */
  async untilText(marker: string, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    // Parts already searched, their total length, and the end of the last one (a marker may span two parts).
    let searched = 0
    let offset = 0
    let carry = ''
    for (;;) {
      for (; searched < this.parts.length; searched++) {
        const part = this.parts[searched]
        const index = (carry + part).indexOf(marker)
        if (index !== -1) {
          const upto = offset - carry.length + index + marker.length
          const all = this.received
          this.received = all.slice(upto)
          return all.slice(0, upto)
        }

        offset += part.length
        carry = (carry + part).slice(-(marker.length - 1) || Number.POSITIVE_INFINITY)
      }

      if (this.closed) throw new Error(`connection closed before ${marker}; got: ${this.received.slice(0, 2000)}`)
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${marker}; got: ${this.received.slice(0, 2000)}`)
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

/** A stream after STARTTLS, its features read: ready for SASL. */
export async function openSecured(port: number, localAddress?: string, host = 'localhost'): Promise<RawClient> {
  const client = await RawClient.connect(port, {localAddress})
  client.write(header(host))
  await client.until(/<\/stream:features>/)
  client.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
  await client.until(/<proceed[^>]*\/>/)
  await client.startTls()
  client.write(header(host))
  await client.until(/<\/stream:features>/)
  return client
}

/** The <stream:features/> an account gets once authenticated (STARTTLS, then PLAIN). */
export async function featuresAfterAuth(t: {after(fn: () => unknown): void}, port: number, username: string, password: string): Promise<string> {
  const client = await openSecured(port)
  t.after(() => client.end())
  client.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${username}\0${password}`).toString('base64')}</auth>`)
  await client.until(/<success [^>]*\/>/)
  client.write(header())
  return client.until(/<\/stream:features>/)
}

/** STARTTLS, then PLAIN, a bound resource and, unless `presence` is false, initial presence: a logged-in raw client. */
export async function loginRaw(
  t: {after(fn: () => unknown): void},
  port: number,
  username: string,
  password: string,
  options: {resource?: string; streamHeader?: string; localAddress?: string; presence?: boolean; bind?: boolean; host?: string} = {},
): Promise<RawClient> {
  const client = await openSecured(port, options.localAddress, options.host)
  t.after(() => client.end())
  client.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${username}\0${password}`).toString('base64')}</auth>`)
  await client.until(/<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'\/>/)
  client.write(options.streamHeader ?? header(options.host))
  await client.until(/<\/stream:features>/)
  if (options.bind === false) return client
  client.write(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>${options.resource ? `<resource>${options.resource}</resource>` : ''}</bind></iq>`)
  const bound = await client.until(/<\/iq>/)
  const jid = /<jid>([^<]+)<\/jid>/.exec(bound)?.[1]
  if (!jid) throw new Error(`bind failed: ${bound}`)
  client.jid = jid
  if (options.presence !== false) client.write('<presence/>')
  return client
}

/** The answer to the iq with `id` (the first iq with that id the client receives): its whole text. */
export async function iqReply(client: RawClient, id: string): Promise<string> {
  const text = await client.until(new RegExp(`<iq [^>]*id='${id}'[^>]*?(/>|>[\\s\\S]*?</iq>)`))
  return text.slice(text.lastIndexOf('<iq '))
}

/**
 * The bound a cluster promises for a killed node's sessions to go (src/server/cluster.ts):
 * liveness TTL (5 s) + one heartbeat (1 s), and a second to tell contacts.
 */
export const NODE_DEATH_BOUND_MS = 7000

/** The first `name` stanza matching `pattern`, whole, within `timeoutMs` (until's default if not given). */
export async function next(client: RawClient, name: 'message' | 'presence' | 'iq', pattern = '', timeoutMs?: number): Promise<string> {
  const text = await client.until(new RegExp(`<${name} [^>]*${pattern}[^>]*?(/>|>[\\s\\S]*?</${name}>)`), timeoutMs)
  return text.slice(text.lastIndexOf(`<${name} `))
}

let syncs = 0
/** Everything the client received up to the answer to a ping it sends now (the server handles a session's stanzas in order). */
export async function sync(client: RawClient): Promise<string> {
  const id = `sync${++syncs}`
  client.write(`<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`)
  return client.until(new RegExp(`<iq [^>]*id='${id}'[^>]*/>`))
}

/** `user` fetches the roster and subscribes to `contact`'s presence, which approves: user has "to", contact has "from". */
export async function subscribe(user: RawClient, contact: RawClient): Promise<void> {
  const contactBare = contact.jid.split('/')[0]
  const userBare = user.jid.split('/')[0]
  user.write("<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>")
  await user.until(/id='roster'/)
  user.write(`<presence type='subscribe' to='${contactBare}'/>`)
  await contact.until(/<presence [^>]*type='subscribe'[^>]*\/>/)
  contact.write(`<presence type='subscribed' to='${userBare}'/>`)
  await user.until(/<presence [^>]*type='subscribed'/)
  await sync(contact)
  await sync(user)
}

/** The next message the client receives, whole: a message forwarded inside it (a carbon, an archive result) included. */
export async function nextMessage(client: RawClient): Promise<string> {
  let text = ''
  for (;;) {
    text += await client.until(/<\/message>/)
    const message = text.slice(text.indexOf('<message '))
    if (message.match(/<message[\s>]/g)!.length === message.match(/<\/message>/g)!.length) return message
  }
}

/** A room's own ids as placeholders (they vary from run to run): OID for occupant ids, SID for stanza ids, MID for ids of messages the room makes. */
export function roomIdPlaceholders(text: string): string {
  return text
    .replace(/(<occupant-id xmlns='urn:xmpp:occupant-id:0' id=')[^']+'/g, "$1OID'")
    .replace(/(<stanza-id xmlns='urn:xmpp:sid:0' id=')[^']+'/g, "$1SID'")
    .replace(/(<message type='groupchat' id=')[^']+('[^>]*from='[^'/]+'>)/g, '$1MID$2')
}

/** An occupant id after roomIdPlaceholders(). */
export const OCCUPANT_ID = "<occupant-id xmlns='urn:xmpp:occupant-id:0' id='OID'/>"
