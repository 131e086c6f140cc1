import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Registry } from 'prom-client'
import type { EgressEvent } from './events.js'
import { createEgressMetrics } from './egress-metrics.js'
import { createEgressObservations } from './egress-observations.js'

const event = (over: Partial<EgressEvent>): EgressEvent => ({
  decision: 'denied',
  host: 'evil.test',
  port: 443,
  arrival: 'connect',
  source: '127.0.0.1',
  reason: 'host_not_registered',
  ...over,
})

test('observations count each destination, newest first, and keep denied apart from observed', () => {
  const seen = createEgressObservations()
  seen.record(event({}), Date.UTC(2026, 0, 1))
  seen.record(event({ source: '127.0.0.2' }), Date.UTC(2026, 0, 2))
  seen.record(event({ decision: 'audited', host: 'api.test', arrival: 'http', port: 80 }), 0)
  seen.record(event({ decision: 'passthrough', host: 'db.test', port: 5432, reason: undefined }), 0)
  seen.record(event({ decision: 'allowed', host: 'ok.test', reason: undefined }), 0)

  const denied = seen.list('denied')
  assert.equal(denied.length, 1)
  assert.deepEqual(denied[0], {
    decision: 'denied',
    host: 'evil.test',
    port: 443,
    arrival: 'connect',
    protocol: 'TLS',
    reason: 'host_not_registered',
    source: '127.0.0.2',
    sources: ['127.0.0.1', '127.0.0.2'],
    count: 2,
    firstSeen: '2026-01-01T00:00:00.000Z',
    lastSeen: '2026-01-02T00:00:00.000Z',
  })
  const observed = seen.list('observed')
  assert.deepEqual(
    observed.map((o) => [o.decision, o.host, o.protocol]),
    [
      ['passthrough', 'db.test', 'TCP'],
      ['audited', 'api.test', 'HTTP'],
    ],
  )
})

test('observations are bounded: the least recently seen destination goes first', () => {
  const seen = createEgressObservations(3)
  for (const host of ['a.test', 'b.test', 'c.test']) seen.record(event({ host }))
  seen.record(event({ host: 'a.test' }))
  seen.record(event({ host: 'd.test' }))
  assert.deepEqual(
    seen.list('denied').map((o) => o.host),
    ['d.test', 'a.test', 'c.test'],
  )
})

test('portcullis_egress_requests_total folds hosts past the series bound into overflow', async () => {
  const registry = new Registry()
  const metrics = createEgressMetrics(registry, 2)
  metrics.record(event({ host: 'a.test' }))
  metrics.record(event({ host: 'a.test', decision: 'audited' }))
  metrics.record(event({ host: 'b.test' }))
  for (let i = 0; i < 5; i++) metrics.record(event({ host: `scan${i}.test` }))
  const text = await registry.metrics()
  assert.match(
    text,
    /portcullis_egress_requests_total\{decision="denied",host="a.test",port="443"\} 1/,
  )
  assert.match(
    text,
    /portcullis_egress_requests_total\{decision="audited",host="a.test",port="443"\} 1/,
  )
  assert.match(
    text,
    /portcullis_egress_requests_total\{decision="denied",host="overflow",port="overflow"\} 5/,
  )
  assert.doesNotMatch(text, /scan0/)
})
