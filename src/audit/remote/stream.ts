/**
 * The client side of an XMPP stream, as far as an audit needs it (RFC 6120
 * §4–§6): open a stream, read the features, ask for STARTTLS. It never
 * authenticates. The parser is the server's own, which refuses DTDs and
 * entities, so a hostile server cannot blow up the client either.
 */
import net from 'node:net'

import {XmppStreamParser} from '../../xml/parser.js'
import type {Element} from '../../xml/element.js'

export const NS = {
  stream: 'http://etherx.jabber.org/streams',
  tls: 'urn:ietf:params:xml:ns:xmpp-tls',
  sasl: 'urn:ietf:params:xml:ns:xmpp-sasl',
  /** XEP-0440 SASL Channel-Binding Type Capability. */
  saslChannelBinding: 'urn:xmpp:sasl-cb:0',
} as const

/** Something went wrong before TLS could be judged: the network or the XMPP exchange. */
export class ProbeError extends Error {}

export interface Features {
  starttls: {offered: boolean; required: boolean}
  mechanisms: string[]
  /** XEP-0440 announcement: null when absent. */
  channelBindings: string[] | null
}

export function readFeatures(features: Element): Features {
  const starttls = features.getChild('starttls', NS.tls)
  const mechanisms = features.getChild('mechanisms', NS.sasl)
  const cb = features.getChild('sasl-channel-binding', NS.saslChannelBinding)
  return {
    starttls: {offered: Boolean(starttls), required: Boolean(starttls?.getChild('required', NS.tls))},
    mechanisms: mechanisms ? mechanisms.getChildren('mechanism', NS.sasl).map((mechanism) => mechanism.text().trim()).filter(Boolean) : [],
    channelBindings: cb ? cb.getChildren('channel-binding', NS.saslChannelBinding).map((entry) => entry.attr('type') ?? '').filter(Boolean) : null,
  }
}

export function connectTcp(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({host, port})
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new ProbeError(`no TCP connection to ${host}:${port} within ${timeoutMs / 1000} s`))
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.removeAllListeners('error')
      resolve(socket)
    })
    socket.once('error', (error: Error & {code?: string}) => {
      clearTimeout(timer)
      reject(new ProbeError(`cannot connect to ${host}:${port}: ${error.code ?? error.message}`))
    })
  })
}

/** One XMPP stream over `socket` (plain or TLS). */
export class ProbeStream {
  private parser = new XmppStreamParser({maxStanzaBytes: 1024 * 1024})
  private queue: Element[] = []
  private started = false
  private ended: string | undefined
  private wake: (() => void) | undefined
  private readonly onData = (chunk: Buffer) => this.feed(chunk)
  private readonly onClose = () => this.stop('the server closed the connection')
  private readonly onError = (error: Error) => this.stop(`connection error: ${error.message}`)

  constructor(
    readonly socket: net.Socket,
    readonly domain: string,
    readonly timeoutMs: number,
    /** s2s: a server-to-server stream (jabber:server), as a peer without a domain of its own opens it. */
    readonly service: 'c2s' | 's2s' = 'c2s',
  ) {
    socket.on('data', this.onData)
    socket.on('close', this.onClose)
    socket.on('error', this.onError)
  }

  private stop(reason: string): void {
    this.ended ??= reason
    this.wake?.()
  }

  private feed(chunk: Buffer): void {
    for (const event of this.parser.write(chunk)) {
      if (event.type === 'stream-start') this.started = true
      else if (event.type === 'stanza') this.queue.push(event.element)
      else if (event.type === 'stream-end') this.stop('the server closed the stream')
      else this.stop(`the server sent bad XML: ${event.text}`)
    }

    this.wake?.()
  }

  /** The next top-level element; a stream error becomes a ProbeError naming its condition. */
  private async next(what: string): Promise<Element> {
    const deadline = Date.now() + this.timeoutMs
    for (;;) {
      const element = this.queue.shift()
      if (element) {
        if (element.name === 'error' && element.ns === NS.stream) {
          const condition = element.elements()[0]?.name ?? 'undefined-condition'
          const text = element.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-streams')
          throw new ProbeError(`the server sent stream error ${condition}${text ? ` (${text})` : ''} while we waited for ${what}`)
        }

        return element
      }

      if (this.ended) throw new ProbeError(`${this.ended} while we waited for ${what}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new ProbeError(`no ${what} within ${this.timeoutMs / 1000} s`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.wake = undefined
    }
  }

  /** Sends the stream header and returns the features. */
  async open(): Promise<Features> {
    this.socket.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:${this.service === 's2s' ? 'server' : 'client'}' xmlns:stream='${NS.stream}' to='${this.domain.replace(/[<>&'"]/g, '')}' version='1.0' xml:lang='en'>`)
    const features = await this.next('stream features')
    if (!this.started) throw new ProbeError('the server sent no stream header')
    if (features.name !== 'features' || features.ns !== NS.stream) throw new ProbeError(`the server sent <${features.name}/> instead of stream features`)
    return readFeatures(features)
  }

  /** Asks for TLS; on `<proceed/>` hands back the bare socket, detached, for the TLS handshake. */
  async startTls(): Promise<net.Socket> {
    this.socket.write(`<starttls xmlns='${NS.tls}'/>`)
    const answer = await this.next('the STARTTLS answer')
    if (answer.ns === NS.tls && answer.name === 'failure') throw new ProbeError('the server refused STARTTLS (<failure/>)')
    if (answer.ns !== NS.tls || answer.name !== 'proceed') throw new ProbeError(`the server answered STARTTLS with <${answer.name}/>`)
    this.detach()
    return this.socket
  }

  detach(): void {
    this.socket.off('data', this.onData)
    this.socket.off('close', this.onClose)
    this.socket.off('error', this.onError)
  }

  close(): void {
    this.detach()
    this.socket.on('error', () => {})
    if (!this.socket.destroyed) {
      this.socket.end('</stream:stream>')
      this.socket.destroy()
    }
  }
}
