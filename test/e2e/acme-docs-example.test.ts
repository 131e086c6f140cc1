// docs/acme.md's examples, as printed: the VM example loads with no errors and compiles into one
// ACME certificate for the Gateway's credential; the Kubernetes commands run and the fleet
// GatewayConfig loads with its redis.acme settings.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compile } from '../../src/compile/index.js'
import { loadConfigText } from '../../src/config/index.js'
import { REPO_ROOT } from './harness/index.js'

test('the docs/acme.md example loads and compiles into an ACME certificate', () => {
  const md = readFileSync(join(REPO_ROOT, 'docs', 'acme.md'), 'utf8')
  const block = /<!-- acme-example:start -->\s*```yaml\n([\s\S]*?)```/.exec(md)?.[1]
  assert.ok(block !== undefined, 'docs/acme.md has the example block')
  const loaded = loadConfigText({ 'gateway.yaml': block })
  assert.deepEqual(
    loaded.diagnostics.map((d) => d.code),
    [],
  )
  const compiled = compile(loaded.resources)
  assert.deepEqual(
    compiled.diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  const certs = compiled.snapshot.acme?.certificates ?? []
  assert.deepEqual(
    certs.map((c) => [c.id, c.dnsNames, c.challenges, c.issuer.directoryUrl]),
    [
      [
        'default/www',
        ['www.example.com'],
        { 'www.example.com': 'http-01' },
        'https://acme-v02.api.letsencrypt.org/directory',
      ],
    ],
  )
})

test('the docs/acme.md Kubernetes commands run as printed; the fleet GatewayConfig loads', () => {
  const md = readFileSync(join(REPO_ROOT, 'docs', 'acme.md'), 'utf8')
  const commands = /<!-- acme-k8s-commands:start -->\s*```sh\n([\s\S]*?)```/.exec(md)?.[1]
  assert.ok(commands !== undefined, 'docs/acme.md has the commands block')
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-acme-docs-'))
  try {
    for (const line of commands.trim().split('\n')) {
      execFileSync('sh', ['-c', line], { cwd: dir, timeout: 20_000 })
    }
    const key = readFileSync(join(dir, 'acme-encryption.key'), 'utf8')
    assert.equal(Buffer.from(key.trim(), 'base64').length, 32)
    const secret = readFileSync(join(dir, 'portcullis-acme-secret.yaml'), 'utf8')
    assert.match(secret, /kind: Secret/)
    assert.match(secret, /encryption\.key: /)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const block = /<!-- acme-fleet-example:start -->\s*```yaml\n([\s\S]*?)```/.exec(md)?.[1]
  assert.ok(block !== undefined, 'docs/acme.md has the fleet block')
  const loaded = loadConfigText({ 'gateway.yaml': block })
  assert.deepEqual(
    loaded.diagnostics.map((d) => d.code),
    [],
  )
  const compiled = compile(loaded.resources)
  assert.deepEqual(compiled.snapshot.settings.redis?.acme, {
    encryptionKeyFile: '/etc/portcullis/acme/encryption.key',
    lockTtlMs: 30_000,
  })
})

test('the docs/acme.md external account binding block compiles into the issuer', () => {
  const md = readFileSync(join(REPO_ROOT, 'docs', 'acme.md'), 'utf8')
  const example = /<!-- acme-example:start -->\s*```yaml\n([\s\S]*?)```/.exec(md)?.[1]
  const eab = /<!-- acme-eab-example:start -->\s*```yaml\n([\s\S]*?)```/.exec(md)?.[1]
  assert.ok(example !== undefined && eab !== undefined, 'docs/acme.md has both blocks')
  // Indented under the ClusterIssuer's acme, after its email.
  const at = '    email: ops@example.com\n'
  assert.ok(example.includes(at))
  const indented = eab
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}\n`)
    .join('')
  const loaded = loadConfigText({ 'gateway.yaml': example.replace(at, at + indented) })
  assert.deepEqual(
    loaded.diagnostics.map((d) => d.code),
    [],
  )
  const compiled = compile(loaded.resources)
  const binding = compiled.snapshot.acme?.certificates[0]?.issuer.externalAccountBinding
  assert.equal(binding?.keyId, 'kid-1')
  assert.equal(binding?.hmacKeyFile, join('certs', 'zerossl-eab', 'secret'))
})
