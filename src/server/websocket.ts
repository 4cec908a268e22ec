/**
 * XMPP over WebSocket (RFC 7395). The `ws` library does the framing and the
 * handshake; here a connection becomes a duplex of whole messages that a
 * C2sSession reads and writes like a socket, with WEBSOCKET_FRAMING turning
 * <open/> and <close/> into the stream's start and end.
 */
import type {IncomingMessage} from 'node:http'
import type net from 'node:net'
import {Duplex} from 'node:stream'

import {type WebSocket, WebSocketServer} from 'ws'

/** RFC 7395 §3.1: the subprotocol a client must ask for. */
export const XMPP_SUBPROTOCOL = 'xmpp'

/** One WebSocket as a stream of messages: each chunk read is one message, each write one text message. */
export class MessageSocket extends Duplex {
  readonly remoteAddress: string
  private readonly ws: WebSocket

  constructor(ws: WebSocket, remoteAddress: string) {
    // Object mode on the readable side: paused messages must not run together into one chunk.
    super({readableObjectMode: true, decodeStrings: false, allowHalfOpen: false})
    this.ws = ws
    this.remoteAddress = remoteAddress
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      // §3.2: XMPP travels in text messages only.
      if (isBinary) {
        ws.close(1003, 'XMPP over WebSocket uses text messages (RFC 7395 §3.2)')
        return
      }

      const message = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
      if (!this.push(message)) ws.pause()
    })
    ws.on('close', () => {
      this.push(null)
      this.destroy()
    })
    ws.on('error', () => this.destroy())
  }

  override _read(): void {
    if (this.ws.isPaused) this.ws.resume()
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8')
    // The session writes nothing where a TCP stream's header would go on some framings.
    if (text === '') return callback()
    if (this.ws.readyState !== this.ws.OPEN) {
      // Closing (a close frame came or went; 'close' waits for TCP's end): what the session still writes reaches no
      // one, and is reported as undelivered (C2sSession stores messages offline or returns them) rather than dropped.
      this.emit('undelivered', [text])
      return callback()
    }

    this.ws.send(text, {binary: false}, (error) => callback(error ?? null))
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.ws.close(1000)
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.terminate()
    callback(error)
  }

  /** As net.Socket's: so that code written for sockets (the session's close) can call them. */
  setNoDelay(): this {
    return this
  }
}

export interface WebSocketSettings {
  /** Origins allowed to connect; empty: any (ejabberd's `websocket_origin: ignore`). */
  origins: () => readonly string[]
  maxPayload: number
  accept(socket: MessageSocket, request: IncomingMessage): void
  refused(request: IncomingMessage, reason: string): void
}

/** Handles the upgrade requests of one path. */
export function webSocketHandler(settings: WebSocketSettings): (request: IncomingMessage, socket: net.Socket, head: Buffer) => void {
  const server = new WebSocketServer({
    noServer: true,
    maxPayload: settings.maxPayload,
    perMessageDeflate: false,
    // RFC 7395 §3.1: the server answers with the `xmpp` subprotocol, and only it.
    handleProtocols: (protocols) => (protocols.has(XMPP_SUBPROTOCOL) ? XMPP_SUBPROTOCOL : false),
    verifyClient: (info, callback) => {
      const origins = settings.origins()
      const protocols = String(info.req.headers['sec-websocket-protocol'] ?? '').split(',').map((protocol) => protocol.trim())
      if (!protocols.includes(XMPP_SUBPROTOCOL)) {
        settings.refused(info.req, 'no xmpp subprotocol')
        return callback(false, 400, 'ask for the xmpp subprotocol (RFC 7395 §3.1)')
      }

      // A page from another site must not open sessions in its visitor's name when the operator limits origins.
      if (origins.length > 0 && !origins.includes(info.origin)) {
        settings.refused(info.req, `origin ${info.origin || '(none)'} not in websocket_origin`)
        return callback(false, 403, 'origin not allowed')
      }

      callback(true)
    },
  })
  return (request, socket, head) => {
    server.handleUpgrade(request, socket, head, (ws) => settings.accept(new MessageSocket(ws, socket.remoteAddress ?? 'unknown'), request))
  }
}
