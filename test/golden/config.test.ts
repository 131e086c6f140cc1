// Golden tests for config diagnostics: each test/golden/config/<case>.yaml is loaded on its own and
// its formatted diagnostics (file:line:col, code, resource, path, message) must equal
// <case>.diag.txt. UPDATE_GOLDEN=1 rewrites the .diag.txt files (and docs/configuration.md, which
// is generated from the schemas and checked here too, as is docs/diagnostics.md).
//
// A golden file alone would happily record a regression, so every case also says in its first
// line which codes it is about (`# expect: PC1203 PC1202`, `no-errors` for accepted input); the
// test checks those independently of the golden text.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CONFIGURATION_MD, renderConfigurationDocs } from '../../scripts/gen-config-docs.js'
import { loadConfig } from '../../src/config/index.js'
import { CODES, formatDiagnosticsText } from '../../src/diag/index.js'

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const CASES = 'test/golden/config'
const UPDATE = process.env['UPDATE_GOLDEN'] === '1'

// Diagnostics show paths relative to the working directory; run from the repo root so the
// golden files read `test/golden/config/<case>.yaml` wherever the test is started from.
process.chdir(REPO_ROOT)

function expectations(text: string): { codes: string[]; noErrors: boolean } {
  const line = /^# expect:(.*)$/m.exec(text)?.[1]
  assert.ok(line !== undefined, 'a case starts with "# expect: <codes>" or "# expect: no-errors"')
  const words = line.trim().split(/\s+/)
  return { codes: words.filter((w) => /^PC\d{4}$/.test(w)), noErrors: words.includes('no-errors') }
}

describe('config diagnostics (golden)', () => {
  const cases = readdirSync(CASES)
    .filter((n) => n.endsWith('.yaml'))
    .sort()
  test('there are cases', () => {
    assert.ok(cases.length >= 30, `only ${cases.length} cases found in ${CASES}`)
  })
  for (const name of cases) {
    test(name, () => {
      const file = `${CASES}/${name}`
      const result = loadConfig([file])
      const text = formatDiagnosticsText(result.diagnostics)
      const actual = text === '' ? '' : `${text}\n`

      const want = expectations(readFileSync(file, 'utf8'))
      const seen = new Set(result.diagnostics.map((d) => d.code))
      for (const code of want.codes) {
        assert.ok(seen.has(code as never), `${name}: expected a ${code} diagnostic\n${actual}`)
      }
      if (want.noErrors) {
        const errors = result.diagnostics.filter((d) => d.severity === 'error')
        assert.equal(errors.length, 0, `${name}: expected no errors\n${actual}`)
      }
      for (const d of result.diagnostics) {
        assert.ok(d.loc !== undefined, `${name}: every diagnostic has a position (${d.code})`)
      }

      const golden = file.replace(/\.yaml$/, '.diag.txt')
      if (UPDATE) {
        writeFileSync(golden, actual)
        return
      }
      assert.ok(existsSync(golden), `${golden} is missing; run with UPDATE_GOLDEN=1`)
      assert.equal(actual, readFileSync(golden, 'utf8'))
    })
  }
})

describe('configuration docs', () => {
  test('docs/configuration.md is the output of scripts/gen-config-docs.ts', async () => {
    const generated = await renderConfigurationDocs()
    if (UPDATE) {
      writeFileSync(CONFIGURATION_MD, generated)
      return
    }
    assert.equal(
      readFileSync(CONFIGURATION_MD, 'utf8'),
      generated,
      'docs/configuration.md is stale: run node --import tsx scripts/gen-config-docs.ts',
    )
  })

  test('every kind has a table and every support level is named', async () => {
    const doc = (await renderConfigurationDocs()).replace(/ +\|/g, ' |')
    for (const kind of [
      'Gateway',
      'VirtualService',
      'DestinationRule',
      'ServiceEntry',
      'Sidecar',
    ]) {
      assert.match(doc, new RegExp(`^## ${kind}$`, 'm'))
    }
    assert.match(doc, /^## GatewayConfig$/m)
    assert.match(doc, /^\| `spec\.http\[\]\.route\[\]\.weight` \| integer \| supported \|/m)
    assert.match(doc, /^\| `spec\.http\[\]\.websocketUpgrade` \| boolean \| removed \|/m)
    assert.match(doc, /^\| `spec\.http\[\]\.match\[\]\.sourceLabels` \| [^|]+ \| mesh-only \|/m)
    assert.match(doc, /^\| `spec\.http\[\]\.mirrorPercent` \| integer \| deprecated \|/m)
    // A field inside a planned field is planned too.
    assert.match(
      doc,
      /^\| `spec\.trafficPolicy\.tunnel\.targetHost` \| string \(required\) \| planned \| follows/m,
    )
  })
})

describe('diagnostics docs', () => {
  test('docs/diagnostics.md lists every code with its severity and title', () => {
    const text = readFileSync(join(REPO_ROOT, 'docs', 'diagnostics.md'), 'utf8')
    const rows = new Map<string, { severity: string; title: string; todo: string }>()
    for (const line of text.split('\n')) {
      const cells = line.split('|').map((c) => c.trim())
      // | PC1203 | error | title | what to do |  →  ['', code, severity, title, todo, '']
      if (cells.length !== 6 || !/^PC\d{4}$/.test(cells[1]!)) continue
      const [, code, severity, title, todo] = cells as [string, string, string, string, string]
      assert.ok(!rows.has(code), `${code} is listed twice`)
      rows.set(code, { severity, title, todo })
    }
    const codes = Object.keys(CODES).sort()
    assert.deepEqual(
      [...rows.keys()].sort(),
      codes,
      'the codes in docs/diagnostics.md and src/diag/codes.ts differ',
    )
    for (const [code, info] of Object.entries(CODES)) {
      const row = rows.get(code)!
      assert.equal(row.severity, info.severity, `${code} severity`)
      assert.equal(row.title, info.title, `${code} title`)
      assert.notEqual(row.todo, '', `${code} says what to do`)
    }
  })
})
