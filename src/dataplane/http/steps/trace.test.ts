// The trace steps are prepared only when the snapshot has a tracer, at their places in order.ts:
// trace-start first, trace-inject right after the upstream head (forward routes only).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../../ir/index.js'
import { silentLogger } from '../../../lib/index.js'
import { createTracing } from '../../../observe/tracing/index.js'
import { prepareSnapshot, releaseSnapshot } from '../prepare-snapshot.js'
import { createUpstreamRegistry } from '../../upstream/registry.js'
import {
  cluster,
  destination,
  forward,
  route,
  snapshot,
  vhost,
} from '../../../../test/support/http-harness.js'

const C = cluster('svc.example.com', [{ port: 1 }])
const PLAN: ir.TracingPlan = {
  providers: [],
  propagation: ['w3c', 'b3'],
  samplingPercent: 1,
  customTags: [],
  serviceName: 'portcullis',
  source: 'istio-system/mesh-default',
}

function stepsOf(r: ir.HttpRoute, plan: ir.TracingPlan | undefined): string[] {
  const registry = createUpstreamRegistry({ log: silentLogger })
  const tracing = createTracing()
  const snap = snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [C] })
  const prepared = prepareSnapshot(
    plan === undefined ? snap : { ...snap, tracing: plan },
    registry,
    undefined,
    tracing,
  )
  try {
    return prepared.routes.get(r)?.steps.map((s) => s.name) ?? []
  } finally {
    releaseSnapshot(prepared, registry)
    void registry.close()
    void tracing.shutdown()
  }
}

describe('trace steps', () => {
  test('a snapshot without a tracing plan prepares no trace step', () => {
    const steps = stepsOf(route('r', forward(destination(C))), undefined)
    assert.deepEqual(steps, ['destination', 'admission', 'upstream-headers', 'dns-wait'])
  })

  test('with a plan: trace-start first, trace-inject after the upstream head', () => {
    const steps = stepsOf(route('r', forward(destination(C))), PLAN)
    assert.deepEqual(steps, [
      'trace-start',
      'destination',
      'admission',
      'upstream-headers',
      'trace-inject',
      'dns-wait',
    ])
  })

  test('a route without an upstream only starts the span', () => {
    const direct: ir.RouteAction = { kind: 'direct', status: 204 }
    assert.deepEqual(stepsOf(route('r', direct), PLAN), ['trace-start', 'direct-response'])
  })
})
