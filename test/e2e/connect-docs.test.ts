// The egress-gateway example of docs/egress.md section 5, exactly as printed: with an outbound
// listener and the edition.cnn.com ServiceEntry next to it, it compiles without diagnostics and
// `CONNECT edition.cnn.com:443` is decided to the egress instance's address.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { compile } from '../../src/compile/index.js'
import { loadConfigText } from '../../src/config/index.js'
import { decideL4 } from '../../src/dataplane/egress/mesh-l4.js'
import { compileEgressMatcher } from '../../src/match/index.js'
import { resolveChecked } from '../../src/dataplane/upstream/resolve-checked.js'
import { createHostResolver } from '../../src/dataplane/upstream/host-resolver.js'

function docExample(): string {
  const text = readFileSync(new URL('../../docs/egress.md', import.meta.url), 'utf8')
  const section = text.slice(text.indexOf('### An egress gateway'))
  const m = /```yaml\n([\s\S]*?)```/.exec(section)
  assert.ok(m !== null, 'the egress-gateway example is in docs/egress.md')
  return m[1]!
}

test('docs/egress.md: the egress-gateway example routes CONNECT edition.cnn.com:443 to the egress instance', async () => {
  const yaml = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: client}
spec:
  outbound: {port: 3128}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cnn}
spec:
  hosts: [edition.cnn.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
${docExample()}`
  const loaded = loadConfigText({ 'gateway.yaml': yaml })
  const { snapshot, diagnostics } = compile(loaded.resources)
  assert.deepEqual(
    [...loaded.diagnostics, ...diagnostics].map((d) => `${d.code} ${d.message}`),
    [],
  )
  const egress = snapshot.egress!
  const matcher = compileEgressMatcher(egress)
  const { decision, routed } = decideL4(matcher, egress.meshL4Routes, 'edition.cnn.com', 443)
  assert.equal(routed?.host, 'istio-egressgateway.istio-system.svc.cluster.local')
  assert.equal(decision.verdict, 'allowed')
  const checked = await resolveChecked(matcher, createHostResolver({}), decision)
  assert.ok(!('error' in checked))
  assert.deepEqual([checked.address, checked.port], ['10.0.0.20', 443])
})
