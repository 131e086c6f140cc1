import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { createConfigHasher, hashConfigFiles } from './watcher.js'

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-hasher-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('the stamp cache agrees with hashing every file, through writes, rewrites and removals', (t) => {
  const dir = tempDir(t)
  const a = join(dir, 'a.yaml')
  const b = join(dir, 'b.yaml')
  writeFileSync(a, 'kind: A\n')
  writeFileSync(b, 'kind: B\n')
  const hasher = createConfigHasher()
  const first = hasher.hash([dir])
  assert.equal(first, hashConfigFiles([dir]))
  // Same size, same second: within the racy window the file is read again, so this is seen.
  writeFileSync(a, 'kind: C\n')
  const second = hasher.hash([dir])
  assert.notEqual(second, first)
  assert.equal(second, hashConfigFiles([dir]))
  unlinkSync(b)
  assert.equal(hasher.hash([dir]), hashConfigFiles([dir]))
})

test('an old file whose stamp is unchanged is not read again; a new stamp is', (t) => {
  const dir = tempDir(t)
  const a = join(dir, 'a.yaml')
  writeFileSync(a, 'kind: A\n')
  const past = new Date(Date.now() - 3_600_000)
  utimesSync(a, past, past)
  // A clock an hour ahead: every stamp (ctime included) is outside the racy window.
  const hasher = createConfigHasher(() => Date.now() + 3_600_000)
  const first = hasher.hash([dir])
  // Another size with the times put back: the stamp still differs, so the file is read. (The
  // same size in the same clock tick is what the racy window covers, faked away here.)
  writeFileSync(a, 'kind: Bigger\n')
  utimesSync(a, past, past)
  const second = hasher.hash([dir])
  assert.notEqual(second, first)
  assert.equal(second, hashConfigFiles([dir]))
  assert.equal(hasher.hash([dir]), second)
})
