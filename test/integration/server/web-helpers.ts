/** The https listener of web tests (WebSocket, BOSH, upload) and a WebSocket client. */
import assert from 'node:assert/strict'
import https from 'node:https'

import WebSocket from 'ws'

import type {Settings} from '../../../src/config/schema.js'
import {NO_ARCHIVING, startWithUsers} from './helpers.js'

export const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'
export const BOSH = 'http://jabber.org/protocol/httpbind'

export const HTTP_LISTENER: Settings['listen'][number] = {
  port: 0,
  ip: '127.0.0.1',
  module: 'http',
  starttls: 'required',
  tls: true,
  request_handlers: {'/ws': 'ejabberd_http_ws', '/bosh': 'mod_bosh', '/upload': 'mod_http_upload'},
}

/** A server with c2s listeners and the https listener; its port. */
export async function startWeb(t: {after(fn: () => unknown): void}, settings: Partial<Settings> = {}, ...users: string[]) {
  const test = await startWithUsers(t, {settings: {...NO_ARCHIVING, listen: [{port: 0, ip: '127.0.0.1', module: 'c2s', starttls: 'required', tls: false}, HTTP_LISTENER], ...settings}}, ...users)
  const httpPort = test.server.listenerStatus().find((listener) => listener.module === 'http')!.port
  return {...test, httpPort}
}

/** A WebSocket client that keeps every message it receives, in order. */
export class WsClient {
  readonly messages: string[] = []
  closed = false
  closeCode = 0

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.messages.push(data.toString()))
    ws.on('close', (code) => {
      this.closed = true
      this.closeCode = code
    })
  }

  static async connect(port: number, options: {protocol?: string[]; origin?: string} = {}): Promise<WsClient> {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, options.protocol ?? ['xmpp'], {rejectUnauthorized: false, ...({servername: 'localhost'} as object), ...(options.origin ? {origin: options.origin} : {})})
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
      ws.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)))
    })
    return new WsClient(ws)
  }

  send(text: string): void {
    this.ws.send(text)
  }

  /** The next message, consumed. */
  async next(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    while (this.messages.length === 0) {
      if (this.closed) throw new Error('closed before a message came')
      if (Date.now() > deadline) throw new Error('timed out waiting for a message')
      await new Promise((resolve) => setTimeout(resolve, 10))
    }

    return this.messages.shift()!
  }

  /** Messages up to one matching `pattern`, which is returned. */
  async until(pattern: RegExp): Promise<string> {
    for (let i = 0; i < 100; i++) {
      const message = await this.next()
      if (pattern.test(message)) return message
    }

    throw new Error(`no message matched ${pattern}`)
  }

  close(): void {
    this.ws.terminate()
  }
}

/** <open/>, its answer and features, PLAIN, the new stream and a bound resource: the full JID. */
export async function wsLogin(client: WsClient, user: string, password: string, resource = 'web'): Promise<string> {
  client.send(`<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`)
  await client.next()
  await client.next()
  client.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${user}\0${password}`).toString('base64')}</auth>`)
  assert.equal(await client.next(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
  client.send(`<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`)
  await client.next()
  await client.next()
  client.send(`<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`)
  const bound = await client.next()
  return /<jid>([^<]+)<\/jid>/.exec(bound)![1]
}

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

export function fetchUrl(url: string, options: {method?: string; body?: Buffer; headers?: Record<string, string>} = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = https.request(url, {method: options.method ?? 'GET', rejectUnauthorized: false, headers: options.headers}, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks)}))
    })
    request.on('error', reject)
    request.end(options.body)
  })
}

const boshAgent = new https.Agent({keepAlive: true, maxSockets: 4})

/** A request to the BOSH path (POST unless `method` says otherwise); the answer with its body as text. */
export function boshPost(port: number, body: string, options: {method?: string; headers?: Record<string, string>} = {}): Promise<Omit<Answer, 'body'> & {body: string}> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      {host: '127.0.0.1', port, path: '/bosh', method: options.method ?? 'POST', servername: 'localhost', rejectUnauthorized: false, agent: boshAgent, headers: {'Content-Type': 'text/xml; charset=utf-8', ...options.headers}},
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => resolve({status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks).toString('utf8')}))
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}

/** A BOSH session of `user`, logged in and bound to `resource`: its sid and the last rid used. */
export async function boshLogin(port: number, user: string, resource: string): Promise<{sid: string; rid: number}> {
  let rid = 5000
  const created = await boshPost(port, `<body xmlns='${BOSH}' rid='${rid}' to='localhost' wait='10' hold='1' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>`)
  const sid = /sid='([^']+)'/.exec(created.body)![1]
  const auth = await boshPost(port, `<body xmlns='${BOSH}' rid='${++rid}' sid='${sid}'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${user}\0${user} pw`).toString('base64')}</auth></body>`)
  assert.match(auth.body, /<success /)
  await boshPost(port, `<body xmlns='${BOSH}' rid='${++rid}' sid='${sid}' to='localhost' xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh'/>`)
  const bound = await boshPost(port, `<body xmlns='${BOSH}' rid='${++rid}' sid='${sid}'><iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq></body>`)
  assert.match(bound.body, new RegExp(`<jid>${user}@localhost/${resource}</jid>`))
  return {sid, rid}
}
