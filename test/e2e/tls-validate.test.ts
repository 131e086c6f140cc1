// `portcullis validate` reads the certificate files a config names: missing or unreadable files,
// a key that is not the certificate's, hosts the certificate does not cover, expired and not yet
// valid certificates, each reported at the field that named the file (file:line:col).
import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCa, issueCertificate, type Pem } from '../../src/cli/cert-forge.js'
import { REPO_ROOT } from './harness/index.js'

const DAY_MS = 86_400_000

interface Reported {
  code: string
  severity: string
  message: string
  resource?: { kind: string; namespace: string; name: string }
  path?: string
  loc?: { file: string; line: number; col: number }
}

function validate(file: string): { status: number | null; diagnostics: Reported[] } {
  const env = { ...process.env }
  delete env['NODE_TEST_CONTEXT']
  const res = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'src', 'main.ts'), 'validate', '--format', 'json', file],
    { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 30_000 },
  )
  const parsed = JSON.parse(res.stdout) as { diagnostics: Reported[] }
  return {
    status: res.status,
    diagnostics: parsed.diagnostics.filter((d) => /^PC400/.test(d.code)),
  }
}

// The first tls field after `mode:` is line 10 (its value at col 25), the second line 11.
function gateway(tls: string): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  servers:
    - port: { number: 8443, name: https, protocol: HTTPS }
      hosts: [web.example.com, "*.api.example.com"]
      tls:
        mode: SIMPLE
${tls}`
}

let ca: Pem
let good: Pem
let other: Pem
let expired: Pem
let future: Pem
let narrow: Pem

before(() => {
  ca = createCa()
  const hosts = ['web.example.com', '*.api.example.com']
  good = issueCertificate(ca, { hosts })
  other = issueCertificate(ca, { hosts })
  expired = issueCertificate(ca, { hosts, notBefore: new Date(Date.now() - 10 * DAY_MS), days: 2 })
  future = issueCertificate(ca, { hosts, notBefore: new Date(Date.now() + 10 * DAY_MS) })
  narrow = issueCertificate(ca, { hosts: ['web.example.com'] })
})

function setup(
  t: { after(fn: () => void): void },
  tls: string,
  credentials: Record<string, { cert?: string; key?: string }>,
): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-certcheck-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  for (const [name, files] of Object.entries(credentials)) {
    mkdirSync(join(dir, 'certs', name), { recursive: true })
    if (files.cert !== undefined) writeFileSync(join(dir, 'certs', name, 'tls.crt'), files.cert)
    if (files.key !== undefined) writeFileSync(join(dir, 'certs', name, 'tls.key'), files.key)
  }
  const file = join(dir, 'gateway.yaml')
  writeFileSync(file, gateway(tls))
  return file
}

describe('validate reads certificate files', () => {
  test('good credential: no certificate diagnostics, exit 0', (t) => {
    const file = setup(t, '        credentialName: web\n', { web: good })
    const res = validate(file)
    assert.deepEqual(res.diagnostics, [])
    assert.equal(res.status, 0)
  })

  test('missing credential files: PC4001 at credentialName with resource, path and position', (t) => {
    const file = setup(t, '        credentialName: web\n', {})
    const res = validate(file)
    assert.equal(res.status, 1)
    const d = res.diagnostics.find((x) => x.code === 'PC4001')
    assert.ok(d, JSON.stringify(res.diagnostics))
    assert.equal(d.severity, 'error')
    assert.deepEqual(d.resource, { kind: 'Gateway', namespace: 'default', name: 'edge' })
    assert.equal(d.path, 'spec.servers[0].tls.credentialName')
    assert.deepEqual(d.loc, { file, line: 10, col: 25 })
    assert.match(d.message, /certs\/web\/tls\.(crt|key) cannot be read: no such file/)
  })

  test('unreadable (not PEM) certificate file: PC4001', (t) => {
    const file = setup(t, '        credentialName: web\n', {
      web: { cert: 'garbage', key: good.key },
    })
    const res = validate(file)
    assert.equal(res.status, 1)
    assert.match(res.diagnostics[0]?.message ?? '', /tls\.crt is not a PEM certificate/)
  })

  test('a key that is not the certificate’s: PC4002 at privateKey', (t) => {
    const file = setup(
      t,
      '        serverCertificate: certs/web/tls.crt\n        privateKey: certs/web/tls.key\n',
      { web: { cert: good.cert, key: other.key } },
    )
    const res = validate(file)
    assert.equal(res.status, 1)
    assert.equal(res.diagnostics.length, 1, JSON.stringify(res.diagnostics))
    const d = res.diagnostics[0]!
    assert.equal(d.code, 'PC4002')
    assert.equal(d.path, 'spec.servers[0].tls.privateKey')
    assert.equal(d.loc?.line, 11)
  })

  test('a certificate that does not cover a server host: PC4003 warning, exit 0', (t) => {
    const file = setup(t, '        credentialName: web\n', { web: narrow })
    const res = validate(file)
    assert.equal(res.status, 0)
    assert.equal(res.diagnostics.length, 1, JSON.stringify(res.diagnostics))
    assert.equal(res.diagnostics[0]?.code, 'PC4003')
    assert.equal(res.diagnostics[0]?.severity, 'warning')
    assert.match(res.diagnostics[0]?.message ?? '', /does not cover host "\*\.api\.example\.com"/)
  })

  test('expired and not yet valid certificates: PC4004', (t) => {
    for (const [pem, pattern] of [
      [expired, /expired on/],
      [future, /is not valid before/],
    ] as const) {
      const file = setup(t, '        credentialName: web\n', { web: pem })
      const res = validate(file)
      assert.equal(res.status, 1)
      assert.equal(res.diagnostics[0]?.code, 'PC4004', JSON.stringify(res.diagnostics))
      assert.match(res.diagnostics[0]?.message ?? '', pattern)
    }
  })
})
