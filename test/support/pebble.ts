/**
 * A real ACME server for tests: Debian's `pebble` with `pebble-challtestsrv` as its DNS server
 * (every name resolves to 127.0.0.1), on free loopback ports, with a listener certificate made
 * here (the package ships none). `httpPort`/`tlsPort` are where pebble validates http-01 and
 * tls-alpn-01: the gateway under test listens there. Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { get } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCa, issueCertificate } from '../../src/cli/cert-forge.js'
import { freePorts } from './listener-kit.js'

export const PEBBLE_BIN = process.env['PEBBLE_BIN'] ?? '/usr/bin/pebble'
export const CHALLTESTSRV_BIN = process.env['CHALLTESTSRV_BIN'] ?? '/usr/bin/pebble-challtestsrv'
const START_TIMEOUT_MS = 20_000

export interface Pebble {
  /** The ACME directory URL. */
  readonly directoryUrl: string
  /** PEM of the CA that signed pebble's own HTTPS listener (an Issuer's caBundle). */
  readonly listenerCa: string
  readonly listenerCaKey: string
  readonly acmePort: number
  readonly httpPort: number
  readonly tlsPort: number
  /** The root that issued certificates chain to (regenerated on every pebble start). */
  issuingRoot(): Promise<string>
  /** Orders pebble has seen, counted from its log lines. */
  orders(): number
  stop(): Promise<void>
}

export interface PebbleOptions {
  /** Validation ports; default free ones. */
  readonly httpPort?: number
  readonly tlsPort?: number
  /** EAB key ids → base64url HMAC keys; when set, EAB is required. */
  readonly eabKeys?: Readonly<Record<string, string>>
  /** Lifetime of issued certificates, in seconds (pebble's certificateValidityPeriod). */
  readonly certificateValiditySeconds?: number
  /** Extra environment for pebble, e.g. PEBBLE_VA_SLEEPTIME. */
  readonly env?: Readonly<Record<string, string>>
  /** Names pebble refuses to order for (rejectedIdentifier): its `domainBlocklist`. */
  readonly domainBlocklist?: readonly string[]
  /** The ACME directory's port (default a free one): a restarted pebble keeps its address. */
  readonly acmePort?: number
  /** The listener's CA (default a new one): a restarted pebble keeps the trust it had. */
  readonly listenerCa?: { readonly cert: string; readonly key: string }
}

function fetchText(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { ca, timeout: 2000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

function kill(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    proc.once('exit', () => resolve())
    proc.kill('SIGKILL')
  })
}

export async function startPebble(options: PebbleOptions = {}): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-pebble-'))
  // A restart passes the ports it keeps: they are free again, so the picks for the others must
  // not land on them (the DNS server once took the ACME port of the pebble being restarted).
  const kept = new Set([options.acmePort, options.httpPort, options.tlsPort])
  let picks = await freePorts(6)
  for (let i = 0; i < 20 && picks.some((p) => kept.has(p)); i++) picks = await freePorts(6)
  const [freeAcme, mgmtPort, dnsPort, challMgmtPort, freeHttp, freeTls] = picks
  const acmePort = options.acmePort ?? freeAcme!
  const httpPort = options.httpPort ?? freeHttp!
  const tlsPort = options.tlsPort ?? freeTls!
  const ca = options.listenerCa ?? createCa('pebble listener test CA')
  const leaf = issueCertificate(ca, { hosts: ['127.0.0.1', 'localhost'] })
  writeFileSync(join(dir, 'cert.pem'), leaf.cert)
  writeFileSync(join(dir, 'key.pem'), leaf.key)
  const eab = options.eabKeys
  writeFileSync(
    join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: join(dir, 'cert.pem'),
        privateKey: join(dir, 'key.pem'),
        httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: eab !== undefined,
        ...(eab !== undefined ? { externalAccountMACKeys: eab } : {}),
        ...(options.domainBlocklist !== undefined
          ? { domainBlocklist: options.domainBlocklist }
          : {}),
        ...(options.certificateValiditySeconds !== undefined
          ? { certificateValidityPeriod: options.certificateValiditySeconds }
          : {}),
      },
    }),
  )
  const procs: ChildProcess[] = []
  const stopAll = async () => {
    await Promise.all(procs.map(kill))
    rmSync(dir, { recursive: true, force: true })
  }
  const onExit = () => procs.forEach((p) => p.kill('SIGKILL'))
  process.once('exit', onExit)
  let log = ''
  const dns = spawn(
    CHALLTESTSRV_BIN,
    [
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-dns01',
      `127.0.0.1:${dnsPort}`,
      '-management',
      `127.0.0.1:${challMgmtPort}`,
      '-defaultIPv6',
      '',
      '-defaultIPv4',
      '127.0.0.1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  procs.push(dns)
  const pebble = spawn(
    PEBBLE_BIN,
    ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PEBBLE_VA_NOSLEEP: '1',
        PEBBLE_WFE_NONCEREJECT: '0',
        ...options.env,
      },
    },
  )
  procs.push(pebble)
  const collect = (c: Buffer) => {
    if (log.length < 1_000_000) log += c.toString()
  }
  pebble.stdout?.on('data', collect)
  pebble.stderr?.on('data', collect)
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    const up = await fetchText(directoryUrl, ca.cert).then(
      (r) => r.status === 200,
      () => false,
    )
    if (up) break
    if (Date.now() > deadline || pebble.exitCode !== null) {
      const out = log
      await stopAll()
      throw new Error(`pebble did not start: ${out.slice(-2000)}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    directoryUrl,
    listenerCa: ca.cert,
    listenerCaKey: ca.key,
    acmePort,
    httpPort,
    tlsPort,
    async issuingRoot() {
      const r = await fetchText(`https://127.0.0.1:${mgmtPort}/roots/0`, ca.cert)
      return r.body
    },
    orders: () => (log.match(/POST \/order-plz/g) ?? []).length,
    async stop() {
      process.removeListener('exit', onExit)
      await stopAll()
    },
  }
}
