// In-repo benchmark: one upstream, three targets measured in turn with autocannon in its own
// process: (a) direct to the upstream, (b) the Node floor (bench/floor-proxy.ts), (c) Portcullis.
// Run `npm run build` first so Portcullis runs from dist/; `npm run bench -- --help` for options.
import { spawnSync } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { Agent, request } from 'undici'
import { createCa, issueCertificate } from '../src/cli/cert-forge.js'
import { gatewayConfigDoc, joinDocs, proxyRouteDocs } from '../test/e2e/harness/config-docs.js'
import { REPO_ROOT, startGateway } from '../test/e2e/harness/gateway.js'
import { freePorts } from '../test/e2e/harness/ports.js'
import { inlineCommand, startRedisServer, type RedisServer } from '../test/support/redis-server.js'
import { hasTaskset, killAllChildren, pinned, startBenchUpstream, startChild } from './child.js'
import { topSelfTime } from './cpu-profile.js'
import type { SelfTimeRow } from './cpu-profile.js'
import { runFixedRateLoad, runLoad } from './load.js'
import type { LoadResult } from './load.js'
import {
  FIXED_LOAD_TARGETS,
  FIXED_RATE_TARGETS,
  USAGE,
  parseOptions,
  wantsHelp,
} from './options.js'
import type { BenchOptions, Target } from './options.js'
import { cpuSeconds, idleRssMegabytes, peakRssMegabytes, rssMegabytes } from './proc-stats.js'
import { formatBaselineRatios, prepareBaseline } from './baseline.js'
import {
  PROXY_PROTOCOL_SPEC,
  formatProxyProtocolCost,
  runNewConnectionLoad,
  startRelay,
} from './proxy-protocol.js'
import { formatLimitCost, formatRatios, formatTable } from './report.js'
import { formatFixedRate } from './fixed-rate-report.js'
import { formatScenarioRatios } from './scenarios.js'
import type { TargetResult } from './report.js'
import { TRACING_DESCRIPTIONS, formatTracingCost, tracingSetup } from './tracing.js'

interface Pinning {
  // CPU for the process under test (gateway or floor).
  target?: string
  // CPU for autocannon, the upstream and this runner.
  load?: string
  description: string
}

// What a started target gives back: where to send load, whose CPU to count, how to stop it.
interface Running {
  url: string
  pid: number
  stop(): Promise<void>
  /** HTTPS targets: the CA (PEM and file) the load generator must trust. */
  ca?: { pem: string; file: string }
  /** Extra request headers for the load, e.g. `Connection: close`. */
  headers?: string[]
  /** The redis-server behind a Redis-backed target. */
  redis?: RedisServer
}

const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results')
/** The targets whose idle RSS the report compares (bench/scenarios.ts): measured settled. */
const IDLE_TARGETS: readonly Target[] = ['portcullis', 'floor']
const TSX = ['--import', 'tsx']
const DESCRIPTIONS: Record<Target, string> = {
  ...TRACING_DESCRIPTIONS,
  direct: 'autocannon straight to the upstream',
  floor: 'minimal node:http + undici streaming proxy (bench/floor-proxy.ts)',
  fastify: 'fastify + @fastify/http-proxy (bench/fastify-proxy.ts)',
  portcullis: 'Portcullis, generated gateway.yaml, access log off, metrics on',
  'portcullis-access-log': 'Portcullis as `portcullis` with the access log on (JSON to a file)',
  'direct-16k': 'autocannon straight to the upstream, GET /16k (16 KiB body)',
  'floor-16k': 'the floor, GET /16k',
  'fastify-16k': '@fastify/http-proxy, GET /16k',
  'portcullis-16k': 'Portcullis, GET /16k',
  'floor-https': 'the floor on node:https (same certificate), keep-alive',
  'fastify-https': '@fastify/http-proxy on HTTPS (same certificate), keep-alive',
  'floor-https-handshake': 'the floor on node:https, Connection: close (a handshake per request)',
  'fastify-https-handshake': '@fastify/http-proxy on HTTPS, Connection: close',
  'portcullis-https': 'Portcullis, SIMPLE HTTPS (TLS 1.3, RSA 2048), keep-alive connections',
  baseline: 'the baseline build (--baseline-ref/--baseline-dist) as `portcullis`',
  'baseline-https': 'the baseline build as `portcullis-https`',
  'portcullis-https-handshake':
    'Portcullis, SIMPLE HTTPS, Connection: close: a new TCP + TLS handshake per request',
  'portcullis-redis-limit':
    'Portcullis as `portcullis` plus a RateLimitPolicy (never hit) counted in a local redis-server',
  'portcullis-pool-limit':
    'Portcullis as `portcullis` plus DestinationRule maxConnections (never hit) held as Redis leases',
  'portcullis-workers': 'Portcullis as `portcullis` with workers: 2 (primary + 2 workers)',
  'portcullis-workers-limit':
    'Portcullis as `portcullis-workers` plus the RateLimitPolicy, decided in the primary (IPC)',
  'portcullis-relay': 'Portcullis as `portcullis` behind the relay (bench/proxy-header-relay.ts)',
  'portcullis-proxy-v2':
    'Portcullis with gatewayTopology.proxyProtocol behind the relay, a v2 header per connection',
  'portcullis-relay-new-conn': '`portcullis-relay` with Connection: close',
  'portcullis-proxy-v2-new-conn':
    '`portcullis-proxy-v2` with Connection: close (a header per request)',
}

function choosePinning(opts: BenchOptions): Pinning {
  if (opts.noPin) return { description: 'off (--no-pin)' }
  if (!hasTaskset()) return { description: 'off (taskset not found)' }
  if (availableParallelism() < 2) return { description: 'off (only one CPU available)' }
  if (spawnSync('taskset', ['-c', '0,1', 'true'], { stdio: 'ignore' }).status !== 0) {
    return { description: 'off (CPUs 0 and 1 are not both usable here)' }
  }
  spawnSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' })
  return {
    target: '1',
    load: '0',
    description: 'taskset: gateway/floor on CPU 1; autocannon, upstream and this runner on CPU 0',
  }
}

function portcullisEntry(override: string | undefined): { argv: string[]; note: string } {
  if (override !== undefined) {
    if (!existsSync(override)) throw new Error(`--entry: ${override} does not exist`)
    return { argv: [override], note: override }
  }
  if (existsSync(join(REPO_ROOT, 'dist', 'main.js'))) {
    return { argv: [join(REPO_ROOT, 'dist', 'main.js')], note: 'dist/main.js' }
  }
  if (existsSync(join(REPO_ROOT, 'src', 'main.ts'))) {
    return {
      argv: [...TSX, join(REPO_ROOT, 'src', 'main.ts')],
      note: 'src/main.ts via tsx (dist/ is missing: run `npm run build` first for real numbers)',
    }
  }
  throw new Error('no gateway entry point: neither dist/main.js nor src/main.ts exists')
}

async function checkAnswers(target: Target, url: string, ca?: string): Promise<void> {
  const dispatcher = ca === undefined ? undefined : new Agent({ connect: { ca } })
  const res = await request(url, {
    reset: true,
    headersTimeout: 5000,
    bodyTimeout: 5000,
    ...(dispatcher !== undefined ? { dispatcher } : {}),
  }).finally(() => dispatcher?.close())
  const text = await res.body.text()
  if (res.statusCode !== 200 || !text.includes('bench-upstream')) {
    throw new Error(
      `${target} answered ${res.statusCode} to GET / instead of the upstream's 200: ` +
        text.slice(0, 300),
    )
  }
}

function newestProfile(dir: string): string | undefined {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
  return files.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]
}

function printProfile(label: string, rows: SelfTimeRow[], path: string): void {
  console.log(
    `\nPortcullis CPU profile (${label}), top self time, % of busy time ` +
      `(${relative(REPO_ROOT, path)}):`,
  )
  for (const row of rows) {
    const pct = row.percent.toFixed(1).padStart(5)
    const ms = row.selfMs.toFixed(0).padStart(7)
    console.log(`  ${pct}% ${ms} ms  ${row.functionName}  ${row.location}`)
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2)
  if (wantsHelp(argv)) {
    console.log(USAGE)
    return 0
  }
  const opts = parseOptions(argv, process.env)
  // Before pinning: afterwards this process only sees its own CPU.
  const cpuCount = availableParallelism()
  const pin = choosePinning(opts)
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  mkdirSync(RESULTS_DIR, { recursive: true })

  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  const loadBefore = loadavg()[0] ?? 0
  console.log(
    `Portcullis bench: node ${process.version}, ${cpuCount} x ${cpu}\n` +
      `${opts.connections} connections, ${opts.duration} s measured after ${opts.warmup} s ` +
      `warm-up per target, targets: ${opts.only.join(', ')}\n` +
      `Pinning: ${pin.description}`,
  )
  if (loadBefore > 0.5) {
    console.log(
      `Load average is ${loadBefore.toFixed(2)} before starting: other processes are using the ` +
        'CPUs, so expect noisy numbers (a cpu % well under 100 for floor/portcullis shows it)',
    )
  }

  const baseline = prepareBaseline(REPO_ROOT, {
    ...(opts.baselineDist !== undefined ? { dist: opts.baselineDist } : {}),
    ...(opts.baselineRef !== undefined ? { ref: opts.baselineRef } : {}),
  })
  if (baseline !== undefined) console.log(`Baseline: ${baseline.note}, ${baseline.entry}`)
  process.once('exit', () => baseline?.dispose())

  const { child: upstream, port: upstreamPort } = await startBenchUpstream(pin.load)
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}/`

  // One per Portcullis started under --cpu-prof (with a baseline: both builds, side by side).
  const profiles: { label: string; path: string; top: SelfTimeRow[] }[] = []
  const accessLogFile = join(tmpdir(), `portcullis-bench-access-${stamp}.log`)
  process.once('exit', () => rmSync(accessLogFile, { force: true }))
  let entryNote: string | undefined

  const starters: Record<Target, () => Promise<Running>> = {
    direct: () =>
      Promise.resolve({ url: upstreamUrl, pid: upstream.proc.pid ?? 0, stop: async () => {} }),
    floor: () => startNodeProxy('floor', false),
    fastify: () => startNodeProxy('fastify', false),
    'direct-16k': () =>
      Promise.resolve({
        url: `${upstreamUrl}16k`,
        pid: upstream.proc.pid ?? 0,
        stop: async () => {},
      }),
    'floor-16k': async () => large(await startNodeProxy('floor', false)),
    'fastify-16k': async () => large(await startNodeProxy('fastify', false)),
    'portcullis-16k': async () => large(await startPortcullis(false)),
    'floor-https': () => startNodeProxy('floor', true),
    'fastify-https': () => startNodeProxy('fastify', true),
    'floor-https-handshake': async () => handshakes(await startNodeProxy('floor', true)),
    'fastify-https-handshake': async () => handshakes(await startNodeProxy('fastify', true)),
    'portcullis-access-log': () => startPortcullis(false, undefined, undefined, true),
    portcullis: () => startPortcullis(false),
    'portcullis-https': () => startPortcullis(true),
    baseline: () => startPortcullis(false, undefined, baseline?.entry),
    'baseline-https': () => startPortcullis(true, undefined, baseline?.entry),
    'portcullis-https-handshake': async () => handshakes(await startPortcullis(true)),
    'portcullis-redis-limit': () => withRedis(RATE_LIMIT_DOC),
    'portcullis-pool-limit': () => withRedis(POOL_LIMIT_DOC),
    'portcullis-workers': () => startPortcullis(false, { spec: WORKERS_SPEC, docs: '' }),
    'portcullis-workers-limit': () =>
      startPortcullis(false, { spec: WORKERS_SPEC, docs: RATE_LIMIT_DOC }),
    'portcullis-relay': () => behindRelay('none', false),
    'portcullis-proxy-v2': () => behindRelay('v2', false),
    'portcullis-relay-new-conn': () => behindRelay('none', true),
    'portcullis-proxy-v2-new-conn': () => behindRelay('v2', true),
    'portcullis-tracing-unsampled': () => withTracing(0),
    'portcullis-tracing-sampled': () => withTracing(1),
  }

  /** `portcullis` plus a Telemetry resource exporting to a receiver in this process. */
  async function withTracing(percent: number): Promise<Running> {
    const setup = await tracingSetup(percent)
    const running = await startPortcullis(false, setup.extra).catch(async (e: unknown) => {
      await setup.receiver.close()
      throw e
    })
    return { ...running, stop: () => running.stop().finally(() => setup.receiver.close()) }
  }

  /** The same target asked for the upstream's 16 KiB body. */
  function large(running: Running): Running {
    return { ...running, url: `${running.url}16k` }
  }

  /** `Connection: close` on every request: a new TCP connection (and TLS handshake) each. */
  function handshakes(running: Running): Running {
    return { ...running, headers: ['Connection: close'] }
  }

  /** The floor or @fastify/http-proxy, on HTTP or HTTPS with the certificate Portcullis gets. */
  async function startNodeProxy(kind: 'floor' | 'fastify', isHttps: boolean): Promise<Running> {
    const env: Record<string, string> = { UPSTREAM_PORT: String(upstreamPort) }
    let ca: Running['ca']
    const dir = isHttps ? mkdtempSync(join(tmpdir(), `portcullis-bench-${kind}-`)) : undefined
    if (dir !== undefined) {
      const tls = benchCertificates()
      const files = {
        cert: join(dir, 'tls.crt'),
        key: join(dir, 'tls.key'),
        ca: join(dir, 'bench-ca.crt'),
      }
      writeFileSync(files.cert, tls.files['certs/bench/tls.crt']!)
      writeFileSync(files.key, tls.files['certs/bench/tls.key']!)
      writeFileSync(files.ca, tls.caPem)
      env['TLS_CERT_FILE'] = files.cert
      env['TLS_KEY_FILE'] = files.key
      ca = { pem: tls.caPem, file: files.ca }
    }
    const child = startChild(
      kind,
      pinned(pin.target, [process.execPath, ...TSX, `bench/${kind}-proxy.ts`]),
      env,
    )
    const port = Number((await child.waitForLine(/^listening (\d+)/, 15_000))[1])
    return {
      url: `${isHttps ? 'https' : 'http'}://127.0.0.1:${port}/`,
      pid: child.proc.pid ?? 0,
      ...(ca !== undefined ? { ca } : {}),
      async stop() {
        await child.stop('SIGTERM', 5000).catch(() => null)
        if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
      },
    }
  }

  /** Portcullis behind the header relay; with `v2` its listener requires the header. */
  async function behindRelay(header: 'v2' | 'none', newConnections: boolean): Promise<Running> {
    const running = await startPortcullis(
      false,
      header === 'v2' ? { spec: PROXY_PROTOCOL_SPEC, docs: '' } : undefined,
    )
    const relay = await startRelay(running.url, header, pin.load).catch(async (e: unknown) => {
      await running.stop()
      throw e
    })
    return {
      ...running,
      url: relay.url,
      ...(newConnections ? { headers: ['Connection: close'] } : {}),
      async stop() {
        await relay.stop().finally(() => running.stop())
      },
    }
  }

  /** `portcullis` plus `docs`, with limits shared through a redis-server started for it. */
  async function withRedis(docs: string): Promise<Running> {
    // redis-server on the load generator's CPU (CPU 0, inherited from this runner, which pinned
    // itself there): the gateway's CPU stays its own.
    const redis = await startRedisServer()
    try {
      const running = await startPortcullis(false, {
        spec: ['  redis:', `    url: ${redis.url}`],
        docs,
      })
      return {
        ...running,
        redis,
        async stop() {
          await running.stop().finally(() => redis.stop())
        },
      }
    } catch (e) {
      await redis.stop()
      throw e
    }
  }

  async function startPortcullis(
    isHttps: boolean,
    extra?: { readonly spec: string[]; readonly docs: string },
    baselineEntry?: string,
    accessLog = false,
  ): Promise<Running> {
    const entry =
      baselineEntry !== undefined ? portcullisEntry(baselineEntry) : portcullisEntry(opts.entry)
    if (baselineEntry === undefined) entryNote = entry.note
    console.log(`Portcullis runs from ${entry.note}`)
    const [gatewayPort, readinessPort, metricsPort] = await freePorts(3)
    const yaml = joinDocs(
      gatewayConfigDoc({
        readinessPort: readinessPort!,
        metricsPort: metricsPort!,
        // To a file, as in production: stdout would go through this runner.
        accessLog: accessLog ? accessLogFile : false,
        // The default maxRequestsPerConnection (1 000) applies: the last response closes the
        // connection and autocannon reconnects; a non-2xx count above 0 is reported as it is.
        // Against a baseline both builds get no cap: builds before the fix left the connection
        // open after the last response and answered the rest with Node's bare 503.
        extraSpec: [
          ...(baseline !== undefined ? ['  downstream:', '    maxRequestsPerConnection: 0'] : []),
          ...(extra?.spec ?? []),
        ],
      }),
      isHttps
        ? httpsRouteDocs(gatewayPort!, upstreamPort)
        : proxyRouteDocs({ gatewayPort: gatewayPort!, upstreamPort, name: 'bench' }),
      ...(extra !== undefined && extra.docs !== '' ? [extra.docs] : []),
    )
    const tls = isHttps ? benchCertificates() : undefined
    const profDir = opts.cpuProf ? mkdtempSync(join(RESULTS_DIR, `cpuprof-${stamp}-`)) : ''
    const nodeFlags = opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []
    const gw = await startGateway({
      yaml,
      command: pinned(pin.target, [process.execPath, ...nodeFlags, ...entry.argv]),
      readyTimeoutMs: 30_000,
      ...(tls !== undefined ? { files: tls.files } : {}),
    }).catch((err: unknown) => {
      throw new Error(
        `Portcullis did not start: ${err instanceof Error ? err.message : String(err)}`,
      )
    })
    if (tls !== undefined) writeFileSync(join(gw.dir, 'bench-ca.crt'), tls.caPem)
    return {
      url: `${isHttps ? 'https' : 'http'}://127.0.0.1:${gatewayPort}/`,
      pid: gw.proc.pid ?? 0,
      ...(tls !== undefined ? { ca: { pem: tls.caPem, file: join(gw.dir, 'bench-ca.crt') } } : {}),
      async stop() {
        // SIGTERM drains and exits 0; only a clean exit writes the CPU profile.
        const code = await gw.stop('SIGTERM', 40_000).finally(() => gw.cleanup())
        if (code !== 0) console.log(`Portcullis exited with code ${code} on SIGTERM`)
        const path = opts.cpuProf ? newestProfile(profDir) : undefined
        if (opts.cpuProf && path === undefined) console.log('no .cpuprofile was written')
        if (path !== undefined) {
          const label = baselineEntry !== undefined ? 'baseline' : 'current build'
          profiles.push({ label, path, top: topSelfTime(path, REPO_ROOT) })
        }
      },
    }
  }

  /**
   * Targets measured at the same time: all started (the gateways pinned to the same CPU), then
   * loaded together by `load`, one load process each. Whatever else the machine runs then slows
   * them alike; one after the other, a shared machine moved the PROXY pair's ratio by ±10 % and
   * a single target's CPU per request by 2x between runs.
   */
  async function measureAtOnce(
    targets: readonly Target[],
    round: number,
    rate: number,
    load: (r: Running, seconds: number) => Promise<LoadResult>,
  ): Promise<TargetResult[]> {
    const out = targets.map((target): TargetResult => ({
      target,
      description: DESCRIPTIONS[target],
      round,
    }))
    const running: Running[] = []
    try {
      for (const target of targets) running.push(await starters[target]())
      for (const [i, r] of running.entries()) await checkAnswers(targets[i]!, r.url, r.ca?.pem)
      const loadAll = (seconds: number): Promise<LoadResult[]> =>
        Promise.all(running.map((r) => load(r, seconds)))
      for (const [i, r] of running.entries()) {
        const idle = rssMegabytes(r.pid)
        if (idle !== undefined) out[i]!.idleRssMb = idle
      }
      if (opts.warmup > 0) await loadAll(opts.warmup)
      const before = running.map((r) => cpuSeconds(r.pid))
      const loads = await loadAll(opts.duration)
      for (const [i, r] of running.entries()) {
        const result = out[i]!
        result.load = loads[i]!
        result.offeredRate = rate
        const cpuBefore = before[i]
        const cpuAfter = cpuSeconds(r.pid)
        if (cpuBefore !== undefined && cpuAfter !== undefined) {
          result.cpuPercent = (100 * (cpuAfter - cpuBefore)) / opts.duration
        }
        const rss = rssMegabytes(r.pid)
        if (rss !== undefined) result.rssMb = rss
        const peak = peakRssMegabytes(r.pid)
        if (peak !== undefined) result.peakRssMb = peak
        const tag = round > 1 ? ` #${round}` : ''
        console.log(`${result.target}${tag}: ${result.load.requestsPerSecond.toFixed(0)} req/s`)
      }
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err)
      for (const result of out) result.error = error
      console.log(`${targets.join(' + ')}: FAILED\n  ${error.split('\n').join('\n  ')}`)
    } finally {
      for (const r of running) await r.stop()
    }
    return out
  }

  /** The `-new-conn` PROXY pair, a new connection per request at --proxy-rate each. */
  const newConnectionLoad = (r: Running, seconds: number): Promise<LoadResult> =>
    runNewConnectionLoad({
      url: r.url,
      seconds,
      rate: opts.proxyRate,
      // Up to a second of arrivals open: a stall of the shared machine is ridden out (and shows
      // in p99), a side that cannot keep up still skips and is not valid.
      maxInFlight: Math.max(opts.connections, opts.proxyRate),
      ...(pin.load ? { cpu: pin.load } : {}),
    })

  /** --together: autocannon -R at the same fixed rate for every selected target. */
  const togetherLoad = (r: Running, seconds: number): Promise<LoadResult> =>
    runLoad({
      url: r.url,
      seconds,
      connections: opts.connections,
      rate: opts.together,
      ...(pin.load ? { cpu: pin.load } : {}),
      ...(r.headers !== undefined ? { headers: r.headers } : {}),
      ...(r.ca !== undefined ? { env: { NODE_EXTRA_CA_CERTS: r.ca.file } } : {}),
    })

  const results: TargetResult[] = []
  const sideBySide = FIXED_LOAD_TARGETS.every((t) => opts.only.includes(t))
  const rounds = Array.from({ length: opts.repeat }, (_, i) => i + 1)
  if (opts.together > 0) {
    for (const round of rounds) {
      results.push(...(await measureAtOnce(opts.only, round, opts.together, togetherLoad)))
    }
  }
  const sequential = opts.together > 0 ? [] : opts.only
  for (const [round, target] of rounds.flatMap((n) => sequential.map((t) => [n, t] as const))) {
    if (sideBySide && FIXED_LOAD_TARGETS.includes(target)) {
      if (target === FIXED_LOAD_TARGETS[0]) {
        const pair = [FIXED_LOAD_TARGETS[0], FIXED_LOAD_TARGETS[1]!]
        results.push(...(await measureAtOnce(pair, round, opts.proxyRate, newConnectionLoad)))
      }
      continue
    }
    const result: TargetResult = { target, description: DESCRIPTIONS[target], round }
    results.push(result)
    let running: Running | undefined
    try {
      running = await starters[target]()
      await checkAnswers(target, running.url, running.ca?.pem)
      const loadExtras = {
        ...(running.headers !== undefined ? { headers: running.headers } : {}),
        ...(running.ca !== undefined ? { env: { NODE_EXTRA_CA_CERTS: running.ca.file } } : {}),
      }
      // The PROXY `-new-conn` pair: a new connection per request at --proxy-rate, from its own
      // client (autocannon reuses a closing connection; bench/new-conn-client.ts says how).
      const mainRate = FIXED_LOAD_TARGETS.includes(target) ? opts.proxyRate : undefined
      const url = running.url
      const load = (seconds: number): Promise<LoadResult> =>
        mainRate !== undefined
          ? runNewConnectionLoad({
              url,
              seconds,
              rate: mainRate,
              // Up to a second of arrivals open: a stall of the shared machine is ridden out
              // (and shows in p99), a side that cannot keep up still skips and is not valid.
              maxInFlight: Math.max(opts.connections, mainRate),
              ...(pin.load ? { cpu: pin.load } : {}),
            })
          : runLoad({
              url,
              seconds,
              connections: opts.connections,
              ...(pin.load ? { cpu: pin.load } : {}),
              ...loadExtras,
            })
      const idle = await idleRssMegabytes(
        running.pid,
        IDLE_TARGETS.includes(target) ? opts.idle : 0,
      )
      if (idle !== undefined) result.idleRssMb = idle
      if (opts.warmup > 0) await load(opts.warmup)
      const redisBefore = await redisUsage(running.redis)
      const cpuBefore = cpuSeconds(running.pid)
      result.load = await load(opts.duration)
      if (mainRate !== undefined) result.offeredRate = mainRate
      const cpuAfter = cpuSeconds(running.pid)
      const redisAfter = await redisUsage(running.redis)
      if (redisBefore !== undefined && redisAfter !== undefined) {
        const requests = result.load.requests
        const calls = redisAfter.calls - redisBefore.calls
        result.redis = {
          ...(redisBefore.cpu !== undefined && redisAfter.cpu !== undefined && requests > 0
            ? { cpuMicrosPerRequest: ((redisAfter.cpu - redisBefore.cpu) * 1e6) / requests }
            : {}),
          ...(calls > 0 ? { requestsPerCall: requests / calls } : {}),
        }
      }
      if (cpuBefore !== undefined && cpuAfter !== undefined) {
        result.cpuPercent = (100 * (cpuAfter - cpuBefore)) / opts.duration
      }
      const rss = rssMegabytes(running.pid)
      if (rss !== undefined) result.rssMb = rss
      const peak = peakRssMegabytes(running.pid)
      if (peak !== undefined) result.peakRssMb = peak
      const label = round > 1 ? `${target} #${round}` : target
      console.log(`${label}: ${result.load.requestsPerSecond.toFixed(0)} req/s`)
      if (opts.rate > 0 && FIXED_RATE_TARGETS.includes(target)) {
        // Open loop with 0.01 ms resolution (bench/fixed-rate.ts), not autocannon's whole ms.
        const fixed = await runFixedRateLoad({
          url: running.url,
          seconds: opts.duration,
          connections: opts.connections,
          rate: opts.rate,
          ...(pin.load ? { cpu: pin.load } : {}),
          ...loadExtras,
        })
        result.fixedRate = { ...fixed, rate: opts.rate }
        console.log(`${label} at ${opts.rate} req/s: ${formatFixedRate(fixed)}`)
      }
    } catch (err) {
      result.error = err instanceof Error ? err.message : String(err)
      console.log(`${target}: FAILED\n  ${result.error.split('\n').join('\n  ')}`)
    } finally {
      await running?.stop()
    }
  }
  await upstream.stop('SIGTERM', 5000).catch(() => null)

  console.log('\n' + formatTable(results))
  for (const line of formatRatios(results)) console.log(line)
  for (const line of formatScenarioRatios(results)) console.log(line)
  for (const line of formatLimitCost(results)) console.log(line)
  for (const line of formatBaselineRatios(results)) console.log(line)
  for (const line of formatProxyProtocolCost(results)) console.log(line)
  for (const line of formatTracingCost(results)) console.log(line)
  for (const p of profiles) printProfile(p.label, p.top, p.path)

  const out = join(RESULTS_DIR, `bench-${stamp}.json`)
  writeFileSync(
    out,
    JSON.stringify(
      {
        startedAt: stamp,
        node: process.version,
        cpus: { count: cpuCount, model: cpu },
        pinning: pin.description,
        loadAverageBefore: loadBefore,
        options: opts,
        portcullisEntry: entryNote,
        baseline: baseline?.note,
        results,
        profiles,
      },
      null,
      2,
    ) + '\n',
  )
  console.log(`\nResults: ${relative(REPO_ROOT, out)}`)
  return results.some((r) => r.error !== undefined) ? 1 : 0
}

/**
 * One rule on every request of the bench Gateway, high enough never to refuse: each request
 * costs one GCRA decision in Redis (in the batch script of its event-loop turn), or in the
 * primary for workers, which is what is measured.
 */
const RATE_LIMIT_DOC = `apiVersion: portcullis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: bench }
spec:
  targetRefs: [{ kind: Gateway, name: bench-gateway }]
  rules:
    - by: [clientIp]
      limit: { requests: 1000000000, unit: second }
`

/**
 * A connection-pool limit on the bench upstream, high enough never to make a request wait: with
 * Redis each request holds a concurrency lease (acquire and release in the turn's batch).
 */
const POOL_LIMIT_DOC = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: bench-pool }
spec:
  host: bench.upstream.test
  trafficPolicy:
    connectionPool:
      tcp: { maxConnections: 100000 }
`

/**
 * redis-server's CPU seconds so far and its script calls (EVALSHA and EVAL: the batches, plus
 * a few heartbeats).
 */
async function redisUsage(
  redis: RedisServer | undefined,
): Promise<{ cpu: number | undefined; calls: number } | undefined> {
  if (redis === undefined) return undefined
  const info = await inlineCommand(redis.port, 'INFO commandstats', 1000)
  let calls = 0
  for (const m of info.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)) calls += Number(m[1])
  return { cpu: redis.pid === undefined ? undefined : cpuSeconds(redis.pid), calls }
}

/** Two workers; the primary keeps the limits of both (no Redis). */
const WORKERS_SPEC = ['  workers: 2']

/** A CA and a server certificate for 127.0.0.1 (Node sends no SNI to an IP: the `*` server). */
function benchCertificates(): { caPem: string; files: Record<string, string> } {
  const ca = createCa('Portcullis bench CA')
  const server = issueCertificate(ca, { hosts: ['127.0.0.1'], days: 90 })
  return {
    caPem: ca.cert,
    files: { 'certs/bench/tls.crt': server.cert, 'certs/bench/tls.key': server.key },
  }
}

function httpsRouteDocs(gatewayPort: number, upstreamPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: bench }
spec:
  servers:
    - port: { number: ${gatewayPort}, name: https, protocol: HTTPS }
      hosts: ['*']
      tls: { mode: SIMPLE, credentialName: bench }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: bench }
spec:
  hosts: ['*']
  gateways: [bench]
  http:
    - route: [{ destination: { host: bench.upstream.test } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: bench }
spec:
  hosts: [bench.upstream.test]
  ports: [{ number: ${upstreamPort}, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`
}

process.once('SIGINT', () => {
  killAllChildren()
  process.exit(130)
})

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    killAllChildren()
    process.exit(1)
  },
)
