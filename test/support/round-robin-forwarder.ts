/**
 * A round-robin TCP forwarder for tests: listens on one loopback port and hands each accepted
 * connection to the next backend in turn, byte for byte (no parsing, so HTTP and TLS pass
 * alike). Put in front of several gateways on an ACME server's validation port, it makes the
 * CA's requests land on replicas that did not place the order.
 *
 * A test can `hold()` new connections (they wait, unanswered) and `release(next)` them starting
 * at a chosen backend, to pick deterministically which replica the CA's request reaches, and
 * `remove()` a backend it killed, as a load balancer's health check would.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'

export interface RoundRobinForwarder {
  readonly port: number
  /** Connections handed to each backend, in backend order. */
  readonly counts: readonly number[]
  /** Every forwarded connection: its backend and the first line the client sent. */
  readonly log: readonly { readonly backend: number; readonly head: string }[]
  hold(): void
  /** Forwards the held connections and every later one, the first to backend `next`. */
  release(next?: number): void
  remove(index: number): void
  close(): Promise<void>
}

export async function startRoundRobinForwarder(
  backends: readonly number[],
  port = 0,
): Promise<RoundRobinForwarder> {
  const counts = backends.map(() => 0)
  const removed = new Set<number>()
  const sockets = new Set<Socket>()
  const held: Socket[] = []
  const log: { backend: number; head: string }[] = []
  let holding = false
  let next = 0

  function forward(client: Socket): void {
    if (client.destroyed) return
    let i = next++ % backends.length
    for (let n = 0; removed.has(i) && n < backends.length; n++) i = next++ % backends.length
    counts[i]!++
    const entry = { backend: i, head: '' }
    log.push(entry)
    client.once('data', (c: Buffer) => (entry.head = c.toString('latin1').split('\r\n')[0] ?? ''))
    const upstream = connect({ host: '127.0.0.1', port: backends[i]! })
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    // Either side failing ends both: a dead replica looks like a reset, as behind a real one.
    for (const s of [client, upstream]) {
      s.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  }

  const server = createServer((client) => {
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => client.destroy())
    if (holding) {
      client.pause()
      held.push(client)
    } else forward(client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    log,
    hold: () => void (holding = true),
    release(start) {
      holding = false
      if (start !== undefined) next = start
      for (const c of held.splice(0)) {
        forward(c)
        c.resume()
      }
    },
    remove: (index) => void removed.add(index),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
