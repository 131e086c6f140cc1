import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createAccessLogWriter } from './access-log-writer.js'

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-access-log-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function numberedLine(i: number): string {
  return `line ${String(i).padStart(6, '0')} ${'x'.repeat(40)}\n`
}

describe('access-log writer', () => {
  test('close() writes every accepted line, in order, across many batches', async (t) => {
    const path = join(tempDir(t), 'access.log')
    const writer = createAccessLogWriter({ path })
    const lines: string[] = []
    for (let i = 0; i < 20_000; i++) {
      const line = numberedLine(i)
      lines.push(line)
      assert.equal(writer.write(line), true)
    }
    await writer.close()
    assert.equal(readFileSync(path, 'utf8'), lines.join(''))
    assert.equal(writer.droppedLines, 0)
  })

  test('flush() makes accepted lines visible without closing', async (t) => {
    const path = join(tempDir(t), 'access.log')
    const writer = createAccessLogWriter({ path, flushIntervalMs: 60_000 })
    t.after(() => writer.close())
    writer.write('one\n')
    writer.write('two\n')
    await writer.flush()
    assert.equal(readFileSync(path, 'utf8'), 'one\ntwo\n')
  })

  test('a few lines reach the file on the timer, without flush() or close()', async (t) => {
    const path = join(tempDir(t), 'access.log')
    const writer = createAccessLogWriter({ path, flushIntervalMs: 20 })
    t.after(() => writer.close())
    writer.write('lonely\n')
    let content = ''
    for (let attempt = 0; attempt < 200 && content === ''; attempt++) {
      await sleep(10)
      content = readFileSync(path, 'utf8')
    }
    assert.equal(content, 'lonely\n')
  })

  test('when the buffer bound is reached, lines are dropped and counted', async (t) => {
    const path = join(tempDir(t), 'access.log')
    const writer = createAccessLogWriter({ path, flushSize: 100, maxBufferedSize: 1000 })
    const line = 'y'.repeat(49) + '\n'
    let accepted = 0
    // Synchronous burst: the first write (2 lines) is in flight, the next 20 fill the buffer.
    for (let i = 0; i < 100; i++) if (writer.write(line)) accepted++
    assert.equal(accepted, 22)
    assert.equal(writer.droppedLines, 78)
    await writer.close()
    assert.equal(readFileSync(path, 'utf8'), line.repeat(22))
  })

  test('lines written after close() are dropped and counted', async (t) => {
    const path = join(tempDir(t), 'access.log')
    const writer = createAccessLogWriter({ path })
    writer.write('before\n')
    await writer.close()
    assert.equal(writer.write('after\n'), false)
    assert.equal(writer.droppedLines, 1)
    assert.equal(readFileSync(path, 'utf8'), 'before\n')
  })

  test('reopen() follows logrotate: new lines go to a fresh file at the path', async (t) => {
    const dir = tempDir(t)
    const path = join(dir, 'access.log')
    const writer = createAccessLogWriter({ path })
    writer.write('old\n')
    await writer.flush()
    renameSync(path, `${path}.1`)
    await writer.reopen()
    writer.write('new\n')
    await writer.close()
    assert.equal(readFileSync(`${path}.1`, 'utf8'), 'old\n')
    assert.equal(readFileSync(path, 'utf8'), 'new\n')
  })

  test('a failing sink drops and counts the lines and reports each failed write', async (t) => {
    if (!existsSync('/dev/full')) return t.skip('/dev/full is not available')
    const errors: string[] = []
    const writer = createAccessLogWriter({
      path: '/dev/full',
      onError: (err) => errors.push((err as NodeJS.ErrnoException).code ?? err.message),
    })
    writer.write('a\n')
    writer.write('b\n')
    await writer.flush()
    writer.write('c\n')
    await writer.close()
    assert.equal(writer.droppedLines, 3)
    assert.deepEqual(errors, ['ENOSPC', 'ENOSPC'])
  })

  test('a path that cannot be opened fails at creation', (t) => {
    const missingDir = join(tempDir(t), 'no', 'such', 'dir', 'access.log')
    assert.throws(() => createAccessLogWriter({ path: missingDir }), { code: 'ENOENT' })
  })
})
