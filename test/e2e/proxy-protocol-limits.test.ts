// A `by: [clientIp]` rate limit behind a load balancer that sends PROXY protocol, on two replicas
// sharing one real redis-server: every connection comes from the balancer's address, yet each
// client carried in the header gets its own budget, counted across both replicas.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'
import { exchange, get, v1Header, v2Header } from './proxy-kit.js'

const LIMIT = 5
const REQUESTS_PER_CLIENT = 12

function configFor(httpPort: number, readinessPort: number, redisUrl: string): string {
  return `${gatewayConfigDoc({
    readinessPort,
    accessLog: false,
    extraSpec: [
      '  gatewayTopology:',
      '    proxyProtocol:',
      '      trustedCidrs: [127.0.0.1/32]',
      '  redis:',
      `    url: ${redisUrl}`,
      '    commandTimeout: 2s',
      '    expectedReplicas: 2',
    ],
  })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  servers: [{port: {number: ${httpPort}, name: http, protocol: HTTP}, hosts: ['*']}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: ['*']
  gateways: [web]
  http: [{name: all, directResponse: {status: 200}}]
---
apiVersion: portcullis.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: per-client, namespace: default}
spec:
  targetRefs: [{kind: Gateway, name: web}]
  rules:
  - by: [clientIp]
    limit: {requests: ${LIMIT}, unit: hour}
`
}

describe('clientIp rate limit keyed by the PROXY address across 2 replicas', () => {
  let redis: RedisServer
  const gateways: GatewayProcess[] = []
  const ports: number[] = []

  before(async () => {
    redis = await startRedisServer()
    for (let i = 0; i < 2; i++) {
      const [httpPort, readinessPort] = await freePorts(2)
      gateways.push(await startGateway({ yaml: configFor(httpPort!, readinessPort!, redis.url) }))
      ports.push(httpPort!)
    }
  })
  after(async () => {
    for (const gw of gateways) await gw.cleanup()
    await redis?.stop()
  })

  test('each carried client gets exactly the limit, whichever replica its requests reach', async () => {
    const clients = ['203.0.113.10', '203.0.113.11', '2001:db8::12']
    for (const [c, client] of clients.entries()) {
      const statuses: (number | undefined)[] = []
      for (let i = 0; i < REQUESTS_PER_CLIENT; i++) {
        const addresses = {
          source: client,
          sourcePort: 10_000 + i,
          destination: client.includes(':') ? '2001:db8::1' : '198.51.100.1',
          destinationPort: 80,
        }
        // Alternate replicas and header versions: the key is the address, not how it came.
        const r = await exchange({
          port: ports[i % 2]!,
          localAddress: '127.0.0.1',
          prefix: (i + c) % 2 === 0 ? v1Header(addresses) : v2Header(addresses),
          request: get(`/c${c}/${i}`),
        })
        statuses.push(r.status)
      }
      assert.deepEqual(
        statuses,
        [
          ...Array<number>(LIMIT).fill(200),
          ...Array<number>(REQUESTS_PER_CLIENT - LIMIT).fill(429),
        ],
        client,
      )
    }
  })
})
