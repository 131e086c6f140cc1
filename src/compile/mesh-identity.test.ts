import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigText } from '../config/index.js'
import { compile } from './compile.js'

// Compile does no I/O: the identity files need not exist here (validation checks them).
const yaml = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: { name: gateway }
spec:
  outbound: { port: 15001 }
  meshIdentity: { certChain: /m/chain.pem, privateKey: /m/key.pem, rootCert: /m/root.pem, trustDomain: example.org }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: db }
spec:
  hosts: [db.prod.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
    - { number: 5432, name: tcp-pg, protocol: TCP }
    - { number: 8080, name: http, protocol: HTTP }
  endpoints: [{ address: 10.0.0.1 }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: db }
spec:
  host: db.prod.svc.cluster.local
  trafficPolicy:
    portLevelSettings:
      - port: { number: 5432 }
        tls: { mode: ISTIO_MUTUAL }
      - port: { number: 8080 }
        tls: { mode: ISTIO_MUTUAL, sni: db.example }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db }
spec:
  hosts: [db.prod.svc.cluster.local]
  http:
    - match: [{ uri: { prefix: /pg } }]
      route:
        - destination: { host: db.prod.svc.cluster.local, port: { number: 5432 } }
    - route:
        - destination: { host: db.prod.svc.cluster.local, port: { number: 8080 } }
`

test('ISTIO_MUTUAL in portLevelSettings: per-port SNI and ALPN, the configured identity', () => {
  const loaded = loadConfigText({ 'gateway.yaml': yaml })
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error').map((d) => d.code),
    ['PC1113', 'PC1113'], // the identity files do not exist on this machine
  )
  const { snapshot } = compile(loaded.resources)
  const tcp = snapshot.clusters['outbound|5432||db.prod.svc.cluster.local']?.policy?.tls
  const http = snapshot.clusters['outbound|8080||db.prod.svc.cluster.local']?.policy?.tls
  assert.equal(tcp?.sni, 'outbound_.5432_._.db.prod.svc.cluster.local')
  assert.deepEqual(tcp?.mesh, { trustDomain: 'example.org', alpn: ['istio'] })
  assert.equal(http?.sni, 'db.example')
  assert.deepEqual(http?.mesh?.alpn, ['istio-http/1.1', 'istio', 'http/1.1'])
  assert.deepEqual(
    [http?.certFile, http?.keyFile, http?.caFile],
    ['/m/chain.pem', '/m/key.pem', '/m/root.pem'],
  )
})
