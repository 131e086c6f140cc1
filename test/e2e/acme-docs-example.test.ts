// docs/acme.md's VM example, as printed: it loads with no errors and compiles into one ACME
// certificate for the Gateway's credential.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
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
