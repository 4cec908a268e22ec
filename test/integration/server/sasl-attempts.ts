/**
 * SASL attempts on connections of their own, for tests of authentication
 * limits: each opens a stream (from any 127.0.0.0/8 address, which Linux
 * routes to the loopback) and returns what the server answered.
 */
import net from 'node:net'

import {RawClient, header} from './helpers.js'

export const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'

/** A client from `from` (any 127.0.0.0/8 address on Linux) with its stream features read. */
export async function open(port: number, from = '127.0.0.1'): Promise<RawClient> {
  const socket = net.connect({port, host: '127.0.0.1', localAddress: from})
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('error', reject)
  })
  const client = new RawClient(socket)
  client.write(header())
  await client.until(/<\/stream:features>/)
  return client
}

/** The SASL reply's first element: `success`, `challenge`, or the failure condition. */
export async function verdict(client: RawClient): Promise<string> {
  const reply = await client.until(/<success[^>]*(\/>|<\/success>)|<\/challenge>|<\/failure>/, 10_000)
  if (/<success/.test(reply)) return 'success'
  if (/<challenge/.test(reply)) return 'challenge'
  return /<failure [^>]*><([a-z-]+)/.exec(reply)?.[1] ?? reply
}

export const plainAuth = (authcid: string, password: string) => `<auth xmlns='${SASL}' mechanism='PLAIN'>${Buffer.from(`\0${authcid}\0${password}`).toString('base64')}</auth>`

/** One PLAIN attempt on a connection of its own. */
export async function plain(port: number, authcid: string, password: string, from?: string): Promise<string> {
  const client = await open(port, from)
  try {
    client.write(plainAuth(authcid, password))
    return await verdict(client)
  } finally {
    client.end()
  }
}

