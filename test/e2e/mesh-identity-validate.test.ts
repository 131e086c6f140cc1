// Validation of ISTIO_MUTUAL and GatewayConfig spec.meshIdentity, as `validate`, `run` and
// reloads judge a config (load → compile → certificate checks): docs/mesh-identity.md's example
// as printed compiles into Istio's SNI and ALPN; without the identity files each ISTIO_MUTUAL is
// PC1113 saying how to configure one; broken files are reported at the field that named them;
// the three ISTIO_MUTUAL files of the Istio sample corpus load once the identity (and the one
// MUTUAL Secret they name) exists.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { compile } from '../../src/compile/index.js'
import { loadConfig } from '../../src/config/index.js'
import type { Diagnostic } from '../../src/diag/index.js'
import { buildSnapshot } from '../../src/runtime/index.js'
import { REPO_ROOT } from './harness/index.js'
import { createMeshCa, issueWorkloadCert, meshFiles, type MeshPem } from './mesh-identity-kit.js'

const SAMPLES = join(REPO_ROOT, '..', 'shared', 'istio-samples')
const MESH_SAMPLES = [
  'bookinfo-destination-rule-all-mtls.yaml',
  'egress-gateway-mtls-origination.yaml',
  'egress-gateway-tls-origination-simple.yaml',
]

function docExample(): string {
  const md = readFileSync(join(REPO_ROOT, 'docs', 'mesh-identity.md'), 'utf8')
  const block = /<!-- mesh-identity-example:start -->\s*```yaml\n([\s\S]*?)```/.exec(md)?.[1]
  assert.ok(block !== undefined, 'docs/mesh-identity.md has the example block')
  return block
}

function write(dir: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true })
    writeFileSync(join(dir, rel), text)
  }
}

const errors = (ds: readonly Diagnostic[]) => ds.filter((d) => d.severity === 'error')
const where = (d: Diagnostic) =>
  `${d.loc?.line ?? '?'}:${d.loc?.col ?? '?'} ${d.code} ${d.resource?.kind ?? ''} ${d.path ?? ''}`

describe('mesh identity validation', () => {
  let dir: string
  let ca: MeshPem
  let workload: MeshPem

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-mesh-'))
    ca = createMeshCa()
    workload = issueWorkloadCert(ca, 'spiffe://cluster.local/ns/istio-system/sa/portcullis')
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('the docs example, as printed, compiles into Istio SNI, ALPN and a mesh server', () => {
    const d = join(dir, 'docs')
    write(d, { 'gateway.yaml': docExample(), ...meshFiles('mesh', ca, workload) })
    const r = buildSnapshot([join(d, 'gateway.yaml')], compile)
    assert.deepEqual(errors(r.diagnostics), [])
    assert.ok(r.ok)
    const cluster = r.snapshot.clusters['outbound|9080|v1|reviews.default.svc.cluster.local']
    assert.deepEqual(cluster?.policy?.tls, {
      mode: 'ISTIO_MUTUAL',
      mesh: { trustDomain: 'cluster.local', alpn: ['istio-http/1.1', 'istio', 'http/1.1'] },
      certFile: join(d, 'mesh/cert-chain.pem'),
      keyFile: join(d, 'mesh/key.pem'),
      caFile: join(d, 'mesh/root-cert.pem'),
      subjectAltNames: ['spiffe://cluster.local/ns/default/sa/bookinfo-reviews'],
      sni: 'outbound_.9080_.v1_.reviews.default.svc.cluster.local',
      insecureSkipVerify: false,
    })
    const chain = r.snapshot.listeners.find((l) => l.port === 8443)?.chains[0]
    assert.ok(chain?.kind === 'tls')
    assert.equal(chain?.tls?.mode, 'ISTIO_MUTUAL')
    assert.deepEqual(chain?.tls?.certificates, [
      { certFile: join(d, 'mesh/cert-chain.pem'), keyFile: join(d, 'mesh/key.pem') },
    ])
    assert.equal(chain?.tls?.client?.required, true)
    assert.equal(chain?.tls?.client?.caFile, join(d, 'mesh/root-cert.pem'))
  })

  test('without the identity files every ISTIO_MUTUAL is PC1113 saying how to configure one', () => {
    const d = join(dir, 'missing')
    write(d, { 'gateway.yaml': docExample() })
    const r = buildSnapshot([join(d, 'gateway.yaml')], compile)
    assert.equal(r.ok, false)
    const errs = errors(r.diagnostics)
    assert.deepEqual(errs.map(where), [
      '29:13 PC1113 DestinationRule spec.trafficPolicy.tls.mode',
      '42:20 PC1113 Gateway spec.servers[0].tls.mode',
    ])
    for (const e of errs) {
      assert.ok(e.message.includes(join(d, 'mesh/cert-chain.pem')), e.message)
      assert.match(e.message, /Set GatewayConfig spec\.meshIdentity \(certChain/)
    }
  })

  test("a key that is not the certificate's: PC4002 at the meshIdentity field, file and line", () => {
    const d = join(dir, 'badkey')
    const other = issueWorkloadCert(ca, 'spiffe://cluster.local/ns/default/sa/other')
    write(d, {
      'gateway.yaml': docExample(),
      ...meshFiles('mesh', ca, workload),
      'mesh/key.pem': other.key,
    })
    const r = buildSnapshot([join(d, 'gateway.yaml')], compile)
    assert.equal(r.ok, false)
    const errs = errors(r.diagnostics)
    assert.deepEqual(errs.map(where), ['7:17 PC4002 GatewayConfig spec.meshIdentity.privateKey'])
    assert.equal(errs[0]?.loc?.file, join(d, 'gateway.yaml'))
  })

  test('a trust domain that is not one is refused at its field', () => {
    const d = join(dir, 'td')
    write(d, {
      'gateway.yaml': docExample().replace(
        'trustDomain: cluster.local',
        'trustDomain: Cluster_Local',
      ),
      ...meshFiles('mesh', ca, workload),
    })
    const r = buildSnapshot([join(d, 'gateway.yaml')], compile)
    const found = errors(r.diagnostics).find((e) => e.path === 'spec.meshIdentity.trustDomain')
    assert.ok(found !== undefined, 'no error at spec.meshIdentity.trustDomain')
    assert.equal(where(found), '9:18 PC1104 GatewayConfig spec.meshIdentity.trustDomain')
    assert.match(found.message, /is not a SPIFFE trust domain/)
  })

  describe(
    'the ISTIO_MUTUAL files of the Istio sample corpus',
    { skip: !existsSync(SAMPLES) },
    () => {
      test(
        "are refused (PC1113) without an identity, at Istio's default paths",
        {
          skip: existsSync('/etc/certs/cert-chain.pem')
            ? '/etc/certs holds certificates here'
            : false,
        },
        () => {
          for (const name of MESH_SAMPLES) {
            const codes = errors(loadConfig([join(SAMPLES, name)]).diagnostics).map((d) => d.code)
            assert.ok(
              codes.length > 0 && codes.every((c) => c === 'PC1113'),
              `${name}: ${codes.join(', ')}`,
            )
          }
        },
      )

      test('load and compile once the identity files exist', () => {
        const d = join(dir, 'samples')
        write(d, {
          ...meshFiles('mesh', ca, workload),
          // The MUTUAL origination of egress-gateway-mtls-origination names the Secret
          // client-credential: its files must exist too (every DestinationRule's are checked).
          'certs/client-credential/tls.crt': workload.cert,
          'certs/client-credential/tls.key': workload.key,
          // An outbound listener, so the DestinationRule-only bookinfo file serves something.
          'config.yaml': `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: { name: gateway }
spec:
  outbound: { port: 15001 }
  meshIdentity: { certChain: mesh/cert-chain.pem, privateKey: mesh/key.pem, rootCert: mesh/root-cert.pem }
`,
        })
        for (const name of MESH_SAMPLES) {
          const r = buildSnapshot([join(d, 'config.yaml'), join(SAMPLES, name)], compile)
          assert.deepEqual(errors(r.diagnostics).map(where), [], name)
          assert.ok(r.ok, name)
        }
      })
    },
  )
})
