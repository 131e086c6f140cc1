// Three gateway processes sharing one real redis-server: a RateLimitPolicy of 100 per minute
// admits exactly the documented GCRA bound, L + floor(W / T), of 1 000 requests spread over
// the replicas, on every repetition.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, request } from 'undici'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'

const LIMIT = 100
const PERIOD_MS = 60_000
const T_MS = PERIOD_MS / LIMIT
const REPLICAS = 3
const REQUESTS = 1_000
const CONCURRENCY = 60
const REPEATS = 10

function configFor(httpPort: number, readinessPort: number, redisUrl: string): string {
  return `${gatewayConfigDoc({
    readinessPort,
    accessLog: false,
    extraSpec: [
      '  redis:',
      `    url: ${redisUrl}`,
      '    commandTimeout: 2s',
      '    expectedReplicas: 3',
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
metadata: {name: api, namespace: default}
spec:
  targetRefs: [{kind: Gateway, name: web}]
  rules:
  - by: ['header:x-run']
    limit: {requests: ${LIMIT}, unit: minute}
`
}

describe('rate limits shared by 3 replicas through Redis', () => {
  let redis: RedisServer
  const gateways: GatewayProcess[] = []
  const urls: string[] = []
  const agent = new Agent({ connections: CONCURRENCY })

  before(async () => {
    redis = await startRedisServer()
    for (let i = 0; i < REPLICAS; i++) {
      const [httpPort, readinessPort] = await freePorts(2)
      const gw = await startGateway({ yaml: configFor(httpPort!, readinessPort!, redis.url) })
      gateways.push(gw)
      urls.push(`http://127.0.0.1:${httpPort}/`)
    }
  })
  after(async () => {
    await agent.close()
    for (const gw of gateways) await gw.cleanup()
    await redis?.stop()
  })

  test('100/minute, 1 000 requests round-robin, 10 repetitions: admitted = L + floor(W / T)', async () => {
    for (let run = 0; run < REPEATS; run++) {
      let next = 0
      let admitted = 0
      let limited = 0
      let other = 0
      const started = performance.now()
      const worker = async () => {
        while (next < REQUESTS) {
          const i = next++
          const res = await request(urls[i % REPLICAS]!, {
            dispatcher: agent,
            headers: { 'x-run': `run-${run}` },
          })
          await res.body.dump()
          if (res.statusCode === 200) admitted++
          else if (res.statusCode === 429) limited++
          else other++
        }
      }
      await Promise.all(Array.from({ length: CONCURRENCY }, worker))
      const elapsedMs = performance.now() - started
      const bound = LIMIT + Math.floor(elapsedMs / T_MS)
      assert.equal(other, 0, `run ${run}: only 200 and 429`)
      assert.equal(admitted + limited, REQUESTS)
      // The burst is admitted in full, and never more than the bound over the run's window.
      assert.ok(admitted >= LIMIT, `run ${run}: admitted ${admitted} < ${LIMIT}`)
      assert.ok(admitted <= bound, `run ${run}: admitted ${admitted} > bound ${bound}`)
    }
  })
})
