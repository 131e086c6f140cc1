// A gateway process counting rate limits in Redis found through Sentinel (master, replica,
// sentinel: real redis-server processes). The master is SIGKILLed: while Sentinel fails over, the
// fail-open routes keep answering within a bounded time and the process stays up; once the
// replica is promoted, counting resumes on it, exactly to the limit again.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { access, constants } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { Agent, request } from 'undici'
import {
  REDIS_SERVER_BIN,
  inlineCommand,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'

const MASTER_NAME = 'limits'
const SMALL_LIMIT = 5
const LARGE_LIMIT = 100_000
const COMMAND_TIMEOUT_MS = 200
/** Scheduling noise on a shared machine, on top of the command timeout. */
const LATENCY_SLACK_MS = 1000
/** Sentinel: down after 1 s, then an election and the promotion. */
const PROMOTION_TIMEOUT_MS = 15_000
/** Probe backoff caps at 5 s; the reconnect to the new master also triggers a probe. */
const RESUME_TIMEOUT_MS = 15_000
const TOPOLOGY_TIMEOUT_MS = 15_000

function configFor(ports: { http: number; readiness: number; metrics: number }, sentinel: number) {
  return `${gatewayConfigDoc({
    readinessPort: ports.readiness,
    metricsPort: ports.metrics,
    accessLog: false,
    extraSpec: [
      '  redis:',
      `    sentinels: [{host: 127.0.0.1, port: ${sentinel}}]`,
      `    name: ${MASTER_NAME}`,
      `    commandTimeout: ${COMMAND_TIMEOUT_MS}ms`,
    ],
  })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  servers: [{port: {number: ${ports.http}, name: http, protocol: HTTP}, hosts: ['*']}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: ['*']
  gateways: [web]
  http:
  - {name: large, match: [{uri: {prefix: /large}}], directResponse: {status: 200}}
  - {name: small, match: [{uri: {prefix: /small}}], directResponse: {status: 200}}
---
apiVersion: portcullis.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: large, namespace: default}
spec:
  targetRefs: [{kind: VirtualService, name: app, sectionName: large}]
  rules: [{by: ['header:x-run'], limit: {requests: ${LARGE_LIMIT}, unit: hour}}]
  failureMode: open
---
apiVersion: portcullis.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: small, namespace: default}
spec:
  targetRefs: [{kind: VirtualService, name: app, sectionName: small}]
  rules: [{by: ['header:x-run'], limit: {requests: ${SMALL_LIMIT}, unit: hour}}]
  failureMode: open
`
}

/** The Redis key the small route counts `x-run: <run>` in (default key prefix). */
function smallKey(run: string): string {
  return `portcullis:rate:rl:default/small:0:${run}`
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`)
    await sleep(50)
  }
}

/**
 * A master, its replica and one Sentinel monitoring them (quorum 1, down after 1 s); each started
 * server is pushed to `servers` at once, so a failure half-way still stops what was started.
 */
async function startSentinelTopology(servers: RedisServer[]) {
  // Checked first: a missing binary would surface as an unhandled spawn error instead.
  await access(REDIS_SERVER_BIN, constants.X_OK)
  // Without the delay the master waits 5 s for more replicas before the first sync.
  const master = await startRedisServer({ args: ['--repl-diskless-sync-delay', '0'] })
  servers.push(master)
  const replica = await startRedisServer({
    args: ['--replicaof', '127.0.0.1', String(master.port)],
  })
  servers.push(replica)
  await waitFor(
    'replication link up',
    async () => (await inlineCommand(replica.port, 'INFO replication')).includes('link_status:up'),
    TOPOLOGY_TIMEOUT_MS,
  )
  const sentinel = await startRedisServer({
    sentinelConfig: [
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
      `sentinel failover-timeout ${MASTER_NAME} 5000`,
      '',
    ].join('\n'),
  })
  servers.push(sentinel)
  await waitFor(
    'sentinel sees the replica',
    async () =>
      !(await inlineCommand(sentinel.port, `SENTINEL REPLICAS ${MASTER_NAME}`)).startsWith('*0'),
    TOPOLOGY_TIMEOUT_MS,
  )
  return { master, replica, sentinel }
}

interface Answer {
  readonly status: number
  readonly ms: number
}

describe('rate limits through Redis Sentinel, master SIGKILLed', () => {
  const servers: RedisServer[] = []
  let skipReason: string | undefined
  let master: RedisServer
  let replica: RedisServer
  let gateway: GatewayProcess | undefined
  let base = ''
  let metricsUrl = ''
  const agent = new Agent({ connections: 4, headersTimeout: 10_000, bodyTimeout: 10_000 })

  before(async () => {
    let sentinel: RedisServer
    try {
      ;({ master, replica, sentinel } = await startSentinelTopology(servers))
    } catch (err) {
      skipReason = `Redis Sentinel topology could not be started: ${(err as Error).message}`
      return
    }
    const [http, readiness, metrics] = await freePorts(3)
    gateway = await startGateway({
      yaml: configFor({ http: http!, readiness: readiness!, metrics: metrics! }, sentinel.port),
    })
    base = `http://127.0.0.1:${http}`
    metricsUrl = `http://127.0.0.1:${metrics}/stats/prometheus`
  })
  after(async () => {
    await agent.close()
    await gateway?.cleanup()
    await Promise.all(servers.map((s) => s.stop()))
  })

  async function get(path: string, run: string): Promise<Answer> {
    const started = performance.now()
    const res = await request(`${base}${path}`, { dispatcher: agent, headers: { 'x-run': run } })
    await res.body.dump()
    return { status: res.statusCode, ms: performance.now() - started }
  }

  /** Statuses of limit + 1 requests on the small route for one key. */
  async function burst(run: string): Promise<number[]> {
    const statuses: number[] = []
    for (let i = 0; i <= SMALL_LIMIT; i++) statuses.push((await get('/small', run)).status)
    return statuses
  }

  async function storeDegraded(): Promise<string | undefined> {
    const res = await request(metricsUrl, { dispatcher: agent })
    const text = await res.body.text()
    return /^portcullis_limit_store_degraded (\S+)$/m.exec(text)?.[1]
  }

  const exactlyTheLimit = [...Array<number>(SMALL_LIMIT).fill(200), 429]

  test('fail open during the failover, then counting resumes on the promoted replica', async (t) => {
    if (skipReason !== undefined) return t.skip(skipReason)
    const gw = gateway!
    const onMaster = new Redis(master.port, '127.0.0.1', { maxRetriesPerRequest: 0 })
    onMaster.on('error', () => {})
    t.after(() => onMaster.disconnect())

    // Healthy: counted in the master.
    assert.equal((await get('/large', 'before')).status, 200)
    assert.deepEqual(await burst('before'), exactlyTheLimit)
    assert.equal(await onMaster.exists(smallKey('before')), 1)
    assert.equal(await storeDegraded(), '0')
    onMaster.disconnect()
    // Replication is asynchronous: the count must have reached the replica before the kill.
    const onReplica = new Redis(replica.port, '127.0.0.1', { maxRetriesPerRequest: 0 })
    onReplica.on('error', () => {})
    t.after(() => onReplica.disconnect())
    await waitFor(
      'the count replicated',
      async () => (await onReplica.exists(smallKey('before'))) === 1,
      TOPOLOGY_TIMEOUT_MS,
    )

    await master.kill('SIGKILL')
    const answers: Answer[] = []
    const degradedSeen = new Set<string | undefined>()
    const isPromoted = async () =>
      (await inlineCommand(replica.port, 'INFO replication')).includes('role:master')
    const deadline = performance.now() + PROMOTION_TIMEOUT_MS
    while (!(await isPromoted())) {
      assert.ok(
        performance.now() < deadline,
        `replica not promoted within ${PROMOTION_TIMEOUT_MS} ms`,
      )
      answers.push(await get('/large', 'outage'))
      answers.push(await get('/small', `outage-${answers.length}`))
      degradedSeen.add(await storeDegraded())
      assert.equal(gw.proc.exitCode, null, 'the gateway is still running')
      await sleep(20)
    }

    // Decisions go to Redis again once the gateway follows Sentinel to the new master: a probe
    // key shows up there (until then probes are decided locally and never reach Redis).
    let probes = 0
    await waitFor(
      'counting resumes on the promoted replica',
      async () => {
        const run = `probe-${++probes}`
        answers.push(await get('/small', run))
        assert.equal(gw.proc.exitCode, null, 'the gateway is still running')
        return (await onReplica.exists(smallKey(run))) === 1
      },
      RESUME_TIMEOUT_MS,
    )

    assert.deepEqual(
      answers.filter((a) => a.status !== 200),
      [],
      'fail-open: every request during the failover served',
    )
    const slowest = Math.max(...answers.map((a) => a.ms))
    assert.ok(
      slowest <= COMMAND_TIMEOUT_MS + LATENCY_SLACK_MS,
      `a request waited ${Math.round(slowest)} ms during the failover`,
    )
    t.diagnostic(
      `${answers.length} requests during the failover, slowest ${Math.round(slowest)} ms`,
    )
    assert.ok(degradedSeen.has('1'), 'the store was reported degraded during the failover')

    // Counted on the new master: a fresh key admits exactly its limit, and lives there.
    assert.deepEqual(await burst('after'), exactlyTheLimit)
    assert.equal(await onReplica.exists(smallKey('after')), 1)
    // The key counted before the failover was replicated and still holds its count.
    assert.equal((await get('/small', 'before')).status, 429)
    assert.equal((await get('/large', 'after')).status, 200)
    assert.equal(await storeDegraded(), '0')
    assert.equal(gw.proc.exitCode, null)
    assert.equal(gw.proc.signalCode, null)
  })
})
