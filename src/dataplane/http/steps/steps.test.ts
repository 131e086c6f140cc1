// Each step prepares state only for the routes that use it, and a route runs exactly the steps
// it prepared, in order.ts order: what a route does not use is not on its list.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../../ir/index.js'
import { silentLogger } from '../../../lib/index.js'
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

function stepsOf(r: ir.HttpRoute, c: ir.Cluster = C): string[] {
  const registry = createUpstreamRegistry({ log: silentLogger })
  const prepared = prepareSnapshot(
    snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [c] }),
    registry,
  )
  try {
    return prepared.routes.get(r)?.steps.map((s) => s.name) ?? []
  } finally {
    releaseSnapshot(prepared, registry)
    void registry.close()
  }
}

const ALWAYS_FORWARD = ['destination', 'admission', 'upstream-headers', 'dns-wait']

describe('request steps: a route prepares only what it uses', () => {
  test('a plain forward route runs the forward steps and nothing else', () => {
    assert.deepEqual(stepsOf(route('r', forward(destination(C)))), ALWAYS_FORWARD)
  })

  test('a redirect and a direct response are one terminal step each', () => {
    const redirect: ir.RouteAction = { kind: 'redirect', uri: '/new', status: 301 }
    assert.deepEqual(stepsOf(route('r', redirect)), ['redirect'])
    const direct: ir.RouteAction = { kind: 'direct', status: 204 }
    assert.deepEqual(stepsOf(route('r', direct)), ['direct-response'])
  })

  test('each policy adds its step, at its place in order.ts', () => {
    const r = route('r', forward(destination(C)), {
      cors: {
        allowOrigins: [{ kind: 'exact', value: 'https://app.test' }],
        allowMethods: [],
        allowHeaders: [],
        exposeHeaders: [],
        unmatchedPreflights: 'FORWARD',
      },
      fault: {
        delay: { fixedDelayMs: 5, percent: 10 },
        abort: { httpStatus: 418, percent: 10 },
      },
      retry: { attempts: 2, retryOn: ['5xx'], retriableStatusCodes: [], backoffBaseMs: 5 },
      rewrite: { prefix: '/v2' },
      mirrors: [{ cluster: C.id, host: C.host, port: 80, percent: 100 }],
    })
    assert.deepEqual(stepsOf(r), [
      'cors',
      'destination',
      'fault-delay',
      'fault-abort',
      'admission',
      'retry-body',
      'rewrite',
      'upstream-headers',
      'mirror',
      'dns-wait',
    ])
  })

  test('a consistent-hash cluster adds the hash-key step', () => {
    const hashed = cluster('svc.example.com', [{ port: 1 }], {
      policy: {
        loadBalancer: {
          kind: 'CONSISTENT_HASH',
          key: { kind: 'header', name: 'x-user' },
          ringSize: 1024,
        },
      },
    })
    const r = route('r', forward(destination(hashed)))
    assert.deepEqual(stepsOf(r, hashed), [
      'destination',
      'admission',
      'hash-key',
      'upstream-headers',
      'dns-wait',
    ])
  })
})
