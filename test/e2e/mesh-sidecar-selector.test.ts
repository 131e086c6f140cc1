// A Sidecar applies to this instance as Istio picks a workload's Sidecar: by its namespace
// (outbound.namespace) and its workloadSelector against GatewayConfig.spec.labels. Two instances
// run the same YAML, Istio's restrict-external-service Sidecar (app: a, REGISTRY_ONLY, in echo)
// unchanged, and differ only in their labels: the app: a instance refuses an unregistered host,
// the app: b instance passes it (the mesh's ALLOW_ANY) and says why the Sidecar does not apply.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startTestDnsServer, type TestDnsServer } from '../support/dns-server.js'
import {
  REPO_ROOT,
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  request,
  startGateway,
  type GatewayProcess,
  startUpstream,
  type Upstream,
} from './harness/index.js'

const SAMPLE = join(
  REPO_ROOT,
  '../shared/istio-samples/sidecar-registry-only-workload-selector.yaml',
)

describe('Sidecar workloadSelector against the instance labels', () => {
  let other: Upstream
  let dns: TestDnsServer
  const instances: Record<'a' | 'b', { gw: GatewayProcess; port: number }> = {} as never

  before(async () => {
    other = await startUpstream({ name: 'other' })
    dns = await startTestDnsServer()
    dns.records.set('other.example.test', ['127.0.0.1'])
    const sidecar = await readFile(SAMPLE, 'utf8')
    for (const app of ['a', 'b'] as const) {
      const [port, readiness] = (await freePorts(2)) as [number, number]
      const gw = await startGateway({
        yaml: joinDocs(
          gatewayConfigDoc({
            readinessPort: readiness,
            accessLog: false,
            extraSpec: [
              `  labels: {app: ${app}}`,
              `  outbound: {port: ${port}, address: 127.0.0.1, namespace: echo}`,
              '  outboundTrafficPolicy: {mode: ALLOW_ANY, allowPrivateAddresses: true}',
              `  dns: {servers: ["${dns.address}"]}`,
            ],
          }),
          sidecar,
        ),
      })
      instances[app] = { gw, port }
    }
  })

  after(async () => {
    await Promise.all(Object.values(instances).map((i) => i.gw.cleanup()))
    await Promise.all([other?.close(), dns?.close()])
  })

  const get = (app: 'a' | 'b') =>
    request(`http://127.0.0.1:${instances[app].port}/get`, {
      headers: { host: `other.example.test:${other.port}` },
    })

  test('the instance labelled app: a is REGISTRY_ONLY: an unregistered host gets the egress 502', async () => {
    const before = other.requests.length
    const res = await get('a')
    assert.equal(res.status, 502, res.text)
    assert.equal(res.headers['x-portcullis-egress-reason'], 'host_not_registered')
    assert.equal(other.requests.length, before, 'nothing reached the host')
  })

  test('the instance labelled app: b is not selected: the host passes, and the log says why', async () => {
    const res = await get('b')
    assert.equal(res.status, 200, res.text)
    assert.equal(res.headers['x-upstream-name'], 'other')
    const note = await instances.b.gw.waitForLine(/PC2016/, 10_000)
    assert.match(note, /does not match this instance's labels \{app: b\}/)
  })
})
