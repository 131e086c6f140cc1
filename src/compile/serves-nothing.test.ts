import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigText } from '../config/index.js'
import { formatDiagnostic, hasErrors } from '../diag/index.js'
import { compile } from './compile.js'

/** load → compile as `validate` judges a config: load errors stop before compile. */
function judge(text: string): string[] {
  const loaded = loadConfigText({ 'gateway.yaml': text })
  const diags = hasErrors(loaded.diagnostics)
    ? loaded.diagnostics
    : [...loaded.diagnostics, ...compile(loaded.resources).diagnostics]
  return diags.filter((d) => d.severity === 'error').map(formatDiagnostic)
}

const GATEWAY_CONFIG = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  labels: {istio: edge}
`
const GATEWAY = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web}
spec:
  selector: {istio: other}
  servers:
    - port: {number: 8080, name: http, protocol: HTTP}
      hosts: ["*"]
`
const SERVICE_ENTRY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.test]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
`

describe('a config that serves nothing is an error (PC1009)', () => {
  for (const [name, text] of [
    ['an empty file', ''],
    ['only whitespace', '\n  \n'],
    ['only comments', '# nothing here yet\n# still nothing\n'],
    ['only document separators and comments', '---\n# a\n---\n---\n'],
  ] as const) {
    test(`${name}: no documents, naming the file`, () => {
      assert.deepEqual(judge(text), [
        'gateway.yaml:1:1 error PC1009: gateway.yaml has no documents (empty, or only comments and ---): the gateway would serve nothing',
      ])
    })
  }

  test('documents but no Gateway and no outbound listener', () => {
    const [error, ...rest] = judge(`# egress registry only\n${SERVICE_ENTRY}`)
    assert.deepEqual(rest, [])
    assert.match(
      error ?? '',
      /^gateway\.yaml:2:1 error PC1009 ServiceEntry default\/api: no listener: there is no Gateway /,
    )
  })

  test('a Gateway whose selector matches no label of this instance', () => {
    const [error, ...rest] = judge(`${GATEWAY_CONFIG}---\n${GATEWAY}`)
    assert.deepEqual(rest, [])
    assert.match(
      error ?? '',
      /^gateway\.yaml:7:1 error PC1009 Gateway default\/web: no listener: no Gateway server is served/,
    )
  })

  test('an outbound listener alone, or egress SNI ports alone, serve something', () => {
    const outbound = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: 3128, address: 127.0.0.1}
`
    assert.deepEqual(judge(`${outbound}---\n${SERVICE_ENTRY}`), [])
    const sni = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  egress: {sniPorts: [8443]}
`
    assert.deepEqual(judge(`${sni}---\n${SERVICE_ENTRY}`), [])
  })

  test('one matching Gateway server is enough', () => {
    assert.deepEqual(
      judge(GATEWAY.replace('istio: other', 'istio: edge') + '---\n' + GATEWAY_CONFIG),
      [],
    )
  })

  test('a YAML error is reported as such, not as an empty config', () => {
    const errors = judge('kind: [\n')
    assert.ok(errors.length > 0)
    assert.ok(
      errors.every((e) => !e.includes('PC1009')),
      errors.join('\n'),
    )
  })
})
