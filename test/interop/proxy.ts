/**
 * A loopback TCP proxy a real client connects through, so that a test can
 * cut its connection the way a network does: abruptly, with no closing
 * stream, and while the cut lasts, reconnections wait.
 */
import net from 'node:net'

/** How a cut looks to the server: `both` closes its side too (it notices), `client` leaves it open and swallows what it writes (it does not). */
export type CutMode = 'both' | 'client'

export interface CuttableProxy {
  port: number
  /** Connections made through the proxy so far. */
  readonly accepted: number
  /** Cuts every open connection; new ones are held, unconnected, until release(). */
  cut(mode: CutMode): void
  /** Connects the held connections (and later ones) to the server. */
  release(): void
}

/** A proxy on 127.0.0.1 (a free port) to `targetPort`; closed with every connection when the test ends. */
export async function startProxy(t: {after(fn: () => unknown): void}, targetPort: number): Promise<CuttableProxy> {
  const open = new Set<{client: net.Socket; upstream: net.Socket}>()
  const held: net.Socket[] = []
  const sockets = new Set<net.Socket>()
  let holding = false
  let accepted = 0

  const track = (socket: net.Socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  }

  const forward = (client: net.Socket) => {
    const upstream = net.connect({port: targetPort, host: '127.0.0.1'})
    track(upstream)
    const pair = {client, upstream}
    open.add(pair)
    client.pipe(upstream)
    upstream.pipe(client)
    const close = () => {
      if (!open.delete(pair)) return
      client.destroy()
      upstream.destroy()
    }

    client.on('close', close)
    upstream.on('close', close)
    client.resume()
  }

  const server = net.createServer({pauseOnConnect: true}, (client) => {
    accepted++
    track(client)
    if (holding) held.push(client)
    else forward(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })

  return {
    port: (server.address() as net.AddressInfo).port,
    get accepted() {
      return accepted
    },
    cut(mode) {
      holding = true
      for (const pair of [...open]) {
        open.delete(pair)
        pair.client.unpipe(pair.upstream)
        pair.upstream.unpipe(pair.client)
        // A reset, not a FIN: the client learns of the loss as from a dead network.
        pair.client.resetAndDestroy()
        if (mode === 'both') pair.upstream.resetAndDestroy()
        // The server goes on writing into the void, as to a peer that vanished.
        else pair.upstream.on('data', () => {}).resume()
      }
    },
    release() {
      holding = false
      for (const client of held.splice(0)) forward(client)
    },
  }
}
