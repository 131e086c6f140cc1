import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Diagnostic } from '../diag/index.js'
import { runValidate, summary } from './validate.js'

const warning: Diagnostic = { code: 'PC2002', severity: 'warning', message: 'no ServiceEntry' }
const error: Diagnostic = {
  code: 'PC1002',
  severity: 'error',
  message: 'bad YAML',
  loc: { file: 'gateway.yaml', line: 3, col: 5 },
}

test('summary counts errors and warnings', () => {
  assert.equal(summary([]), '0 errors, 0 warnings')
  assert.equal(summary([error, warning, warning]), '1 error, 2 warnings')
})

test('text output: one line per diagnostic then the summary; exit 1 on errors', () => {
  let out = ''
  const code = runValidate({
    paths: ['gateway.yaml'],
    format: 'text',
    check: () => ({ diagnostics: [error, warning] }),
    write: (s) => (out += s),
  })
  assert.equal(code, 1)
  assert.equal(
    out,
    'gateway.yaml:3:5 error PC1002: bad YAML\nwarning PC2002: no ServiceEntry\n1 error, 1 warning\n',
  )
})

test('warnings alone exit 0', () => {
  const code = runValidate({
    paths: ['x'],
    format: 'json',
    check: () => ({ diagnostics: [warning] }),
    write: () => undefined,
  })
  assert.equal(code, 0)
})
