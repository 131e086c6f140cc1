// docs/acme.md's examples, as printed: the VM example loads with no errors and compiles into one
// ACME certificate for the Gateway's credential; the Kubernetes commands run (kubectl apply is
// checked, not run: no cluster) and deploy/kubernetes/overlays/acme renders into a config with
// its redis.acme settings and a Deployment mounting the Secret they make; the EAB block compiles.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
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

test('the docs/acme.md Kubernetes commands run as printed against overlays/acme', (t) => {
  const md = readFileSync(join(REPO_ROOT, 'docs', 'acme.md'), 'utf8')
  const commands = /<!-- acme-k8s-commands:start -->\s*```sh\n([\s\S]*?)```/.exec(md)?.[1]
  assert.ok(commands !== undefined, 'docs/acme.md has the commands block')
  const lines = commands.trim().split('\n')
  const [keygen, createSecret, applySecret, kustomize, applyOverlay] = lines
  assert.equal(lines.length, 5)
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-acme-docs-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  for (const line of [keygen!, createSecret!]) {
    execFileSync('sh', ['-c', line], { cwd: dir, timeout: 20_000 })
  }
  const key = readFileSync(join(dir, 'acme-encryption.key'), 'utf8')
  assert.equal(Buffer.from(key.trim(), 'base64').length, 32)
  const secret = parse(readFileSync(join(dir, 'portcullis-acme-secret.yaml'), 'utf8')) as {
    kind: string
    metadata: { name: string }
    data: Record<string, string>
  }
  assert.equal(secret.kind, 'Secret')
  // No cluster here: apply -f takes the file the create line wrote, apply -k the rendered overlay.
  const written = />\s*(\S+)$/.exec(createSecret!)?.[1]
  assert.equal(applySecret, `kubectl apply -f ${written}`)
  const overlay = /^kubectl kustomize (\S+)$/.exec(kustomize!)?.[1]
  assert.equal(applyOverlay, `kubectl apply -k ${overlay}`)
  const rendered = execFileSync('sh', ['-c', kustomize!], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  })
  type Obj = {
    kind: string
    metadata: { name: string }
    data?: Record<string, string>
    spec?: {
      template: {
        spec: {
          volumes: { name: string; secret?: { secretName: string } }[]
          containers: { volumeMounts: { name: string; mountPath: string }[] }[]
        }
      }
    }
  }
  const objects = parseAllDocuments(rendered).map((d) => d.toJS() as Obj)
  const config = objects.find(
    (o) => o.kind === 'ConfigMap' && o.metadata.name === 'portcullis-config',
  )
  const loaded = loadConfigText({ 'gateway.yaml': config!.data!['gateway.yaml']! })
  assert.deepEqual(
    loaded.diagnostics.map((d) => d.code),
    [],
  )
  const compiled = compile(loaded.resources)
  const acme = compiled.snapshot.settings.redis?.acme
  assert.deepEqual(acme, {
    encryptionKeyFile: '/etc/portcullis/acme/encryption.key',
    lockTtlMs: 30_000,
  })
  assert.deepEqual(
    compiled.snapshot.acme?.certificates.map((c) => [c.secretName, c.challenges]),
    [['edge-tls', { 'www.example.com': 'http-01' }]],
  )
  // The Secret the commands make is the one mounted where encryptionKeyFile reads it.
  const pod = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'portcullis')!
    .spec!.template.spec
  const mount = pod.containers[0]!.volumeMounts.find(
    (m) => m.mountPath === dirname(acme.encryptionKeyFile),
  )
  const volume = pod.volumes.find((v) => v.name === mount?.name)
  assert.equal(volume?.secret?.secretName, secret.metadata.name)
  assert.deepEqual(Object.keys(secret.data), [basename(acme.encryptionKeyFile)])
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
