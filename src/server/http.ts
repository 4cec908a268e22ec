/**
 * What an http listener serves (ejabberd's ejabberd_http and its
 * request_handlers): each configured path goes to its handler by the
 * handler's ejabberd name. Node's http module parses HTTP; `ws` does the
 * WebSocket handshake and framing.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'
import type net from 'node:net'
import type tls from 'node:tls'

import type {HttpHandlerName} from '../config/schema.js'
import type {C2sSession, SessionTransport} from './c2s.js'
import {WEBSOCKET_FRAMING} from './framing.js'
import type {Logger} from './log.js'
import {webSocketHandler} from './websocket.js'

export interface HttpHost {
  logger: Logger
  maxStanzaBytes(): number
  websocketOrigins(): readonly string[]
  /** Starts a session on a transport's message duplex; undefined when the server is stopping. */
  session(socket: net.Socket, transport: SessionTransport): C2sSession | undefined
}

/** Handles the requests of one path; `path` is what follows the handler's prefix. */
export interface HttpHandler {
  request?(request: IncomingMessage, response: ServerResponse, path: string, secure: boolean): void
  upgrade?(request: IncomingMessage, socket: net.Socket, head: Buffer, secure: boolean): void
}

/** Headers every answer carries: nothing served here is a page a browser should sniff, frame or send referrers from. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
}

/** Answers with a short plain-text body and the security headers. */
export function answer(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (response.headersSent) {
    response.destroy()
    return
  }

  const body = text === '' ? '' : `${text}\n`
  response.writeHead(status, {...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), ...headers})
  response.end(body)
}

export class HttpRoutes {
  private readonly routes: Array<{prefix: string; handler: HttpHandler}>

  constructor(handlers: Record<string, HttpHandlerName>, host: HttpHost, extra: Partial<Record<HttpHandlerName, HttpHandler>> = {}) {
    const make = (name: HttpHandlerName): HttpHandler | undefined => extra[name] ?? (name === 'ejabberd_http_ws' ? webSocketRoute(host) : undefined)
    this.routes = Object.entries(handlers)
      .map(([prefix, name]) => ({prefix: normalizePrefix(prefix), handler: make(name)}))
      .filter((route): route is {prefix: string; handler: HttpHandler} => route.handler !== undefined)
      // The longest prefix wins: /upload/x before /.
      .sort((a, b) => b.prefix.length - a.prefix.length)
  }

  private route(url: string | undefined): {handler: HttpHandler; path: string} | undefined {
    const pathname = (url ?? '/').split('?')[0]
    for (const {prefix, handler} of this.routes) {
      if (pathname === prefix || prefix === '/' || pathname.startsWith(`${prefix}/`)) return {handler, path: prefix === '/' ? pathname : pathname.slice(prefix.length)}
    }

    return undefined
  }

  request(request: IncomingMessage, response: ServerResponse, secure: boolean): void {
    const route = this.route(request.url)
    if (!route?.handler.request) {
      request.resume()
      return answer(response, route ? 426 : 404, route ? 'this path serves WebSocket (RFC 7395): upgrade with the xmpp subprotocol' : 'not found', route ? {Upgrade: 'websocket'} : {})
    }

    route.handler.request(request, response, route.path, secure)
  }

  upgrade(request: IncomingMessage, socket: net.Socket, head: Buffer, secure: boolean): void {
    const route = this.route(request.url)
    if (!route?.handler.upgrade) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
      return
    }

    route.handler.upgrade(request, socket, head, secure)
  }
}

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '')
  return trimmed === '' ? '/' : trimmed.startsWith('/') ? trimmed : `/${trimmed}`
}

/** ejabberd_http_ws: RFC 7395 sessions. */
function webSocketRoute(host: HttpHost): HttpHandler {
  const handle = webSocketHandler({
    origins: () => host.websocketOrigins(),
    // One stanza per message (§3.3.3): a message may be as large as a stanza, and the framing's own parser bounds it again.
    maxPayload: host.maxStanzaBytes() + 1024,
    refused: (request, reason) => host.logger.debug(`websocket from ${request.socket.remoteAddress}: refused, ${reason}`),
    accept: (socket, request) => {
      const encrypted = (request.socket as tls.TLSSocket).encrypted === true
      const session = host.session(socket as unknown as net.Socket, {framing: WEBSOCKET_FRAMING, encrypted, remoteAddress: socket.remoteAddress, kind: 'websocket'})
      if (!session) socket.destroy()
    },
  })
  return {upgrade: (request, socket, head) => handle(request, socket, head)}
}
