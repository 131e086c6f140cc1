// DestinationRule MUTUAL (and SIMPLE caCertificates) files must be readable PEM before a config is
// accepted, wherever the rule names them and whether or not a route uses the rule yet: the
// top-level tls of a host nothing routes to, portLevelSettings, subsets and a subset's port.
// `validate` exits 1 with each at its file:line, `run` does not start, and a reload that adds
// them is refused while the old config keeps serving (docs/egress.md, TLS origination).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  REPO_ROOT,
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  request,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'

const LOG_TIMEOUT_MS = 10_000

function reviewsEntry(upstreamPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${upstreamPort}}, labels: {version: v1}}]
`
}

// Line numbers below are of this text alone (it is appended after the other documents, and the
// assertions look for the file and the resource path, with the line reported).
const BROKEN_RULES = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: nobody}
spec:
  host: nobody.example.com
  trafficPolicy:
    tls: {mode: MUTUAL, clientCertificate: /nonexistent/nobody.pem, privateKey: /nonexistent/nobody.key}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    portLevelSettings:
    - port: {number: 9443}
      tls: {mode: SIMPLE, caCertificates: /nonexistent/ca.pem}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      tls: {mode: MUTUAL, clientCertificate: /nonexistent/v2.pem, privateKey: /nonexistent/v2.key}
  - name: v3
    labels: {version: v3}
    trafficPolicy:
      portLevelSettings:
      - port: {number: 9080}
        tls: {mode: MUTUAL, credentialName: reviews-v3-client}
`

/** The resource paths whose files PC4001 must name, in file order. */
const EXPECTED = [
  'DestinationRule default/nobody spec.trafficPolicy.tls',
  'DestinationRule default/reviews spec.trafficPolicy.portLevelSettings[0].tls',
  'DestinationRule default/reviews spec.subsets[1].trafficPolicy.tls',
  'DestinationRule default/reviews spec.subsets[2].trafficPolicy.portLevelSettings[0].tls',
]

function portcullis(args: string[], timeout: number) {
  const env = { ...process.env }
  delete env['NODE_TEST_CONTEXT']
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'src', 'main.ts'), ...args],
    {
      cwd: REPO_ROOT,
      env,
      encoding: 'utf8',
      timeout,
    },
  )
}

describe('DestinationRule TLS files are checked wherever a rule names them', () => {
  let reviews: Upstream
  let gw: GatewayProcess
  let dir: string
  let outboundPort: number
  let readiness: number

  const config = (withRules: boolean): string =>
    joinDocs(
      gatewayConfigDoc({
        readinessPort: readiness,
        accessLog: false,
        extraSpec: [`  outbound: {address: 127.0.0.1, port: ${outboundPort}}`],
      }),
      reviewsEntry(reviews.port),
      ...(withRules ? [BROKEN_RULES] : []),
    )

  before(async () => {
    reviews = await startUpstream({ name: 'reviews' })
    ;[outboundPort, readiness] = (await freePorts(2)) as [number, number]
    dir = mkdtempSync(join(tmpdir(), 'portcullis-mutual-'))
  })

  after(async () => {
    await gw?.cleanup()
    await reviews?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('validate exits 1 with PC4001 at each tls field, used by a route or not', () => {
    const file = join(dir, 'gateway.yaml')
    writeFileSync(file, config(true))
    const res = portcullis(['validate', file], 30_000)
    assert.equal(res.status, 1, res.stdout + res.stderr)
    const lines = res.stdout.split('\n').filter((l) => l.includes('PC4001'))
    for (const path of EXPECTED) {
      assert.ok(
        lines.some((l) => l.includes(path) && new RegExp(`^${file}:\\d+:\\d+ error`).test(l)),
        `${path} in:\n${res.stdout}`,
      )
    }
    assert.match(res.stdout, /subsets\[2\].*reviews-v3-client\/tls\.crt cannot be read: ENOENT/)
  })

  test('run does not start with them', () => {
    const file = join(dir, 'run.yaml')
    writeFileSync(file, config(true))
    const res = portcullis(['run', '-c', file], 20_000)
    assert.notEqual(res.status, 0, 'the process exits with an error')
    assert.notEqual(res.status, null, 'the process exits instead of serving')
    assert.match(res.stdout + res.stderr, /error PC4001 DestinationRule default\/nobody/)
  })

  test('a reload that adds them is refused and the old config keeps serving', async () => {
    gw = await startGateway({ yaml: config(false) })
    const get = () =>
      request(`http://127.0.0.1:${outboundPort}/reviews/0`, { headers: { host: 'reviews:9080' } })
    assert.equal((await get()).status, 200)
    const mark = gw.mark()
    await gw.writeConfig(config(true))
    await gw.waitForLine(
      /error PC4001 DestinationRule default\/reviews spec\.subsets\[1\]/,
      LOG_TIMEOUT_MS,
      {
        since: mark,
      },
    )
    await gw.waitForLine(/config rejected; still serving/, LOG_TIMEOUT_MS, { since: mark })
    const res = await get()
    assert.equal(res.status, 200, res.text)
    assert.equal(res.headers['x-upstream-name'], 'reviews')
  })
})
