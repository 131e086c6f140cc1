import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { silentLogger } from '../../lib/index.js'
import { createMemoryLimitStore } from '../../state/index.js'
import type { ConcurrencyLimiter } from '../../state/ports.js'
import { ConnectionCaps, type ConnectionRefusal } from './connection-caps.js'
import { DEFAULT_LIMITS } from '../../../test/support/listener-kit.js'

const PORT_KEY = 8080
const TIMEOUT_MS = 3000

/** One "replica": a server whose caps share `limiter`; admitted sockets get 'hello' written. */
async function startReplica(
  limiter: ConcurrencyLimiter | undefined,
  refused: ConnectionRefusal[],
  seen: string[],
): Promise<{ server: Server; port: number }> {
  const caps = new ConnectionCaps(
    'listener',
    { ...DEFAULT_LIMITS, maxConnections: 3, maxConnectionsPerClient: 2 },
    { log: silentLogger, onRefused: (_, reason) => refused.push(reason) },
    limiter !== undefined ? { limiter, leaseTtlMs: 5000, port: PORT_KEY } : undefined,
  )
  const server = createServer((socket) => {
    if (!caps.admit(socket)) return
    const next = (s: Socket) => {
      s.on('data', (chunk: Buffer) => seen.push(chunk.toString()))
      s.write('hello')
    }
    if (caps.isShared) caps.admitShared(socket, next)
    else next(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as AddressInfo).port }
}

/** 'admitted' when the greeting arrives, 'closed' when the socket closes without it. */
function open(port: number, localAddress: string, sockets: Socket[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress })
    sockets.push(socket)
    const timer = setTimeout(() => reject(new Error('no greeting and no close')), TIMEOUT_MS)
    socket.write('early')
    socket.on('error', () => undefined)
    socket.once('data', () => {
      clearTimeout(timer)
      resolve('admitted')
    })
    socket.once('close', () => {
      clearTimeout(timer)
      resolve('closed')
    })
  })
}

describe('ConnectionCaps with a shared limiter', () => {
  test('caps hold across two servers sharing one store; a close frees the place', async (t) => {
    const store = createMemoryLimitStore()
    const refused: ConnectionRefusal[] = []
    const seen: string[] = []
    const a = await startReplica(store.concurrency, refused, seen)
    const b = await startReplica(store.concurrency, refused, seen)
    const sockets: Socket[] = []
    t.after(async () => {
      for (const s of sockets) s.destroy()
      a.server.close()
      b.server.close()
      await store.close()
    })

    assert.equal(await open(a.port, '127.0.0.1', sockets), 'admitted')
    assert.equal(await open(a.port, '127.0.0.1', sockets), 'admitted')
    // Per client across both servers: each alone would have room.
    assert.equal(await open(b.port, '127.0.0.1', sockets), 'closed')
    assert.equal(await open(b.port, '127.0.0.2', sockets), 'admitted')
    // In total across both servers.
    assert.equal(await open(b.port, '127.0.0.3', sockets), 'closed')
    assert.deepEqual(refused, ['max_connections_per_client', 'max_connections'])
    // What an admitted client sent before its leases were granted is not lost.
    assert.ok(seen.includes('early'))

    sockets[0]!.destroy()
    let outcome = 'closed'
    for (let i = 0; i < 50 && outcome === 'closed'; i++) {
      await sleep(20)
      outcome = await open(b.port, '127.0.0.1', sockets)
    }
    assert.equal(outcome, 'admitted')
    assert.equal(await store.concurrency.count(`dcip:${PORT_KEY}:127.0.0.1`), 2)
  })

  test('without a shared limiter each server counts alone', async (t) => {
    const refused: ConnectionRefusal[] = []
    const a = await startReplica(undefined, refused, [])
    const b = await startReplica(undefined, refused, [])
    const sockets: Socket[] = []
    t.after(() => {
      for (const s of sockets) s.destroy()
      a.server.close()
      b.server.close()
    })
    assert.equal(await open(a.port, '127.0.0.1', sockets), 'admitted')
    assert.equal(await open(a.port, '127.0.0.1', sockets), 'admitted')
    assert.equal(await open(b.port, '127.0.0.1', sockets), 'admitted')
    assert.deepEqual(refused, [])
  })
})
