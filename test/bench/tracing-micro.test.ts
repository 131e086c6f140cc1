// bench/micro/tracing-start.ts, run as docs/tracing.md and bench/README.md print it: it runs to
// the end and prints a figure for each of its four cases.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { REPO_ROOT } from '../e2e/harness/index.js'

test('node --import tsx bench/micro/tracing-start.ts prints ns per request for each case', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/micro/tracing-start.ts'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  })
  assert.equal(r.status, 0, r.stderr)
  for (const name of [
    'no trace context, 0 % sampled',
    'no trace context, 1 % sampled',
    'unsampled traceparent (SDK path)',
    'no trace context, 0 %, through the SDK (before)',
  ]) {
    assert.match(r.stdout, new RegExp(`${name.replace(/[()%]/g, '\\$&')}\\s+\\d+\\n`), name)
  }
})
