// Benchmark options from flags (--duration=10) or the environment (BENCH_DURATION=10).
export const TARGETS = [
  'direct',
  'floor',
  'fastify',
  'portcullis',
  'portcullis-access-log',
  'direct-16k',
  'floor-16k',
  'fastify-16k',
  'portcullis-16k',
  'floor-https',
  'fastify-https',
  'baseline',
  'portcullis-https',
  'baseline-https',
  'floor-https-handshake',
  'fastify-https-handshake',
  'portcullis-https-handshake',
  'portcullis-redis-limit',
  'portcullis-pool-limit',
  'portcullis-workers',
  'portcullis-workers-limit',
  'portcullis-relay',
  'portcullis-proxy-v2',
  'portcullis-relay-new-conn',
  'portcullis-proxy-v2-new-conn',
  'portcullis-tracing-unsampled',
  'portcullis-tracing-sampled',
] as const
export type Target = (typeof TARGETS)[number]

export interface BenchOptions {
  // Measured seconds per target.
  duration: number
  // Warm-up seconds per target (not measured).
  warmup: number
  connections: number
  only: Target[]
  cpuProf: boolean
  // Disable taskset pinning even when it is available.
  noPin: boolean
  // A different built entry point to run as Portcullis (e.g. another checkout's dist/main.js).
  entry?: string
  // Requests/s of the fixed-rate latency run after the closed-loop one (0: none), made with
  // bench/fixed-rate.ts (open loop, latencies to 0.01 ms); 1 000 is the rate issue #15 bounds.
  rate: number
  // Requests/s of the PROXY protocol new-connection pair, which is measured at a fixed rate.
  proxyRate: number
  // A second build measured as the baseline targets: a dist directory, or a git ref to build.
  baselineDist?: string
  baselineRef?: string
  // Rounds over the target list: with several, targets alternate (a, b, a, b, ...), so a slow
  // patch of the machine hits both sides of a comparison, and ratios are reported per round and
  // as their median.
  repeat: number
  /**
   * Seconds the `portcullis` and `floor` processes sit with no traffic before any load, their
   * lowest RSS then being the idle RSS (0: read it at once). V8 gives back the start-up's heap
   * growth only when its memory reducer runs, 15–20 s after start-up.
   */
  idle: number
  /**
   * Requests/s per target when every selected target runs at the same time (0: one after the
   * other): all gateways on the same CPU, each loaded at this fixed rate, so whatever else the
   * machine does slows them alike and their CPU per request compares within one run.
   */
  together: number
}

/** Targets that also get the fixed-rate run: the limit's added latency at a given load. */
export const FIXED_RATE_TARGETS: readonly Target[] = [
  'floor',
  'fastify',
  'portcullis',
  'portcullis-redis-limit',
  'portcullis-pool-limit',
]

/**
 * Targets whose measured run itself is at a fixed rate (--proxy-rate), a new connection per
 * request from bench/new-conn-client.ts: the gateway's CPU per request at the same load is the
 * comparison. Run together, the two are loaded side by side (bench/run.ts).
 */
export const FIXED_LOAD_TARGETS: readonly Target[] = [
  'portcullis-relay-new-conn',
  'portcullis-proxy-v2-new-conn',
]

export const USAGE = `usage: npm run bench -- [options]
  --duration=<s>      measured seconds per target (BENCH_DURATION, default 10)
  --warmup=<s>        warm-up seconds per target (BENCH_WARMUP, default 2)
  --connections=<n>   concurrent connections (BENCH_CONNECTIONS, default 50)
  --only=<targets>    comma list of ${TARGETS.join(', ')} (BENCH_ONLY, default all)
  --cpu-prof          profile Portcullis and print its top self-time functions (BENCH_CPU_PROF=1)
  --no-pin            do not pin processes with taskset (BENCH_NO_PIN=1)
  --entry=<file.js>   run this built entry point as Portcullis (BENCH_ENTRY)
  --rate=<rps>        fixed-rate latency run of ${FIXED_RATE_TARGETS.join(', ')} (BENCH_RATE, default 1000; 0 = none), open loop, 0.01 ms resolution
  --proxy-rate=<rps>  fixed rate of each of ${FIXED_LOAD_TARGETS.join(', ')} (BENCH_PROXY_RATE, default 200)
  --baseline-ref=<ref>   build this git ref and measure it as baseline, baseline-https (BENCH_BASELINE_REF)
  --baseline-dist=<dir>  measure this built dist/ as baseline, baseline-https (BENCH_BASELINE_DIST)
  --idle=<s>          seconds portcullis and floor stay unloaded first; their lowest RSS then is the idle RSS (BENCH_IDLE, default 45; 0 = read at once)
  --repeat=<n>        run the target list n times, interleaved; ratios per round and their median (BENCH_REPEAT, default 1)
  --together=<rps>    run every selected target at once, each at this fixed rate, for CPU-per-request comparisons on a busy machine (BENCH_TOGETHER, default 0: one after the other)
Portcullis runs from dist/ when it exists: run \`npm run build\` first for representative numbers.`

function positive(name: string, raw: string): number {
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`)
  return value
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flags = new Map<string, string>()
  for (const arg of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg)
    if (!m) throw new Error(`unknown argument ${arg}\n${USAGE}`)
    flags.set(m[1]!, m[2] ?? 'true')
  }
  const known = [
    'duration',
    'warmup',
    'connections',
    'only',
    'cpu-prof',
    'no-pin',
    'entry',
    'rate',
    'proxy-rate',
    'baseline-ref',
    'baseline-dist',
    'repeat',
    'idle',
    'together',
    'help',
  ]
  for (const name of flags.keys()) {
    if (!known.includes(name)) throw new Error(`unknown option --${name}\n${USAGE}`)
  }
  const pick = (flag: string, envName: string, fallback: string): string =>
    flags.get(flag) ?? env[envName] ?? fallback
  const baselineRef = flags.get('baseline-ref') ?? env['BENCH_BASELINE_REF']
  const baselineDist = flags.get('baseline-dist') ?? env['BENCH_BASELINE_DIST']
  const hasBaseline = baselineRef !== undefined || baselineDist !== undefined
  // With a baseline, the default is the side-by-side pairs; without one, its targets cannot run.
  const defaultTargets = hasBaseline
    ? ['portcullis', 'baseline', 'portcullis-https', 'baseline-https']
    : TARGETS.filter((t) => !t.startsWith('baseline'))
  const only = pick('only', 'BENCH_ONLY', defaultTargets.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  for (const t of only) {
    if (!(TARGETS as readonly string[]).includes(t)) {
      throw new Error(`--only: unknown target ${t} (one of ${TARGETS.join(', ')})`)
    }
  }
  if (!hasBaseline && only.some((t) => t.startsWith('baseline'))) {
    throw new Error('the baseline targets need --baseline-ref or --baseline-dist')
  }
  const entry = flags.get('entry') ?? env['BENCH_ENTRY']
  return {
    ...(entry !== undefined ? { entry } : {}),
    ...(baselineRef !== undefined ? { baselineRef } : {}),
    ...(baselineDist !== undefined ? { baselineDist } : {}),
    duration: positive('duration', pick('duration', 'BENCH_DURATION', '10')),
    warmup: Number(pick('warmup', 'BENCH_WARMUP', '2')),
    connections: Math.round(
      positive('connections', pick('connections', 'BENCH_CONNECTIONS', '50')),
    ),
    // Keep the fixed order (direct, floor, portcullis) whatever order was asked for.
    only: TARGETS.filter((t) => only.includes(t)),
    cpuProf: flags.has('cpu-prof') || env['BENCH_CPU_PROF'] === '1',
    noPin: flags.has('no-pin') || env['BENCH_NO_PIN'] === '1',
    rate: Math.max(0, Math.round(Number(pick('rate', 'BENCH_RATE', '1000')) || 0)),
    proxyRate: Math.round(positive('proxy-rate', pick('proxy-rate', 'BENCH_PROXY_RATE', '200'))),
    repeat: Math.round(positive('repeat', pick('repeat', 'BENCH_REPEAT', '1'))),
    idle: Math.max(0, Number(pick('idle', 'BENCH_IDLE', '45')) || 0),
    together: Math.max(0, Math.round(Number(pick('together', 'BENCH_TOGETHER', '0')) || 0)),
  }
}

export function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h')
}
