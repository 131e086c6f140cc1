import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compile } from '../compile/index.js'
import { buildSnapshot } from './build.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-upstream-tls-'))

function config(files: { cert: string; key: string; ca: string }): string {
  const path = join(dir, `gateway-${Math.random().toString(36).slice(2)}.yaml`)
  writeFileSync(
    path,
    `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: 3128, address: 127.0.0.1}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-entry}
spec:
  hosts: [ext-resource.com]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 443}]
  location: MESH_EXTERNAL
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ext-res-dr}
spec:
  host: ext-resource.com
  trafficPolicy:
    tls:
      mode: MUTUAL
      clientCertificate: ${files.cert}
      privateKey: ${files.key}
      caCertificates: ${files.ca}
`,
  )
  return path
}

describe('DestinationRule MUTUAL files are checked before a config is accepted', () => {
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('missing files reject the build that validate, run and reloads share (PC4001)', () => {
    const built = buildSnapshot(
      [config({ cert: join(dir, 'nope.pem'), key: join(dir, 'nope.key'), ca: join(dir, 'ca') })],
      compile,
    )
    assert.equal(built.ok, false)
    const found = built.diagnostics.filter((d) => d.code === 'PC4001')
    assert.equal(found.length, 3)
    assert.match(found[0]!.message, /MUTUAL clientCertificate .*nope\.pem cannot be read: ENOENT/)
    assert.equal(found[0]!.severity, 'error')
  })

  test('readable PEM files pass', () => {
    const pem = (name: string, label: string) => {
      const file = join(dir, name)
      writeFileSync(file, `-----BEGIN ${label}-----\nMIIB\n-----END ${label}-----\n`)
      return file
    }
    const built = buildSnapshot(
      [
        config({
          cert: pem('c.pem', 'CERTIFICATE'),
          key: pem('k.pem', 'PRIVATE KEY'),
          ca: pem('ca.pem', 'CERTIFICATE'),
        }),
      ],
      compile,
    )
    assert.deepEqual(
      built.diagnostics.filter((d) => d.code === 'PC4001'),
      [],
    )
    assert.equal(built.ok, true)
  })
})
