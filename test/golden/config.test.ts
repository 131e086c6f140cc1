// Golden tests for config diagnostics: each test/golden/config/<case>.yaml is loaded on its own and
// its formatted diagnostics (file:line:col, code, resource, path, message) must equal
// <case>.diag.txt. UPDATE_GOLDEN=1 rewrites the .diag.txt files.
//
// A golden file alone would happily record a regression, so every case also says in its first
// line which codes it is about (`# expect: PC1203 PC1202`, `no-errors` for accepted input); the
// test checks those independently of the golden text.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../src/config/index.js'
import { formatDiagnosticsText } from '../../src/diag/index.js'

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
