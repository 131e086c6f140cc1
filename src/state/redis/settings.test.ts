import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { limiterConnectionOptions } from './client.js'
import { resolveRedisTarget } from './settings.js'

describe('resolveRedisTarget', () => {
  test('redis:// URLs with credentials, database and IPv6 hosts', () => {
    assert.deepEqual(resolveRedisTarget({ url: 'redis://127.0.0.1:6380/2' }), {
      mode: 'standalone',
      host: '127.0.0.1',
      port: 6380,
      db: 2,
      tls: false,
      username: undefined,
      password: undefined,
    })
    assert.deepEqual(resolveRedisTarget({ url: 'rediss://lim%40it:p%2Fw@[::1]' }), {
      mode: 'standalone',
      host: '::1',
      port: 6379,
      db: 0,
      tls: true,
      username: 'lim@it',
      password: 'p/w',
    })
  })

  test('Sentinel and Cluster', () => {
    const sentinels = [{ host: '10.0.0.1', port: 26379 }]
    assert.deepEqual(resolveRedisTarget({ sentinels, name: 'limits' }), {
      mode: 'sentinel',
      sentinels,
      name: 'limits',
    })
    const nodes = [{ host: 'redis-0', port: 7000 }]
    assert.deepEqual(resolveRedisTarget({ cluster: nodes }), { mode: 'cluster', nodes })
  })

  test('unusable settings are refused with the reason', () => {
    const cases: [object, RegExp][] = [
      [{}, /exactly one of/],
      [{ url: 'redis://a', cluster: [{ host: 'b', port: 1 }] }, /exactly one of/],
      [{ url: 'http://a' }, /redis:\/\/ or rediss:\/\//],
      [{ url: 'not a url' }, /not a URL/],
      [{ url: 'redis://a/x' }, /database/],
      [{ sentinels: [{ host: 'a', port: 1 }] }, /master group name/],
      [{ cluster: [] }, /at least one/],
      [{ cluster: [{ host: 'a', port: 70000 }] }, /bad endpoint/],
      [{ url: 'redis://a', commandTimeout: 0 }, /commandTimeout/],
    ]
    for (const [settings, message] of cases) {
      assert.throws(() => resolveRedisTarget(settings), message, JSON.stringify(settings))
    }
  })
})

test('connections are configured for a limiter, not a cache', () => {
  const options = limiterConnectionOptions({ url: 'redis://a', password: 'secret' })
  assert.equal(options.enableOfflineQueue, false)
  assert.equal(options.maxRetriesPerRequest, 0)
  assert.equal(options.autoResendUnfulfilledCommands, false)
  // The client waits up to the lease deadline; rate decisions have their own 50 ms deadline.
  assert.equal(options.commandTimeout, 500)
  assert.equal(
    limiterConnectionOptions({ url: 'redis://a', commandTimeout: 900 }).commandTimeout,
    900,
  )
  assert.equal(options.connectTimeout, 500)
  assert.equal(options.lazyConnect, true)
  assert.equal(options.password, 'secret')
  const delays = [1, 2, 3, 4, 5, 10].map((n) => options.retryStrategy(n))
  for (const [i, base] of [50, 100, 200, 400, 800, 1000].entries()) {
    assert.ok(delays[i]! >= base && delays[i]! <= base * 1.1, `attempt delay ${delays[i]}`)
  }
})
