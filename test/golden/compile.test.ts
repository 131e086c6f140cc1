// Golden tests for the compiler: each test/golden/compile/<case>.in.yaml is loaded and compiled;
// the snapshot (pretty canonical JSON, hash included) must equal <case>.out.json and the
// formatted compile diagnostics must equal <case>.diag.txt (empty when there are none).
// UPDATE_GOLDEN=1 rewrites both.
//
// A golden file alone would happily record a regression, so every case says in its first line
// which compile codes it is about (`# expect: PC3001 PC2002`, or `# expect: none`); the test
// checks those independently of the golden text. Load errors fail a case unless its header
// lists them (`# load-errors: PC1301`).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compile, snapshotHash } from '../../src/compile/index.js'
import { loadConfigText } from '../../src/config/index.js'
import { formatDiagnosticsText } from '../../src/diag/index.js'
import { canonicalJson } from '../../src/lib/index.js'

const CASES = join(dirname(fileURLToPath(import.meta.url)), 'compile')
const UPDATE = process.env['UPDATE_GOLDEN'] === '1'

function header(text: string, key: string): string[] | undefined {
  const line = new RegExp(`^# ${key}:(.*)$`, 'm').exec(text)?.[1]
  return line?.trim().split(/\s+/)
}

/** JSON with sorted keys, indented: what the golden files hold. */
function prettyCanonical(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort)
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      )
    }
    return v
  }
  return `${JSON.stringify(sort(value), null, 2)}\n`
}

function compileCase(name: string) {
  const file = `${name}.in.yaml`
  const text = readFileSync(join(CASES, file), 'utf8')
  const loaded = loadConfigText({ [file]: text })
  return { text, loaded, compiled: compile(loaded.resources) }
}

describe('compile (golden)', () => {
  const cases = readdirSync(CASES)
    .filter((n) => n.endsWith('.in.yaml'))
    .map((n) => n.slice(0, -'.in.yaml'.length))
    .sort()
  test('there are cases', () => {
    assert.ok(cases.length >= 20, `only ${cases.length} cases found in ${CASES}`)
  })
  for (const name of cases) {
    test(name, () => {
      const { text, loaded, compiled } = compileCase(name)
      const allowed = new Set(header(text, 'load-errors') ?? [])
      const loadErrors = loaded.diagnostics.filter(
        (d) => d.severity === 'error' && !allowed.has(d.code),
      )
      assert.deepEqual(loadErrors, [], `${name}: the fixture must load without errors`)

      const diagText = formatDiagnosticsText(compiled.diagnostics)
      const actualDiags = diagText === '' ? '' : `${diagText}\n`
      const expect = header(text, 'expect')
      assert.ok(
        expect !== undefined,
        `${name}: starts with "# expect: <codes>" or "# expect: none"`,
      )
      const seen = new Set<string>(compiled.diagnostics.map((d) => d.code))
      if (expect.includes('none')) {
        assert.equal(actualDiags, '', `${name}: expected no compile diagnostics`)
      }
      for (const code of expect.filter((w) => /^PC\d{4}$/.test(w))) {
        assert.ok(seen.has(code), `${name}: expected a ${code} diagnostic\n${actualDiags}`)
      }
      for (const d of compiled.diagnostics) {
        assert.ok(d.resource !== undefined && d.path !== undefined && d.loc !== undefined, d.code)
      }

      const { hash, ...rest } = compiled.snapshot
      assert.equal(hash, snapshotHash(rest), 'hash covers everything else')
      assert.ok(Object.isFrozen(compiled.snapshot.listeners), 'the snapshot is deep-frozen')

      const outFile = join(CASES, `${name}.out.json`)
      const diagFile = join(CASES, `${name}.diag.txt`)
      const actualOut = prettyCanonical(compiled.snapshot)
      if (UPDATE) {
        writeFileSync(outFile, actualOut)
        writeFileSync(diagFile, actualDiags)
        return
      }
      assert.ok(existsSync(outFile), `${outFile} is missing; run with UPDATE_GOLDEN=1`)
      assert.equal(actualDiags, readFileSync(diagFile, 'utf8'))
      assert.equal(actualOut, readFileSync(outFile, 'utf8'))
    })
  }
})

describe('compile determinism', () => {
  const base = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [a.example.com]
  gateways: [gw]
  http:
  - route:
    - destination: {host: a.example.com}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: [a.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`
  const run = (yaml: string) => compile(loadConfigText({ 'gateway.yaml': yaml }).resources)

  test('compiling the same resources twice gives the same snapshot and hash', () => {
    const a = run(base)
    const b = run(base)
    assert.equal(a.snapshot.hash, b.snapshot.hash)
    assert.equal(canonicalJson(a.snapshot), canonicalJson(b.snapshot))
  })

  test('changing one field changes the hash', () => {
    const a = run(base)
    const b = run(base.replace('address: 127.0.0.1', 'address: 127.0.0.2'))
    assert.notEqual(a.snapshot.hash, b.snapshot.hash)
    const c = run(base.replace('number: 8080', 'number: 8081'))
    assert.notEqual(a.snapshot.hash, c.snapshot.hash)
    // A route stands in the hash as its own digest; its fields still count.
    const d = run(base.replace('- route:', '- timeout: 3s\n    route:'))
    assert.notEqual(a.snapshot.hash, d.snapshot.hash)
  })

  test('the snapshot cannot be modified', () => {
    const { snapshot } = run(base)
    const listener = snapshot.listeners[0]!
    assert.throws(() => {
      ;(listener as { port: number }).port = 1
    }, TypeError)
    assert.equal(listener.port, 8080)
  })
})
