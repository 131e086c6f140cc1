// A route that is the same IR object in the next snapshot (compile reuses the routes of
// unchanged VirtualServices) keeps its prepared form while its cluster runtimes are the same.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createIncrementalCompile } from '../../compile/index.js'
import { loadConfigText } from '../../config/index.js'
import type * as ir from '../../ir/index.js'
import { silentLogger } from '../../lib/index.js'
import { prepareSnapshot, releaseSnapshot } from './prepare-snapshot.js'
import { createUpstreamRegistry } from '../upstream/registry.js'

function config(port: number, extraHost: string): Record<string, string> {
  const vs = (name: string, host: string, backend: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
spec:
  hosts: [${host}]
  gateways: [edge]
  http:
    - route:
        - destination:
            host: ${backend}
            port:
              number: 80
`
  const se = (name: string, endpointPort: number) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
spec:
  hosts: [${name}.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - number: 80
      name: http
      protocol: HTTP
  endpoints:
    - address: 127.0.0.1
      ports:
        http: ${endpointPort}
`
  return {
    'base.yaml': `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
spec:
  servers:
    - port:
        number: 8080
        name: http
        protocol: HTTP
      hosts: ["*"]
---
${se('one', 9001)}---
${se('two', port)}`,
    'a.yaml': vs('a', 'a.example.com', 'one.test'),
    'b.yaml': vs('b', extraHost, 'two.test'),
  }
}

function routeOf(s: ir.Snapshot, host: string): ir.HttpRoute {
  const chain = s.listeners[0]!.chains[0]!
  assert.ok(chain.kind === 'http')
  return chain.routeTable.virtualHosts.find((v) => v.domains[0] === host)!.routes[0]!
}

test('unchanged routes keep their prepared form; a changed cluster prepares again', () => {
  const files = config(9002, 'b.example.com')
  // The same resource objects for the unchanged files, as the parse cache gives them.
  const first = loadConfigText(files)
  const compileAgain = createIncrementalCompile()
  const s1 = compileAgain(first.resources).snapshot
  const upstreams = createUpstreamRegistry({ log: silentLogger })
  const p1 = prepareSnapshot(s1, upstreams)

  // b's VirtualService changes (another host); a's is the same object.
  const changed = loadConfigText(config(9002, 'c.example.com'))
  const resources = {
    ...first.resources,
    virtualServices: [first.resources.virtualServices[0]!, changed.resources.virtualServices[1]!],
  }
  const s2 = compileAgain(resources).snapshot
  assert.equal(routeOf(s2, 'a.example.com'), routeOf(s1, 'a.example.com'))
  const p2 = prepareSnapshot(s2, upstreams)
  const a1 = p1.routes.get(routeOf(s1, 'a.example.com'))
  assert.ok(a1 !== undefined)
  assert.equal(p2.routes.get(routeOf(s2, 'a.example.com')), a1, 'a: reused')

  // two.test's endpoint moves: the memo starts over (a ServiceEntry changed), and b's route
  // would anyway need the new runtime.
  const moved = loadConfigText(config(9003, 'c.example.com'))
  const s3 = compileAgain(moved.resources).snapshot
  const p3 = prepareSnapshot(s3, upstreams)
  const c3 = p3.routes.get(routeOf(s3, 'c.example.com'))!
  assert.equal(c3.destinations[0]!.cluster, p3.clusters.get(c3.destinations[0]!.clusterId))
  assert.notEqual(c3.destinations[0]!.cluster, p2.clusters.get(c3.destinations[0]!.clusterId))

  // The same route object with another runtime for its cluster is prepared again.
  releaseSnapshot(p1, upstreams)
  releaseSnapshot(p2, upstreams)
  releaseSnapshot(p3, upstreams)
  const p4 = prepareSnapshot(s2, upstreams)
  const a4 = p4.routes.get(routeOf(s2, 'a.example.com'))!
  assert.notEqual(a4, a1, 'its cluster runtime was closed and made again')
  assert.equal(a4.destinations[0]!.cluster, p4.clusters.get(a4.destinations[0]!.clusterId))
  releaseSnapshot(p4, upstreams)
})
