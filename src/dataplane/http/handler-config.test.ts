import { test } from 'node:test'
import assert from 'node:assert/strict'
import { compile } from '../../compile/index.js'
import { loadConfigText } from '../../config/index.js'
import { client, startGateway, startUpstream } from '../../../test/support/http-harness.js'

test('a gateway.yaml compiled end to end routes as Istio would', async (t) => {
  const v1 = await startUpstream(t, 'v1')
  const v2 = await startUpstream(t, 'v2')
  const yaml = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 8080, name: http, protocol: HTTP }
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints:
  - { address: 127.0.0.1, ports: { http: ${v1.port} }, labels: { version: v1 } }
  - { address: 127.0.0.1, ports: { http: ${v2.port} }, labels: { version: v2 } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: default }
spec:
  host: reviews.example.com
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews.example.com]
  gateways: [gw]
  http:
  - name: old-path
    match: [{ uri: { prefix: /legacy } }]
    redirect: { uri: /reviews, redirectCode: 302 }
  - name: jason
    match: [{ headers: { end-user: { exact: jason } } }]
    route: [{ destination: { host: reviews.example.com, subset: v2 } }]
    headers:
      response:
        set: { x-variant: v2 }
  - name: everyone
    route: [{ destination: { host: reviews.example.com, subset: v1 } }]
`
  const loaded = loadConfigText({ 'gateway.yaml': yaml })
  assert.deepEqual(loaded.diagnostics, [])
  const { snapshot, diagnostics } = compile(loaded.resources)
  assert.deepEqual(diagnostics, [])
  const listener = snapshot.listeners[0]!
  const gw = await startGateway(t, snapshot, { listener: { id: listener.id, port: listener.port } })
  const http = client(t)
  const host = 'reviews.example.com:8080'

  const jason = await http.get(`${gw.url}/reviews/1`, { headers: { host, 'end-user': 'jason' } })
  assert.equal(jason.headers['x-upstream'], 'v2')
  assert.equal(jason.headers['x-variant'], 'v2')
  await jason.body.text()

  const other = await http.get(`${gw.url}/reviews/1`, { headers: { host } })
  assert.equal(other.headers['x-upstream'], 'v1')
  await other.body.text()

  const legacy = await http.get(`${gw.url}/legacy/x?a=1`, { headers: { host } })
  assert.equal(legacy.statusCode, 302)
  assert.equal(legacy.headers.location, 'http://reviews.example.com:8080/reviews?a=1')
  await legacy.body.text()

  const unknown = await http.get(`${gw.url}/`, { headers: { host: 'ratings.example.com' } })
  assert.equal(unknown.statusCode, 404)
  await unknown.body.text()

  const records = await gw.waitForRecords(4)
  assert.deepEqual(
    records.map((r) => [r.routeName, r.upstreamCluster, r.responseFlags]),
    [
      ['jason', 'outbound|80|v2|reviews.example.com', '-'],
      ['everyone', 'outbound|80|v1|reviews.example.com', '-'],
      ['old-path', undefined, '-'],
      [undefined, undefined, 'NR'],
    ],
  )
  assert.equal(v2.seen[0]?.headers['x-envoy-attempt-count'], '1')
})
