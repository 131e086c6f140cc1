// A gateway process counting rate limits in a real redis-server that is SIGKILLed mid-run and
// started again (empty, same port): fail-open routes keep serving with bounded added latency,
// fail-closed routes answer 500 RLSE, and after Redis is back counting resumes there, with
// nothing decided during the outage replayed into it.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { Agent, request } from 'undici'
import { REDIS_CLI_BIN, startRedisServer, type RedisServer } from '../support/redis-server.js'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'

const LIMIT = 1000
const COMMAND_TIMEOUT_MS = 500
/** Scheduling noise on a shared machine, on top of the command timeout. */
const LATENCY_SLACK_MS = 1000
const OUTAGE_REQUESTS = 40
/** Probe backoff caps at 5 s; a reconnect also triggers a probe at once. */
const RECOVERY_TIMEOUT_MS = 12_000

function configFor(httpPort: number, readinessPort: number, redisUrl: string): string {
  return `${gatewayConfigDoc({
    readinessPort,
    accessLog: false,
    extraSpec: ['  redis:', `    url: ${redisUrl}`, `    commandTimeout: ${COMMAND_TIMEOUT_MS}ms`],
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
  http:
  - {name: open, match: [{uri: {prefix: /open}}], directResponse: {status: 200}}
  - {name: closed, match: [{uri: {prefix: /closed}}], directResponse: {status: 200}}
---
apiVersion: portcullis.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: open, namespace: default}
spec:
  targetRefs: [{kind: VirtualService, name: app, sectionName: open}]
  rules: [{by: ['header:x-run'], limit: {requests: ${LIMIT}, unit: hour}}]
  failureMode: open
---
apiVersion: portcullis.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: closed, namespace: default}
spec:
  targetRefs: [{kind: VirtualService, name: app, sectionName: closed}]
  rules: [{by: ['header:x-run'], limit: {requests: ${LIMIT}, unit: hour}}]
  failureMode: closed
`
}

interface Answer {
  readonly status: number
  readonly remaining: number | undefined
  readonly ms: number
}

describe('Redis SIGKILLed under a running gateway', () => {
  let redis: RedisServer
  let gateway: GatewayProcess
  let base = ''
  const agent = new Agent({ connections: 8 })

  before(async () => {
    redis = await startRedisServer()
    const [httpPort, readinessPort] = await freePorts(2)
    gateway = await startGateway({ yaml: configFor(httpPort!, readinessPort!, redis.url) })
    base = `http://127.0.0.1:${httpPort}`
  })
  after(async () => {
    await agent.close()
    await gateway?.cleanup()
    await redis?.stop()
  })

  async function get(path: string, run: string): Promise<Answer> {
    const started = performance.now()
    const res = await request(`${base}${path}`, {
      dispatcher: agent,
      headers: { 'x-run': run },
    })
    await res.body.dump()
    const remaining = res.headers['ratelimit-remaining']
    return {
      status: res.statusCode,
      remaining: typeof remaining === 'string' ? Number(remaining) : undefined,
      ms: performance.now() - started,
    }
  }

  async function rateKeysInRedis(): Promise<string[]> {
    const { stdout } = await promisify(execFile)(
      REDIS_CLI_BIN,
      ['-p', String(redis.port), '--scan', '--pattern', '*rate:*'],
      { timeout: 5000 },
    )
    return stdout.split('\n').filter((l) => l !== '')
  }

  test('fail-open serves, fail-closed answers 500 RLSE, counting resumes without replay', async () => {
    // Healthy: both routes are counted in Redis.
    assert.equal((await get('/open', 'before')).status, 200)
    assert.equal((await get('/closed', 'before')).status, 200)
    assert.equal((await rateKeysInRedis()).length, 2)

    await redis.kill('SIGKILL')
    const open: Answer[] = []
    const closed: Answer[] = []
    for (let i = 0; i < OUTAGE_REQUESTS; i++) {
      open.push(await get('/open', 'outage'))
      closed.push(await get('/closed', 'outage'))
    }
    assert.deepEqual(
      open.filter((a) => a.status !== 200),
      [],
      'fail-open: every request served',
    )
    // Decided locally, still with the limit's headers.
    assert.ok(open.every((a) => a.remaining !== undefined))
    assert.deepEqual(
      closed.filter((a) => a.status !== 500),
      [],
      'fail-closed: 500 (RLSE) for every request',
    )
    const slowest = Math.max(...open.map((a) => a.ms), ...closed.map((a) => a.ms))
    assert.ok(
      slowest <= COMMAND_TIMEOUT_MS + LATENCY_SLACK_MS,
      `a request waited ${Math.round(slowest)} ms for a dead Redis`,
    )

    // Redis back on the same port, empty. The fail-closed route is the witness: it answers 200
    // again only once decisions go to Redis.
    await redis.restart()
    const deadline = Date.now() + RECOVERY_TIMEOUT_MS
    let recovered = false
    while (!recovered && Date.now() < deadline) {
      recovered = (await get('/closed', 'probe')).status === 200
      if (!recovered) await sleep(100)
    }
    assert.ok(recovered, `counting back in Redis within ${RECOVERY_TIMEOUT_MS} ms`)

    // The key counted during the outage starts fresh in Redis: the outage's decisions were
    // not replayed into it (they would show as a lower remaining count).
    const after = [await get('/open', 'outage'), await get('/open', 'outage')]
    assert.deepEqual(
      after.map((a) => a.status),
      [200, 200],
    )
    assert.ok(
      after[1]!.remaining! >= LIMIT - after.length,
      `remaining ${after[1]!.remaining} after ${after.length} requests: outage replayed`,
    )
    const keys = await rateKeysInRedis()
    assert.ok(
      keys.some((k) => k.includes('outage')),
      `the key is counted in Redis again: ${keys.join(', ')}`,
    )
  })
})
