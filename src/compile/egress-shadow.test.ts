import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigText } from '../config/index.js'
import { compile } from './compile.js'

const entry = (name: string, port: number, protocol: string) => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [httpbin.org]
  ports: [{number: ${port}, name: p-${port}, protocol: ${protocol}}]
  resolution: DNS
`

test('a second entry for a host names no VirtualService that does not exist (PC2007)', () => {
  const text = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: 3128, address: 127.0.0.1}
${entry('httpbin-suggested', 443, 'TLS')}${entry('httpbin', 80, 'HTTP')}`
  const loaded = loadConfigText({ 'gateway.yaml': text })
  const { diagnostics } = compile(loaded.resources)
  assert.deepEqual(
    diagnostics.filter((d) => d.code === 'PC2007'),
    [],
  )
})
