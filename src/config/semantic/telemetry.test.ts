// Tracing config as Istio users write it: GatewayConfig extensionProviders and the Telemetry
// resource. Problems name the file, line and field; a valid pair compiles to the snapshot's plan.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { compile } from '../../compile/index.js'
import type { Diagnostic } from '../../diag/index.js'
import { loadConfigText } from '../index.js'

const GATEWAY = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw }
spec:
  servers:
  - port: { number: 8080, name: http, protocol: HTTP }
    hosts: ["*"]
`

function config(providers: string, telemetry: string): string {
  return `${GATEWAY}---
apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: { name: gateway }
spec:
  extensionProviders:
${providers}---
${telemetry}`
}

const PROVIDERS = `  - name: otel
    opentelemetry:
      service: otel-collector.observability
      port: 4318
      http:
        path: /v1/traces
        timeout: 3s
  - name: zipkin
    zipkin:
      service: 10.0.0.7
      port: 9411
`

function telemetry(body: string): string {
  return `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
${body}`
}

function load(yaml: string): Diagnostic[] {
  return [...loadConfigText({ 'gateway.yaml': yaml }).diagnostics]
}

function only(diags: Diagnostic[], code: string): Diagnostic {
  const found = diags.filter((d) => d.code === code)
  assert.equal(found.length, 1, `one ${code} in ${JSON.stringify(diags, null, 1)}`)
  return found[0]!
}

describe('tracing config', () => {
  test('a valid pair compiles into the tracing plan; sampling defaults to 1 %', () => {
    const yaml = config(
      PROVIDERS,
      telemetry(`  tracing:
  - providers: [{ name: otel }, { name: zipkin }]
    customTags:
      team: { literal: { value: edge } }
      tenant: { header: { name: X-Tenant, defaultValue: none } }
      pod: { environment: { name: HOSTNAME } }
`),
    )
    const loaded = loadConfigText({ 'gateway.yaml': yaml })
    assert.deepEqual(loaded.diagnostics, [])
    const plan = compile(loaded.resources).snapshot.tracing
    assert.deepEqual(plan, {
      providers: [
        {
          kind: 'opentelemetry',
          name: 'otel',
          url: 'http://otel-collector.observability:4318/v1/traces',
          timeoutMs: 3000,
          headers: {},
        },
        {
          kind: 'zipkin',
          name: 'zipkin',
          url: 'http://10.0.0.7:9411/api/v2/spans',
          timeoutMs: 10000,
          headers: {},
        },
      ],
      propagation: ['w3c', 'b3'],
      samplingPercent: 1,
      customTags: [
        { tag: 'team', kind: 'literal', value: 'edge' },
        { tag: 'tenant', kind: 'header', name: 'x-tenant', defaultValue: 'none' },
        { tag: 'pod', kind: 'environment', name: 'HOSTNAME', defaultValue: undefined },
      ],
      serviceName: 'portcullis',
      source: 'istio-system/mesh-default',
    })
  })

  test('disableSpanReporting: a plan that propagates and exports to no provider', () => {
    const yaml = config(
      PROVIDERS,
      telemetry(`  tracing:
  - providers: [{ name: otel }]
    disableSpanReporting: true
    randomSamplingPercentage: 100
`),
    )
    const loaded = loadConfigText({ 'gateway.yaml': yaml })
    assert.deepEqual(loaded.diagnostics, [])
    const plan = compile(loaded.resources).snapshot.tracing
    assert.deepEqual(plan?.providers, [])
    assert.deepEqual(plan?.propagation, ['w3c'], "the named provider's format all the same")
    assert.equal(plan?.samplingPercent, 100)
  })

  test("propagation is the named providers' formats, as their Envoy tracers", () => {
    const providers = `${PROVIDERS}  - name: zipkin-w3c
    zipkin:
      service: 10.0.0.7
      port: 9411
      traceContextOption: USE_B3_WITH_W3C_PROPAGATION
`
    const formats = (names: string[]): unknown => {
      const refs = names.map((n) => `{ name: ${n} }`).join(', ')
      const yaml = config(providers, telemetry(`  tracing:\n  - providers: [${refs}]\n`))
      const loaded = loadConfigText({ 'gateway.yaml': yaml })
      assert.deepEqual(loaded.diagnostics, [])
      return compile(loaded.resources).snapshot.tracing?.propagation
    }
    assert.deepEqual(formats(['otel']), ['w3c'])
    assert.deepEqual(formats(['zipkin']), ['b3'])
    assert.deepEqual(formats(['zipkin-w3c']), ['b3', 'w3c'])
    assert.deepEqual(formats(['zipkin', 'otel']), ['b3', 'w3c'])
    assert.deepEqual(formats([]), ['w3c', 'b3'], 'no provider: both, W3C first')
  })

  test('traceContextOption takes only the values Istio defines', () => {
    const yaml = config(
      `  - name: z
    zipkin:
      service: 10.0.0.7
      port: 9411
      traceContextOption: W3C_ONLY
`,
      telemetry('  tracing:\n  - providers: [{ name: z }]\n'),
    )
    const d = only(load(yaml), 'PC1104')
    assert.equal(d.path, 'spec.extensionProviders[0].zipkin.traceContextOption')
    assert.equal(d.loc?.line, 18)
    assert.match(d.message, /"W3C_ONLY" is not one of USE_B3, USE_B3_WITH_W3C_PROPAGATION/)
  })

  test('no Telemetry: no plan (tracing off)', () => {
    const loaded = loadConfigText({ 'gateway.yaml': GATEWAY })
    assert.equal(compile(loaded.resources).snapshot.tracing, undefined)
  })

  test('an unknown provider name: PC2012 at the name, with the defined ones', () => {
    const d = only(
      load(config(PROVIDERS, telemetry('  tracing:\n  - providers: [{ name: jaeger }]\n'))),
      'PC2012',
    )
    assert.equal(d.severity, 'error')
    assert.equal(d.path, 'spec.tracing[0].providers[0].name')
    assert.equal(d.loc?.file, 'gateway.yaml')
    assert.equal(d.loc?.line, 33)
    assert.match(d.message, /"jaeger".*defined: otel, zipkin/)
  })

  test('sampling above 100 and an unknown field are schema errors at their line', () => {
    const diags = load(
      config(
        PROVIDERS,
        telemetry(`  tracing:
  - providers: [{ name: otel }]
    randomSamplingPercentage: 150
    sampling: 10
`),
      ),
    )
    const range = only(diags, 'PC1105')
    assert.equal(range.path, 'spec.tracing[0].randomSamplingPercentage')
    assert.equal(range.loc?.line, 34)
    const unknown = only(diags, 'PC1101')
    assert.equal(unknown.path, 'spec.tracing[0].sampling')
    assert.equal(unknown.loc?.line, 35)
  })

  test('a custom tag sets exactly one of literal, header, environment', () => {
    const d = only(
      load(
        config(
          PROVIDERS,
          telemetry(`  tracing:
  - customTags:
      both: { literal: { value: a }, header: { name: x-a } }
`),
        ),
      ),
      'PC1107',
    )
    assert.equal(d.path, 'spec.tracing[0].customTags.both')
  })

  test('duplicate provider names (PC1703) and an opentelemetry provider without http (PC1704)', () => {
    const diags = load(
      config(
        `  - name: otel
    opentelemetry: { service: a, port: 4317 }
  - name: otel
    zipkin: { service: b, port: 9411 }
`,
        telemetry('  tracing:\n  - providers: [{ name: otel }]\n'),
      ),
    )
    assert.equal(only(diags, 'PC1703').path, 'spec.extensionProviders[1].name')
    assert.equal(only(diags, 'PC1704').path, 'spec.extensionProviders[0].opentelemetry')
    assert.equal(only(diags, 'PC1704').loc?.line, 15)
  })

  test('a second Telemetry with tracing is reported and not applied (PC2013)', () => {
    const second = `---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: other, namespace: default }
spec:
  tracing:
  - randomSamplingPercentage: 100
`
    const yaml =
      config(PROVIDERS, telemetry('  tracing:\n  - randomSamplingPercentage: 5\n')) + second
    const loaded = loadConfigText({ 'gateway.yaml': yaml })
    const d = only([...loaded.diagnostics], 'PC2013')
    assert.equal(d.severity, 'warning')
    assert.match(d.message, /istio-system\/mesh-default/)
    assert.equal(compile(loaded.resources).snapshot.tracing?.samplingPercent, 5)
  })

  test('a provider Portcullis does not export to is reported, not ignored (PC1108)', () => {
    const diags = load(
      config(
        '  - name: dd\n    datadog: { service: dd-agent, port: 8126 }\n',
        telemetry('  tracing:\n  - providers: [{ name: dd }]\n'),
      ),
    )
    assert.equal(only(diags, 'PC1108').path, 'spec.extensionProviders[0].datadog')
  })
})
