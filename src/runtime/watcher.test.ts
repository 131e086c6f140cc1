import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../lib/index.js'
import { watchConfig } from './watcher.js'

const DEBOUNCE_MS = 100

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-watch-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Polls until `predicate` holds, for at most `timeoutMs`. */
async function eventually(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`)
    await sleep(20)
  }
}

function startWatching(t: { after(fn: () => void): void }, paths: string[]) {
  let changes = 0
  const named: (readonly string[] | undefined)[] = []
  const watcher = watchConfig({
    paths,
    onChange: (changed) => {
      changes += 1
      named.push(changed !== undefined ? [...changed].sort() : undefined)
    },
    logger: silentLogger,
    debounceMs: DEBOUNCE_MS,
  })
  t.after(() => watcher.close())
  return { watcher, changes: () => changes, named }
}

function writeAtomically(path: string, text: string, suffix: string): void {
  const tmp = `${path}.${suffix}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
}

/** A Kubernetes ConfigMap volume: gateway.yaml -> ..data/gateway.yaml, ..data -> ..<version>. */
function configMapVolume(dir: string, text: string): (text: string, version: string) => void {
  const publish = (content: string, version: string): void => {
    mkdirSync(join(dir, `..${version}`))
    writeFileSync(join(dir, `..${version}`, 'gateway.yaml'), content)
    symlinkSync(`..${version}`, join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  }
  publish(text, 'v1')
  symlinkSync('..data/gateway.yaml', join(dir, 'gateway.yaml'))
  return publish
}

describe('config watcher', () => {
  test('fires once for a burst of rename-style writes', async (t) => {
    const dir = tempDir(t)
    const file = join(dir, 'gateway.yaml')
    writeFileSync(file, 'a: 1\n')
    const w = startWatching(t, [file])
    assert.deepEqual(w.watcher.directories, [dir])

    for (let i = 2; i <= 6; i++) writeAtomically(file, `a: ${i}\n`, String(i))
    await eventually(() => w.changes() >= 1)
    await sleep(DEBOUNCE_MS * 4)
    assert.equal(w.changes(), 1)
  })

  test('does not fire when the content is the same', async (t) => {
    const dir = tempDir(t)
    const file = join(dir, 'gateway.yaml')
    writeFileSync(file, 'a: 1\n')
    const w = startWatching(t, [file])
    writeAtomically(file, 'a: 1\n', 'same')
    writeFileSync(join(dir, 'unrelated.log'), 'noise')
    await sleep(DEBOUNCE_MS * 5)
    assert.equal(w.changes(), 0)
    // The watcher is alive: a real change still fires.
    writeAtomically(file, 'a: 2\n', 'changed')
    await eventually(() => w.changes() === 1)
  })

  test('fires again for each write that completes a half-written file', async (t) => {
    const dir = tempDir(t)
    const file = join(dir, 'gateway.yaml')
    writeFileSync(file, 'a: 1\n')
    const w = startWatching(t, [file])
    writeFileSync(file, 'a: [')
    await eventually(() => w.changes() === 1)
    writeFileSync(file, 'a: [2]\n')
    await eventually(() => w.changes() === 2)
  })

  test('fires on a ConfigMap-style ..data symlink swap, file path given', async (t) => {
    const dir = tempDir(t)
    const publish = configMapVolume(dir, 'a: 1\n')
    const w = startWatching(t, [join(dir, 'gateway.yaml')])
    publish('a: 2\n', 'v2')
    await eventually(() => w.changes() === 1)
  })

  test('fires on a ConfigMap-style ..data symlink swap, directory given', async (t) => {
    const dir = tempDir(t)
    const publish = configMapVolume(dir, 'a: 1\n')
    const w = startWatching(t, [dir])
    assert.ok(w.watcher.directories.includes(dir))
    publish('a: 2\n', 'v2')
    await eventually(() => w.changes() === 1)
  })

  test('fires when a file is added to a config directory', async (t) => {
    const dir = tempDir(t)
    writeFileSync(join(dir, 'gateway.yaml'), 'a: 1\n')
    const w = startWatching(t, [dir])
    writeAtomically(join(dir, 'routes.yaml'), 'b: 1\n', 'new')
    await eventually(() => w.changes() === 1)
  })

  test('names the one file written in a config directory; a ..data swap names none', async (t) => {
    const dir = tempDir(t)
    const publish = configMapVolume(dir, 'a: 1\n')
    writeFileSync(join(dir, 'tenant-1.yaml'), 'b: 1\n')
    writeFileSync(join(dir, 'tenant-2.yaml'), 'c: 1\n')
    const w = startWatching(t, [dir])
    writeFileSync(join(dir, 'tenant-2.yaml'), 'c: 2\n')
    await eventually(() => w.changes() === 1)
    assert.deepEqual(w.named, [[join(dir, 'tenant-2.yaml')]])
    publish('a: 2\n', 'v2')
    await eventually(() => w.changes() === 2)
    assert.equal(w.named[1], undefined, 'every file may have changed')
  })

  test('is silent after close', async (t) => {
    const dir = tempDir(t)
    const file = join(dir, 'gateway.yaml')
    writeFileSync(file, 'a: 1\n')
    const w = startWatching(t, [file])
    w.watcher.close()
    writeAtomically(file, 'a: 2\n', 'closed')
    await sleep(DEBOUNCE_MS * 4)
    assert.equal(w.changes(), 0)
  })
})
