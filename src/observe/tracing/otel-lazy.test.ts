// Its own file, so that no other test of this process has loaded the SDK first.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import type * as ir from '../../ir/index.js'
import { createTracing } from '../index.js'

const moduleCache = createRequire(import.meta.url).cache
const loaded = (pkg: string): boolean =>
  Object.keys(moduleCache).some((f) => f.includes(`/node_modules/@opentelemetry/${pkg}/`))
const SDK = ['sdk-trace-base', 'core', 'propagator-b3', 'resources']

test('the OpenTelemetry SDK loads with the first tracing plan, not with the observers', async () => {
  const tracing = createTracing()
  for (const pkg of SDK) assert.equal(loaded(pkg), false, `${pkg} loaded before any plan`)

  const plan: ir.TracingPlan = {
    providers: [],
    propagation: ['w3c', 'b3'],
    samplingPercent: 100,
    customTags: [],
    serviceName: 'portcullis',
    source: 'istio-system/mesh-default',
  }
  tracing.tracerFor(plan)
  for (const pkg of ['sdk-trace-base', 'resources']) assert.equal(loaded(pkg), true, pkg)
  await tracing.shutdown()
})
