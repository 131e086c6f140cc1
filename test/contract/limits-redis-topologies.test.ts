/**
 * Redis deployments besides a single server: the limit contract on a 3-master Redis Cluster, and
 * a Sentinel failover (master killed, replica promoted) while decisions keep coming.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { createLimitStore, type LimitStoreHealth, type RateRule } from '../../src/state/index.js'
import {
  inlineCommand,
  startRedisCluster,
  startRedisServer,
  type RedisCluster,
  type RedisServer,
} from '../support/redis-server.js'
import { runLimitContract } from './limits.contract.js'

const COMMAND_TIMEOUT_MS = 50

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms: ${what}`)
    await sleep(50)
  }
}

let cluster: RedisCluster
before(async () => {
  cluster = await startRedisCluster(3)
})
after(() => cluster.stop())

let subjectCount = 0
runLimitContract('redis cluster', () => {
  const keyPrefix = `cluster-${++subjectCount}:`
  const nodes = cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }))
  return Promise.resolve({
    manualTime: false,
    // Exactness cases: a generous timeout keeps a loaded machine from triggering the fallback.
    makeStore: () =>
      createLimitStore({
        redis: { cluster: nodes, keyPrefix, commandTimeout: 10_000, connectTimeout: 5000 },
      }),
    advance: (ms: number) => sleep(ms),
  })
})

describe('redis sentinel', () => {
  const servers: RedisServer[] = []
  let master: RedisServer
  let replica: RedisServer
  let sentinel: RedisServer
  before(async () => {
    // Without the delay the master waits 5 s for more replicas before the first sync.
    master = await startRedisServer({ args: ['--repl-diskless-sync-delay', '0'] })
    servers.push(master)
    replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(master.port)] })
    servers.push(replica)
    await waitFor(
      'replication link up',
      async () =>
        (await inlineCommand(replica.port, 'INFO replication')).includes('link_status:up'),
      5000,
    )
    sentinel = await startRedisServer({
      sentinelConfig: [
        `sentinel monitor limits 127.0.0.1 ${master.port} 1`,
        'sentinel down-after-milliseconds limits 1000',
        'sentinel failover-timeout limits 5000',
        '',
      ].join('\n'),
    })
    servers.push(sentinel)
    await waitFor(
      'sentinel sees the replica',
      async () =>
        !(await inlineCommand(sentinel.port, 'SENTINEL REPLICAS limits')).startsWith('*0'),
      15_000,
    )
  })
  after(() => Promise.all(servers.map((s) => s.stop())))

  test('master killed: decisions stay bounded, then move to the promoted replica', async (t) => {
    const transitions: LimitStoreHealth[] = []
    let isFailingOver = false
    let withoutStore = 0
    const store = await createLimitStore(
      {
        redis: {
          sentinels: [{ host: '127.0.0.1', port: sentinel.port }],
          name: 'limits',
          keyPrefix: 'sentinel:',
          commandTimeout: COMMAND_TIMEOUT_MS,
        },
      },
      {
        events: {
          onHealthChange: (h) => void transitions.push(h),
          onDecision: (kind, mode) => {
            if (kind === 'rate' && isFailingOver) withoutStore += mode === 'store' ? 0 : 1
          },
        },
      },
    )
    t.after(() => store.close())
    assert.equal(store.health(), 'ok')
    const rule: RateRule = { limit: 100_000, periodMs: 60_000 }
    assert.equal((await store.rate.consume('k', rule)).allowed, true)

    await master.kill('SIGKILL')
    isFailingOver = true
    let decisions = 0
    const deadline = performance.now() + 20_000
    while (transitions.length < 2) {
      if (performance.now() > deadline)
        assert.fail(`no failover within 20 s: ${transitions.join(',')}`)
      const d = await store.rate.consume('k', rule)
      decisions++
      assert.equal(d.allowed, true)
      await sleep(10)
    }
    isFailingOver = false
    assert.deepEqual(transitions, ['degraded', 'ok'])
    // No decision waited for the failover (which takes the 1 s down-after at least): they kept
    // coming, decided locally past their deadline or while the store was unreachable. Counted,
    // not timed, so a busy machine cannot fail it.
    assert.ok(withoutStore >= 3, `${withoutStore} of ${decisions} decided without the store`)

    // Decisions are in Redis again: on the promoted replica.
    const promoted = new Redis(replica.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
    t.after(() => promoted.quit())
    assert.match(await promoted.info('replication'), /role:master/)
    await promoted.del('sentinel:rate:k')
    // A decision past its 50 ms deadline is local for that request only (a busy machine), so
    // decide until one lands in Redis (bounded): the store is used again, not local limits.
    let isStored = false
    for (let i = 0; i < 200 && !isStored; i++) {
      await store.rate.consume('k', rule)
      isStored = (await promoted.exists('sentinel:rate:k')) === 1
    }
    assert.ok(isStored, 'no decision reached the promoted replica')
  })
})
