// systemd/portcullis.service as systemd itself judges it, as shipped and with the
// LoadCredential= drop-in (systemd/load-credential.conf in portcullis.service.d/, as
// docs/deploy.md installs it): `systemd-analyze verify` (with the unit's ExecStart program
// present at its path, laid over /opt in a private mount namespace) and `systemd-analyze
// security`, whose exposure score must stay at the documented level.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { REPO_ROOT } from '../e2e/harness/index.js'

const UNIT = join(REPO_ROOT, 'systemd/portcullis.service')
const DROP_IN = join(REPO_ROOT, 'systemd/load-credential.conf')
const analyze = spawnSync('systemd-analyze', ['--version'])
const skip =
  analyze.error !== undefined || analyze.status !== 0
    ? 'systemd-analyze is not installed'
    : process.getuid?.() !== 0
      ? 'needs root for a private mount namespace'
      : false
/** docs/deploy.md records this score; a unit that loosens its sandbox fails here. */
const MAX_EXPOSURE = 2.0

/** The unit as installed in a unit directory, with or without the credentials drop-in. */
function installed(dir: string, withCredentials: boolean): string {
  const unit = join(dir, 'portcullis.service')
  copyFileSync(UNIT, unit)
  if (withCredentials) {
    mkdirSync(`${unit}.d`)
    copyFileSync(DROP_IN, join(`${unit}.d`, 'load-credential.conf'))
  }
  return unit
}

describe('systemd unit', { skip }, () => {
  for (const withCredentials of [false, true]) {
    const variant = withCredentials ? 'with the LoadCredential= drop-in' : 'as shipped'
    test(`systemd-analyze verify, ${variant}: no problems`, (t) => {
      const execStart = /^ExecStart=(\S+)/m.exec(readFileSync(UNIT, 'utf8'))![1]!
      assert.ok(execStart.startsWith('/opt/'), 'installed under /opt')
      assert.ok(!/node$/.test(execStart), 'no node path hard-coded')
      const layer = mkdtempSync(join(tmpdir(), 'portcullis-unit-'))
      t.after(() => rmSync(layer, { recursive: true, force: true }))
      const program = join(layer, 'opt', relative('/opt', execStart))
      mkdirSync(dirname(program), { recursive: true })
      writeFileSync(program, '#!/bin/sh\n')
      chmodSync(program, 0o755)
      mkdirSync(join(layer, 'units'))
      const unit = installed(join(layer, 'units'), withCredentials)
      const r = spawnSync(
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          `mount -t overlay overlay -o lowerdir=${layer}/opt:/opt /opt && exec systemd-analyze verify "$0"`,
          unit,
        ],
        { encoding: 'utf8', timeout: 60_000 },
      )
      assert.equal(r.status, 0, r.stdout + r.stderr)
      assert.equal(r.stderr.trim(), '', 'no warnings')
    })

    test(`systemd-analyze security, ${variant}: exposure at most ${MAX_EXPOSURE}`, (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-unit-'))
      t.after(() => rmSync(dir, { recursive: true, force: true }))
      const r = spawnSync(
        'systemd-analyze',
        ['security', '--offline=true', '--no-pager', installed(dir, withCredentials)],
        { encoding: 'utf8', timeout: 60_000 },
      )
      assert.equal(r.status, 0, r.stderr)
      const score = Number(/Overall exposure level for \S+: ([0-9.]+)/.exec(r.stdout)?.[1])
      assert.ok(score <= MAX_EXPOSURE, `exposure ${score}`)
    })
  }

  test('the drop-in hands over the files credentialName edge-tls would read', () => {
    const dropIn = readFileSync(DROP_IN, 'utf8')
    const loads = [...dropIn.matchAll(/^LoadCredential=([^:\n]+):(\S+)$/gm)].map((m) => [
      m[1],
      m[2],
    ])
    assert.deepEqual(loads, [
      ['edge-tls.crt', '/etc/portcullis/certs/edge-tls/tls.crt'],
      ['edge-tls.key', '/etc/portcullis/certs/edge-tls/tls.key'],
    ])
    assert.match(dropIn, /^SupplementaryGroups=$/m, 'no group needed with credentials')
  })
})
