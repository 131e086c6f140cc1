// A mesh-bound VirtualService `tcp` route applies to CONNECT tunnels on the outbound listener:
// `CONNECT db.example.test:5432` goes to the route's destination (a registered proxy host),
// never to the name the client asked for, and the tunnel's record names the upstream it used.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { compile } from '../../src/compile/index.js'
import { loadConfigText } from '../../src/config/index.js'
import { silentLogger } from '../../src/lib/index.js'
import type { RequestRecord } from '../../src/observe/events.js'
import { createOutboundProxy } from '../../src/dataplane/egress/outbound-proxy.js'
import { createHttpHandler } from '../../src/dataplane/http/handler.js'
import { prepareSnapshot, releaseSnapshot } from '../../src/dataplane/http/prepare-snapshot.js'
import { createUpstreamRegistry } from '../../src/dataplane/upstream/registry.js'
import { closedPort } from '../support/http-harness.js'
import { rawConnect } from './egress-kit.js'

async function countingServer(): Promise<{ port: number; accepted: () => number; close(): void }> {
  let accepted = 0
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    accepted++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    close() {
      for (const s of sockets) s.destroy()
      server.close()
    },
  }
}

test('CONNECT follows a mesh tcp route to its destination', async (t) => {
  const direct = await countingServer()
  const proxied = await countingServer()
  t.after(() => {
    direct.close()
    proxied.close()
  })
  const proxyPort = await closedPort()
  const yaml = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: ${proxyPort}, address: 127.0.0.1}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY, allowPrivateAddresses: true}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db.example.test]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tcp: ${direct.port}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db-proxy}
spec:
  hosts: [db-proxy.example.test]
  ports: [{number: 6432, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tcp: ${proxied.port}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db.example.test]
  tcp:
  - match: [{port: 5432}]
    route: [{destination: {host: db-proxy.example.test, port: {number: 6432}}}]
`
  const loaded = loadConfigText({ 'gateway.yaml': yaml })
  const { snapshot, diagnostics } = compile(loaded.resources)
  assert.deepEqual(
    diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  const records: RequestRecord[] = []
  const observer = { onRequestComplete: (r: RequestRecord) => records.push(r) }
  const registry = createUpstreamRegistry({ log: silentLogger })
  const prepared = prepareSnapshot(snapshot, registry)
  const handler = createHttpHandler({ observer, log: silentLogger, upstreams: registry })
  const proxy = createOutboundProxy({ handler, observer, log: silentLogger })
  proxy.activate(await proxy.prepare(prepared))
  t.after(async () => {
    await proxy.close()
    releaseSnapshot(prepared, registry)
    await registry.close()
  })

  const reply = await rawConnect(proxyPort, 'db.example.test:5432')
  assert.equal(reply.status, 200)
  const deadline = Date.now() + 3000
  while (proxied.accepted() === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10))
  }
  assert.equal(proxied.accepted(), 1)
  assert.equal(direct.accepted(), 0)
  const rec = await (async () => {
    for (let i = 0; i < 100; i++) {
      const r = records.find((x) => x.authority === 'db.example.test:5432')
      if (r !== undefined) return r
      await new Promise((res) => setTimeout(res, 20))
    }
    return undefined
  })()
  assert.equal(rec?.upstreamHost, `127.0.0.1:${proxied.port}`)
})
