// docs/tracing.md's example, as printed: it loads with no diagnostics and compiles into the
// tracing plan the text describes (both providers, 10 %, the two custom tags, the app label).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { compile } from '../../src/compile/index.js'
import { loadConfigText } from '../../src/config/index.js'
import { REPO_ROOT } from './harness/index.js'

test('the docs/tracing.md example loads and compiles into its tracing plan', () => {
  const md = readFileSync(join(REPO_ROOT, 'docs', 'tracing.md'), 'utf8')
  const block = /<!-- tracing-example:start -->\s*```yaml\n([\s\S]*?)```/.exec(md)?.[1]
  assert.ok(block !== undefined, 'docs/tracing.md has the example block')
  const loaded = loadConfigText({ 'gateway.yaml': block })
  assert.deepEqual(loaded.diagnostics, [])
  const compiled = compile(loaded.resources)
  assert.deepEqual(compiled.diagnostics, [])
  assert.deepEqual(compiled.snapshot.tracing, {
    providers: [
      {
        kind: 'opentelemetry',
        name: 'otel',
        url: 'http://otel-collector.observability:4318/v1/traces',
        timeoutMs: 5000,
        headers: {},
      },
      {
        kind: 'zipkin',
        name: 'zipkin',
        url: 'http://zipkin.observability:9411/api/v2/spans',
        timeoutMs: 10000,
        headers: {},
      },
    ],
    propagation: ['w3c', 'b3'],
    samplingPercent: 10,
    customTags: [
      { tag: 'environment', kind: 'literal', value: 'production' },
      { tag: 'tenant', kind: 'header', name: 'x-tenant', defaultValue: 'unknown' },
    ],
    serviceName: 'edge-gateway',
    source: 'istio-system/mesh-default',
  })
})
