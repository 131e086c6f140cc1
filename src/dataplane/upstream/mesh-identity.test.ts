import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from '../../lib/index.js'
import { createMeshCa, issueWorkloadCert } from '../../../test/e2e/mesh-identity-kit.js'
import { MeshIdentitySource } from './mesh-identity.js'

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  const log = {
    lines,
    debug: () => undefined,
    info: (msg: string) => void lines.push(`info ${msg}`),
    warn: (msg: string) => void lines.push(`warn ${msg}`),
    error: (msg: string) => void lines.push(`error ${msg}`),
    child: () => log,
  }
  return log
}

/** Writes beside the file, then renames over it (what rotation tools and kubelet do). */
function replace(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text)
  renameSync(`${file}.tmp`, file)
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!cond()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('MeshIdentitySource', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-mesh-source-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const ca = createMeshCa()
  const paths = {
    certFile: join(dir, 'cert-chain.pem'),
    keyFile: join(dir, 'key.pem'),
    caFile: join(dir, 'root-cert.pem'),
  }

  test('a missing file throws when created (the config that needs it is refused)', () => {
    assert.throws(() => new MeshIdentitySource(paths, recordingLogger()), /ENOENT/)
  })

  test('a half-written rotation keeps the previous identity; the completed one is used', async () => {
    const first = issueWorkloadCert(ca, 'spiffe://cluster.local/ns/a/sa/gw')
    const second = issueWorkloadCert(ca, 'spiffe://cluster.local/ns/a/sa/gw')
    writeFileSync(paths.certFile, first.cert)
    writeFileSync(paths.keyFile, first.key)
    writeFileSync(paths.caFile, ca.cert)
    const log = recordingLogger()
    const source = new MeshIdentitySource(paths, log)
    assert.equal(source.current().serial, first.serial)
    assert.equal(source.current().version, 1)

    // The new certificate next to the old key does not load: the first identity stays.
    replace(paths.certFile, second.cert)
    await until(() => {
      source.current()
      return log.lines.includes(
        'warn mesh identity reload failed; the previous identity keeps serving',
      )
    }, 'the failed reload')
    assert.equal(source.current().serial, first.serial)

    replace(paths.keyFile, second.key)
    await until(() => source.current().serial === second.serial, 'the rotated identity')
    assert.equal(source.current().version, 2)
    assert.ok(log.lines.includes('info mesh identity rotated'))
  })
})
