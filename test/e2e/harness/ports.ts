import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'

// A port the kernel just handed out on loopback. It is free when this resolves; a concurrent
// process could still take it before the caller binds, which is rare enough for tests.
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close((err) => (err ? reject(err) : resolve(port)))
    })
  })
}

// n distinct free ports. All listeners are held open until every port is known, so the kernel
// cannot hand out the same port twice within one call.
export async function freePorts(n: number): Promise<number[]> {
  if (!Number.isInteger(n) || n < 0 || n > 1000) throw new RangeError(`freePorts: bad count ${n}`)
  const servers = Array.from({ length: n }, () => createServer())
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.unref()
            server.once('error', reject)
            server.listen(0, '127.0.0.1', () => {
              resolve((server.address() as AddressInfo).port)
            })
          }),
      ),
    )
  } finally {
    await Promise.all(
      servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    )
  }
}
