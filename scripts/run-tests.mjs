#!/usr/bin/env node
// Runs node:test over an explicit file list. Node 20 finds no .ts tests on its own (the default
// patterns are .js/.mjs/.cjs and quoted globs are not expanded), so we walk the tree ourselves.
// Usage: node scripts/run-tests.mjs [dir-or-file ...]   (default: src test)
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

const roots = process.argv.slice(2).filter((a) => !a.startsWith('-'))
const passThrough = process.argv.slice(2).filter((a) => a.startsWith('-'))
const files = []
function walk(p) {
  let st
  try {
    st = statSync(p)
  } catch {
    return
  }
  if (st.isDirectory()) {
    if (p.endsWith('node_modules')) return
    for (const e of readdirSync(p).sort()) walk(join(p, e))
  } else if (p.endsWith('.test.ts')) files.push(p)
}
for (const r of roots.length > 0 ? roots : ['src', 'test']) walk(r)
if (files.length === 0) {
  console.error('no test files found')
  process.exit(1)
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2'
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...passThrough, ...files],
  { stdio: 'inherit' },
)
process.exit(res.status ?? 1)
