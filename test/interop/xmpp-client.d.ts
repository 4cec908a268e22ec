// The parts of @xmpp/client (which ships no types) that the interop tests use.
declare module '@xmpp/client' {
  export interface XmlElement {
    name: string
    attrs: Record<string, string | undefined>
    is(name: string, xmlns?: string): boolean
    getChild(name: string, xmlns?: string): XmlElement | undefined
    getChildText(name: string, xmlns?: string): string | null
    text(): string
    toString(): string
  }

  export interface XmppClient {
    start(): Promise<{toString(): string}>
    stop(): Promise<void>
    send(element: XmlElement): Promise<void>
    on(event: string, listener: (...args: never[]) => void): void
    reconnect: {stop(): void}
    iqCaller: {request(element: XmlElement, timeout?: number): Promise<XmlElement>}
  }

  export function client(options: Record<string, unknown>): XmppClient
  export function xml(name: string, attrs?: Record<string, string | undefined>, ...children: Array<XmlElement | string>): XmlElement
}
