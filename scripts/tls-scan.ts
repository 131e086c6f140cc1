// npm run test:tls-scan — testssl.sh against a SIMPLE HTTPS listener of the real gateway on
// loopback (hardening.md §4.2). Fails on any finding rated MEDIUM or worse that is not in
// tls-scan-allow.json (each entry says why a test certificate causes it), and when the offered
// suites differ from the Mozilla intermediate profile. Skips (exit 0) without `testssl`
// (Debian package testssl.sh). Not part of `npm test`: a full run takes about a minute.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCa, issueCertificate } from '../src/cli/cert-forge.js'
import {
  freePorts,
  gatewayConfigDoc,
  startGateway,
  startUpstream,
} from '../test/e2e/harness/index.js'

const HOST = 'scan.example.com'
const SEVERITIES_THAT_FAIL = new Set(['MEDIUM', 'HIGH', 'CRITICAL', 'FATAL'])
/** RSA test certificate: the RSA half of the Mozilla intermediate suites, plus TLS 1.3's three. */
const EXPECTED_SUITES = [
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
].sort()
const SCAN_TIMEOUT_MS = 5 * 60_000

interface Finding {
  readonly id: string
  readonly severity: string
  readonly finding: string
}

interface Allowed {
  readonly id: string
  readonly reason: string
}

function hasTestssl(): boolean {
  return spawnSync('testssl', ['--version'], { stdio: 'ignore' }).status === 0
}

function runTestssl(args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn('testssl', args, { stdio: ['ignore', 'inherit', 'inherit'] })
    const timer = setTimeout(() => child.kill('SIGTERM'), SCAN_TIMEOUT_MS)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve(code)
    })
  })
}

/** `cipher-tls1_2_xc02f` → "TLS 1.2   xc02f   ECDHE-RSA-AES128-GCM-SHA256   ECDH 253 …" */
function offeredSuites(findings: readonly Finding[]): string[] {
  const names = new Set<string>()
  for (const f of findings) {
    if (!/^cipher-tls1_[23]_x/.test(f.id)) continue
    const words = f.finding.trim().split(/\s+/)
    const hex = words.findIndex((w) => /^x[0-9a-f]+$/i.test(w))
    const name = hex < 0 ? undefined : words[hex + 1]
    if (name !== undefined) names.add(name)
  }
  return [...names].sort()
}

async function main(): Promise<number> {
  if (!hasTestssl()) {
    console.log('tls-scan: skipped, `testssl` not found (Debian: apt-get install testssl.sh)')
    return 0
  }
  const allowList = JSON.parse(
    await readFile(new URL('./tls-scan-allow.json', import.meta.url), 'utf8'),
  ) as Allowed[]
  const allowed = new Map(allowList.map((a) => [a.id, a.reason]))
  const work = await mkdtemp(join(tmpdir(), 'portcullis-tls-scan-'))
  const ca = createCa('Portcullis tls-scan CA')
  const server = issueCertificate(ca, { hosts: [HOST], days: 90 })
  const [port, readiness] = await freePorts(2)
  const up = await startUpstream({ name: 'scan' })
  const gw = await startGateway({
    yaml: `${gatewayConfigDoc({ readinessPort: readiness!, accessLog: false })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  servers:
    - port: { number: ${port}, name: https, protocol: HTTPS }
      hosts: [${HOST}]
      tls: { mode: SIMPLE, credentialName: scan }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: scan }
spec:
  hosts: [${HOST}]
  gateways: [edge]
  http:
    - route: [{ destination: { host: scan.test } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: scan }
spec:
  hosts: [scan.test]
  ports: [{ number: ${up.port}, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`,
    files: { 'certs/scan/tls.crt': server.cert, 'certs/scan/tls.key': server.key },
  })
  try {
    const caFile = join(work, 'ca.crt')
    const jsonFile = join(work, 'testssl.json')
    await writeFile(caFile, ca.cert)
    // testssl exits with the number of findings it counts as problems; the JSON decides here.
    await runTestssl([
      '--quiet',
      '--color',
      '0',
      '--warnings',
      'batch',
      '--ip',
      '127.0.0.1',
      '--add-ca',
      caFile,
      '-p',
      '-s',
      '-f',
      '-P',
      '-S',
      '-U',
      '-E',
      '--jsonfile',
      jsonFile,
      `https://${HOST}:${port}`,
    ])
    const findings = JSON.parse(await readFile(jsonFile, 'utf8')) as Finding[]
    let failed = false
    console.log('\ntls-scan: findings rated MEDIUM or worse')
    for (const f of findings) {
      if (!SEVERITIES_THAT_FAIL.has(f.severity)) continue
      const reason = allowed.get(f.id)
      if (reason === undefined) failed = true
      console.log(
        `  ${reason === undefined ? 'FAIL ' : 'allow'} ${f.severity} ${f.id}: ${f.finding}` +
          (reason === undefined ? '' : `\n        allowed: ${reason}`),
      )
    }
    const suites = offeredSuites(findings)
    const isExpected = JSON.stringify(suites) === JSON.stringify(EXPECTED_SUITES)
    console.log(
      `tls-scan: offered suites ${isExpected ? 'as configured' : 'DIFFER'}: ${suites.join(' ')}`,
    )
    if (!isExpected) {
      console.log(`  expected: ${EXPECTED_SUITES.join(' ')}`)
      failed = true
    }
    console.log(failed ? 'tls-scan: FAILED' : 'tls-scan: passed')
    return failed ? 1 : 0
  } finally {
    await gw.cleanup()
    await up.close()
    await rm(work, { recursive: true, force: true })
  }
}

process.exitCode = await main()
