// Three gateway processes sharing one real redis-server: DestinationRule
// `connectionPool.tcp.maxConnections: 5` is a limit across all of them. The upstream counts
// the requests it has in flight (requests, not sockets: the gateways' pools may keep idle
// connections open and reuse them, and an HTTP/1.1 connection carries one request at a time,
// so requests in flight are the connections in use).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  proxyRouteDocs,
  startGateway,
  type GatewayProcess,
} from './harness/index.js'

const MAX_CONNECTIONS = 5
const REPLICAS = 3
const CLIENTS = 30
const HOLD_MS = 300
const LEASE_TTL_MS = 1500

/** An upstream that counts requests in flight; `/hold` waits until releaseHeld(). */
interface CountingUpstream {
  readonly port: number
  readonly inFlight: number
  readonly peak: number
  resetPeak(): void
  releaseHeld(): void
  close(): Promise<void>
}

async function startCountingUpstream(): Promise<CountingUpstream> {
  let inFlight = 0
  let peak = 0
  let held: (() => void)[] = []
  const server: Server = createServer((req, res) => {
    inFlight++
    peak = Math.max(peak, inFlight)
    res.once('close', () => inFlight--)
    const answer = () => res.end('ok')
    if (req.url === '/hold') held.push(answer)
    else setTimeout(answer, HOLD_MS)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    get inFlight() {
      return inFlight
    },
    get peak() {
      return peak
    },
    resetPeak: () => void (peak = inFlight),
    releaseHeld() {
      const all = held
      held = []
      for (const answer of all) answer()
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function configFor(httpPort: number, readinessPort: number, redisUrl: string, upstream: number) {
  return joinDocs(
    gatewayConfigDoc({
      readinessPort,
      accessLog: false,
      extraSpec: [
        '  redis:',
        `    url: ${redisUrl}`,
        '    commandTimeout: 2s',
        '    expectedReplicas: 3',
        `    leaseTtl: ${LEASE_TTL_MS}ms`,
      ],
    }),
    proxyRouteDocs({ gatewayPort: httpPort, upstreamPort: upstream }),
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo-pool}
spec:
  host: echo.upstream.test
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: ${MAX_CONNECTIONS}}
`,
  )
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (check()) return true
    await sleep(10)
  }
  return check()
}

describe('DestinationRule connection-pool limits shared by 3 replicas through Redis', () => {
  let redis: RedisServer
  let upstream: CountingUpstream
  const gateways: GatewayProcess[] = []
  const urls: string[] = []
  const agent = new Agent({ connections: CLIENTS })

  before(async () => {
    redis = await startRedisServer()
    upstream = await startCountingUpstream()
    for (let i = 0; i < REPLICAS; i++) {
      const [httpPort, readinessPort] = await freePorts(2)
      const yaml = configFor(httpPort!, readinessPort!, redis.url, upstream.port)
      gateways.push(await startGateway({ yaml }))
      urls.push(`http://127.0.0.1:${httpPort}`)
    }
  })
  after(async () => {
    upstream?.releaseHeld()
    await agent.close()
    for (const gw of gateways) await gw.cleanup()
    await upstream?.close()
    await redis?.stop()
  })

  async function get(replica: number, path: string): Promise<number> {
    const res = await request(`${urls[replica]}${path}`, { dispatcher: agent })
    await res.body.dump()
    return res.statusCode
  }

  test('maxConnections 5, 30 slow concurrent clients over 3 replicas: never more than 5 at the upstream', async () => {
    upstream.resetPeak()
    const statuses = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) => get(i % REPLICAS, '/slow')),
    )
    // Beyond the limit requests wait as pending (Istio's default pending limit is unbounded).
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
    )
    // Per process (Envoy's model) the upstream would see up to 15 at once.
    assert.ok(upstream.peak <= MAX_CONNECTIONS, `peak ${upstream.peak} > ${MAX_CONNECTIONS}`)
    assert.equal(upstream.peak, MAX_CONNECTIONS, 'the shared limit is reached, not undercut')
  })

  test('SIGKILL of a replica holding every slot: capacity is back within the lease TTL', async () => {
    const holding = Array.from({ length: MAX_CONNECTIONS }, () => get(0, '/hold').catch(() => 0))
    assert.ok(await until(() => upstream.inFlight === MAX_CONNECTIONS, 10_000), 'slots taken')
    const waiting = [get(1, '/hold'), get(2, '/hold'), get(1, '/hold')]
    await sleep(300)
    assert.equal(upstream.inFlight, MAX_CONNECTIONS, 'the other replicas wait for a slot')

    await gateways[0]!.kill()
    const killedAt = Date.now()
    // The dead replica's leases are not renewed; they expire after the TTL.
    assert.ok(
      await until(() => upstream.inFlight === waiting.length, LEASE_TTL_MS + 3000),
      `waiting requests reached the upstream (in flight: ${upstream.inFlight})`,
    )
    const elapsed = Date.now() - killedAt
    assert.ok(elapsed <= LEASE_TTL_MS + 3000, `capacity back after ${elapsed} ms`)
    upstream.releaseHeld()
    assert.deepEqual(await Promise.all(waiting), [200, 200, 200])
    await Promise.all(holding)
  })
})
