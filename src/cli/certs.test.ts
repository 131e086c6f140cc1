import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseCommand } from './args.js'
import { CERTS_USAGE, runCerts } from './certs.js'
import { MAIN_USAGE } from './usage.js'

function capture(argv: string[]): { code: number; out: string; err: string } {
  let out = ''
  let err = ''
  const code = runCerts(
    argv,
    (s) => (out += s),
    (s) => (err += s),
  )
  return { code, out, err }
}

describe('portcullis certs', () => {
  test('the main help lists certs', () => {
    assert.match(MAIN_USAGE, /^ {2}certs +\S.*certs ca \| certs issue/m)
  })

  test('certs --help, -h, help and issue --help print the usage on stdout and exit 0', () => {
    for (const argv of [['--help'], ['-h'], ['help'], ['issue', '--help'], ['ca', '-h']]) {
      assert.deepEqual(capture(argv), { code: 0, out: CERTS_USAGE, err: '' }, argv.join(' '))
    }
    assert.match(CERTS_USAGE, /portcullis certs ca --out DIR/)
    assert.match(CERTS_USAGE, /portcullis certs issue --ca DIR --host NAME/)
    assert.deepEqual(parseCommand(['certs', '--help'], {}), { kind: 'certs', argv: ['--help'] })
  })

  test('no subcommand, an unknown one or an unknown flag: usage on stderr, exit 2', () => {
    for (const argv of [[], ['sign', '--out', 'x'], ['ca', '--bogus']]) {
      const r = capture(argv)
      assert.equal(r.code, 2, argv.join(' '))
      assert.equal(r.out, '')
      assert.ok(r.err.includes(CERTS_USAGE), argv.join(' '))
    }
  })

  test('ca then issue writes the credential layout', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-certs-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    assert.equal(capture(['ca', '--out', join(dir, 'ca')]).code, 0)
    const r = capture([
      'issue',
      '--ca',
      join(dir, 'ca'),
      '--host',
      'web.example.com',
      '--days',
      '30',
      '--out',
      join(dir, 'web'),
    ])
    assert.equal(r.code, 0, r.err)
    const cert = new X509Certificate(readFileSync(join(dir, 'web/tls.crt')))
    const ca = new X509Certificate(readFileSync(join(dir, 'web/ca.crt')))
    assert.ok(cert.verify(ca.publicKey))
    assert.equal(cert.subjectAltName, 'DNS:web.example.com')
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000
    assert.equal(Math.round(days), 30)
  })

  test('issue --group: tls.key belongs to that group, mode 0640; --mode overrides', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-certs-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    assert.equal(capture(['ca', '--out', join(dir, 'ca')]).code, 0)
    const gid = process.getgid?.() ?? 0
    const issue = (extra: string[], out: string) =>
      capture([
        'issue',
        '--ca',
        join(dir, 'ca'),
        '--host',
        'a.example',
        ...extra,
        '--out',
        join(dir, out),
      ])
    assert.equal(issue(['--group', String(gid)], 'g').code, 0)
    const key = statSync(join(dir, 'g/tls.key'))
    assert.equal(key.gid, gid)
    assert.equal(key.mode & 0o777, 0o640)
    assert.equal(issue(['--group', String(gid), '--mode', '0600'], 'm').code, 0)
    assert.equal(statSync(join(dir, 'm/tls.key')).mode & 0o777, 0o600)
    assert.equal(statSync(join(dir, 'plain/tls.key'), { throwIfNoEntry: false }), undefined)
    assert.equal(issue([], 'plain').code, 0)
    assert.equal(statSync(join(dir, 'plain/tls.key')).mode & 0o777, 0o600)
    assert.equal(issue(['--mode', '0644'], 'x').code, 2, 'readable by others is refused')
    assert.equal(issue(['--group', 'no-such-group-here'], 'y').code, 2)
  })
})
