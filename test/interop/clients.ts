/**
 * The real clients the interop tests drive: @xmpp/client in this process,
 * and slixmpp (Debian's python3-slixmpp) through test/interop/slixmpp/client.py.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import path from 'node:path'

import {client, xml} from '@xmpp/client'

import {PROJECT_ROOT} from '../helpers.js'
import type {TestServer} from '../integration/server/helpers.js'

// The test servers' certificates are self-signed; the test processes only talk to them.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'

export type XmppClient = ReturnType<typeof client>
export type Stanza = ReturnType<typeof xml>

export interface Connected {
  xmpp: XmppClient
  jid: string
  /** The mechanisms the server offered, and the one used. */
  offered: string[]
  mechanism: string
  stanzas: Stanza[]
  /** The first received stanza matching `predicate` (removed from `stanzas`), waiting up to `timeoutMs`. */
  next(predicate: (stanza: Stanza) => boolean, timeoutMs?: number): Promise<Stanza>
}

export interface ConnectOptions {
  username?: string
  password?: string
  /** Default: the first one the server offers. */
  mechanism?: string
  directTls?: boolean
  resource?: string
  /** Milliseconds per reply; @xmpp/client's default is 2 s. */
  timeout?: number
}

/** @xmpp/client logged in to `server`; stopped when the test ends, or at once if the login fails. */
export async function connect(t: {after(fn: () => unknown): void}, server: TestServer, options: ConnectOptions): Promise<Connected> {
  const stanzas: Stanza[] = []
  let offered: string[] = []
  let mechanism = ''
  const credentials = async (authenticate: (creds: object, mechanism: string) => Promise<void>, mechanisms: string[]) => {
    offered = mechanisms
    mechanism = options.mechanism ?? mechanisms[0]
    assert.ok(mechanisms.includes(mechanism), `server offered ${mechanisms.join(', ')}`)
    await authenticate(options.username ? {username: options.username, password: options.password} : {}, mechanism)
  }

  const xmpp = client({
    service: options.directTls ? `xmpps://127.0.0.1:${server.tlsPort}` : `xmpp://127.0.0.1:${server.starttlsPort}`,
    domain: 'localhost',
    resource: options.resource,
    credentials,
    ...(options.timeout ? {timeout: options.timeout} : {}),
  } as Parameters<typeof client>[0])
  xmpp.reconnect.stop()
  xmpp.on('error', () => {})
  const waiters: Array<() => void> = []
  xmpp.on('stanza', (stanza: Stanza) => {
    stanzas.push(stanza)
    for (const waiter of waiters.splice(0)) waiter()
  })
  let address
  try {
    address = await xmpp.start()
  } catch (error) {
    await xmpp.stop().catch(() => {})
    throw error
  }

  t.after(() => xmpp.stop().catch(() => {}))
  return {
    xmpp,
    jid: address.toString(),
    offered,
    mechanism,
    stanzas,
    async next(predicate, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const index = stanzas.findIndex(predicate)
        if (index !== -1) return stanzas.splice(index, 1)[0]
        if (Date.now() > deadline) throw new Error(`no matching stanza; got ${stanzas.map(String).join('\n')}`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 50)
        })
      }
    },
  }
}

const PYTHON = '/usr/bin/python3'
const SLIXMPP_DIR = path.join(PROJECT_ROOT, 'test', 'interop', 'slixmpp')

/** Whether Debian's slixmpp can be run (it is only importable by /usr/bin/python3). */
export const slixmppAvailable =
  existsSync(PYTHON) &&
  (await new Promise<boolean>((resolve) => {
    const probe = spawn(PYTHON, ['-c', 'import slixmpp'], {stdio: 'ignore'})
    probe.on('close', (status) => resolve(status === 0))
    probe.on('error', () => resolve(false))
  }))

export interface SlixmppEvent {
  event: string
  [key: string]: unknown
}

/** One run of a script of test/interop/slixmpp (client.py unless named) with `args` (see the script): the JSON lines it printed. */
export function runSlixmpp(args: Record<string, unknown>, script = 'client.py'): Promise<SlixmppEvent[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [path.join(SLIXMPP_DIR, script), JSON.stringify(args)], {stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (status) => {
      const events = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as SlixmppEvent)
      if (status !== 0 && events.length === 0) reject(new Error(`slixmpp exited ${status}: ${stderr.slice(-2000)}`))
      else resolve(events)
    })
  })
}
