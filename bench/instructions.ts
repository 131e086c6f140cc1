/**
 * Instructions per request: the gateway run under valgrind's callgrind, which counts the
 * instructions a process executes, whatever else the machine is doing. On this 2-core shared
 * machine the CPU-time ratios of `npm run bench` move by ±20 % between two runs of the same
 * build; a 2 % or 3 % bound needs a measure that does not. Time is still what users pay: read
 * these ratios next to the CPU-time ones.
 *
 * Each side of a comparison (tracing off / unsampled / sampled; a plain listener / PROXY v2; the
 * Node floor / the gateway) is its own process under callgrind, all of a group running at once: warmed up in turns with
 * instrumentation off (so V8 has tiered the hot code up, and no side sits idle for minutes while
 * another warms), then measured in alternating windows (A B C, C B A, …), each window
 * `callgrind_control --zero`, N requests, `callgrind_control --dump`. What a process does with
 * no traffic (timers, the readiness heartbeat) is counted in an idle window per side and
 * subtracted per second: under valgrind a window lasts ~30 times as long as natively, so timers
 * would otherwise weigh ~30 times what they do. The gateway runs with `--single-threaded` (no
 * compiler or GC threads, whose spinning valgrind counts) and without V8's memory reducer
 * (wall-clock GCs), which took the same build's windows from ±15 % apart to ±3 %. The young
 * generation starts at the 16 MB semi-space a native gateway grows to under load: under valgrind
 * V8 sized it by its slowed clock, 1–2 MB and different per process, so the same build scavenged
 * every 60 requests on one side and every 100 on another (natively every ~700), and the
 * scavenges' fixed cost (~1 M instructions each) weighed as much as the change being measured.
 * V8's compilers, on the main thread under `--single-threaded`, compile a function in whichever
 * window it got hot in (up to a third of a window's count): their instructions are left out of
 * every window (bench/callgrind-compile.ts), which measures the steady state.
 *
 * Run: npm run bench:instructions [-- --only=tracing,proxy,floor --requests=2000 --windows=5
 *      --warmup=40000 --idle-seconds=5 --sides=a,b --node-flags="..." --keep-dumps --control]
 * Needs valgrind (Debian package `valgrind`); measures dist/main.js (`npm run build` first).
 * A group of three takes about 8 minutes.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { gatewayConfigDoc, joinDocs, proxyRouteDocs } from '../test/e2e/harness/config-docs.js'
import { REPO_ROOT, startGateway } from '../test/e2e/harness/gateway.js'
import { freePorts } from '../test/e2e/harness/ports.js'
import { startBenchUpstream } from './child.js'
import { startFloor, type CountedProcess } from './instructions-floor.js'
import { driveKeepAlive, driveNewConnections, type Drive } from './instructions-load.js'
import {
  PAIRS,
  parseInstructionOptions,
  type Group,
  type InstructionOptions as Options,
} from './instructions-options.js'
import { PROXY_PROTOCOL_SPEC } from './proxy-protocol.js'
import { compileInstructions } from './callgrind-compile.js'
import { median } from './rounds.js'
import { runScript } from './script-kit.js'
import { tracingSetup } from './tracing.js'

const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results')

interface Side {
  readonly name: string
  readonly description: string
  /** GatewayConfig lines and extra documents of this side's config. */
  readonly spec: readonly string[]
  readonly docs: string
  readonly drive: (port: number, requests: number) => Promise<Drive>
  /** What runs under callgrind: the gateway (dist/main.js, the default) or the Node floor. */
  readonly program?: 'gateway' | 'floor'
}

interface GroupSetup {
  readonly sides: readonly Side[]
  close(): Promise<void>
}

const keepAlive = (port: number, n: number): Promise<Drive> => driveKeepAlive(port, n)

const SETUPS: Record<Group, () => Promise<GroupSetup>> = {
  floor() {
    return Promise.resolve({
      sides: [
        {
          name: 'floor',
          description: 'the Node floor (bench/floor-proxy.ts), keep-alive',
          spec: [],
          docs: '',
          drive: keepAlive,
          program: 'floor',
        },
        {
          name: 'portcullis',
          description: 'keep-alive, routing, response headers and metrics on',
          spec: [],
          docs: '',
          drive: keepAlive,
        },
      ],
      close: () => Promise.resolve(),
    })
  },
  async tracing() {
    const unsampled = await tracingSetup(0)
    const sampled = await tracingSetup(1)
    return {
      sides: [
        {
          name: 'portcullis',
          description: 'keep-alive, no tracing',
          spec: [],
          docs: '',
          drive: keepAlive,
        },
        {
          name: 'tracing-unsampled',
          description: 'keep-alive, Telemetry tracing at 0 % (context extracted and injected)',
          ...unsampled.extra,
          drive: keepAlive,
        },
        {
          name: 'tracing-sampled',
          description: 'keep-alive, Telemetry tracing at 1 %, spans exported over OTLP/HTTP',
          ...sampled.extra,
          drive: keepAlive,
        },
      ],
      async close() {
        await unsampled.receiver.close()
        await sampled.receiver.close()
      },
    }
  },
  proxy() {
    return Promise.resolve({
      sides: [
        {
          name: 'new-conn',
          description: 'a new connection per request, plain listener',
          spec: [],
          docs: '',
          drive: (port, n) => driveNewConnections(port, n, 'none'),
        },
        {
          name: 'proxy-v2-new-conn',
          description: 'a new connection per request, PROXY v2 header on each',
          spec: PROXY_PROTOCOL_SPEC,
          docs: '',
          drive: (port, n) => driveNewConnections(port, n, 'v2'),
        },
      ],
      close: () => Promise.resolve(),
    })
  },
}

interface Measured {
  readonly name: string
  /** Instructions per request, per window, idle work and compiling subtracted. */
  readonly perRequest: number[]
  /** Over all windows: instructions (idle work and compiling subtracted) and requests answered. */
  total: number
  requests: number
  /** Over all windows: the instructions spent compiling, left out of `total`. */
  compiling: number
  idlePerSecond: number
  failures: number
}

function callgrindControl(pid: number, ...args: string[]): void {
  const r = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${r.stderr}`)
}

/** The instruction total of dump `base.index`, once valgrind has written all of it. */
/** A dump's instructions, and of them those spent compiling (callgrind-compile.ts). */
async function dumpTotal(
  base: string,
  index: number,
): Promise<{ total: number; compiling: number }> {
  const path = `${base}.${index}`
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (existsSync(path)) {
      const m = /^totals:\s+(\d+)/m.exec(readFileSync(path, 'utf8'))
      if (m) return { total: Number(m[1]), compiling: compileInstructions(path) }
    }
    await sleep(100)
  }
  throw new Error(`callgrind wrote no ${path} within 60 s`)
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/**
 * Under valgrind the gateway serves about 30 times fewer requests per second than natively, so
 * a span batch that fills for 1 s natively (the processor's delay) would hold 30 times fewer
 * spans and cost 30 times as much per span. The delay is stretched by that factor instead
 * (OTEL_BSP_SCHEDULE_DELAY, which the gateway reads as OpenTelemetry's SDKs do).
 */
const GATEWAY_ENV = { OTEL_BSP_SCHEDULE_DELAY: '30000' }

interface Running {
  readonly side: Side
  readonly proc: CountedProcess
  readonly outBase: string
  dumps: number
  readonly result: Measured
}

/** A gateway side's config and dist/main.js, started by `valgrindNode`. */
async function startCountedGateway(
  side: Side,
  valgrindNode: readonly string[],
  upstreamPort: number,
): Promise<CountedProcess> {
  const [port, readinessPort, metricsPort] = await freePorts(3)
  const yaml = joinDocs(
    gatewayConfigDoc({
      readinessPort: readinessPort!,
      metricsPort: metricsPort!,
      extraSpec: [...side.spec],
    }),
    proxyRouteDocs({ gatewayPort: port!, upstreamPort, name: 'bench' }),
    ...(side.docs !== '' ? [side.docs] : []),
  )
  const gw = await startGateway({
    yaml,
    env: GATEWAY_ENV,
    command: [...valgrindNode, join(REPO_ROOT, 'dist', 'main.js')],
    readyTimeoutMs: 300_000,
  })
  return {
    pid: gw.proc.pid ?? 0,
    port: port!,
    async stop() {
      await gw.stop('SIGTERM', 120_000).catch(() => gw.proc.kill('SIGKILL'))
      await gw.cleanup()
    },
  }
}

/** The control side of a group: a second process of its first pair's baseline, same config. */
function controlOf(group: Group): readonly [string, string] {
  const baseline = PAIRS[group][0][1]
  return [`${baseline}-control`, baseline]
}

function withControl(setup: GroupSetup, group: Group, control: boolean): GroupSetup {
  if (!control) return setup
  const [name, baseline] = controlOf(group)
  const side = setup.sides.find((s) => s.name === baseline)
  if (side === undefined) return setup
  return { ...setup, sides: [...setup.sides, { ...side, name }] }
}

/** One process under callgrind per side, all running at once, measured in alternating windows. */
async function measureGroup(
  group: Group,
  opts: Options,
  upstreamPort: number,
): Promise<Measured[]> {
  const setup = withControl(await SETUPS[group](), group, opts.control)
  const running: Running[] = []
  // bench/results/ is not in the repository: a fresh clone has none for valgrind to write into.
  mkdirSync(RESULTS_DIR, { recursive: true })
  try {
    // Started one after the other (start-up is the slow part under valgrind), then all warmed.
    for (const side of setup.sides) {
      if (opts.sides !== undefined && !opts.sides.includes(side.name)) continue
      const outBase = join(RESULTS_DIR, `callgrind-${side.name}-${process.pid}`)
      const valgrindNode = [
        'valgrind',
        '--tool=callgrind',
        '--instr-atstart=no',
        `--callgrind-out-file=${outBase}`,
        process.execPath,
        // No background compiler or GC threads: under valgrind their spinning and scheduling
        // are counted, and vary from run to run. The same work is done, on the main thread.
        '--single-threaded',
        // Its GCs are timed by the wall clock, which valgrind slows 30-fold, and fall on
        // whichever side was idle longest.
        '--no-memory-reducer',
        // Young generation as a loaded native gateway has it (see the top of this file).
        '--min-semi-space-size=16',
        ...opts.nodeFlags,
      ]
      const proc =
        side.program === 'floor'
          ? await startFloor(valgrindNode, RESULTS_DIR, REPO_ROOT, upstreamPort)
          : await startCountedGateway(side, valgrindNode, upstreamPort)
      running.push({
        side,
        proc,
        outBase,
        dumps: 0,
        result: {
          name: side.name,
          perRequest: [],
          requests: 0,
          total: 0,
          compiling: 0,
          idlePerSecond: 0,
          failures: 0,
        },
      })
    }
    // Warmed in turns, so that no gateway sits idle for minutes while another warms up: V8's
    // heuristics that look at time (the memory reducer, heap sizing) then see the same history.
    const chunk = Math.min(5000, opts.warmup)
    for (let done = 0; done < opts.warmup; done += chunk) {
      for (const r of running) {
        r.result.failures += (
          await r.side.drive(r.proc.port, Math.min(chunk, opts.warmup - done))
        ).failures
      }
    }
    for (const r of running) callgrindControl(r.proc.pid, '--instr=on')
    // valgrind translates the code again with instrumentation: run it once before counting.
    for (const r of running) {
      r.result.failures += (await r.side.drive(r.proc.port, Math.min(opts.requests, 1000))).failures
    }
    for (const r of running) {
      const pid = r.proc.pid
      // Background work the load left (sweeping, a pending compile) is not idle work.
      await sleep(1000)
      callgrindControl(pid, '--zero')
      const start = performance.now()
      await sleep(opts.idleSeconds * 1000)
      callgrindControl(pid, '--dump')
      const idle = await dumpTotal(r.outBase, ++r.dumps)
      r.result.idlePerSecond = (idle.total - idle.compiling) / ((performance.now() - start) / 1000)
    }
    for (let w = 0; w < opts.windows; w++) {
      const order = w % 2 === 0 ? running : [...running].reverse()
      for (const r of order) {
        const pid = r.proc.pid
        callgrindControl(pid, '--zero')
        const start = performance.now()
        const drive = await r.side.drive(r.proc.port, opts.requests)
        const seconds = (performance.now() - start) / 1000
        callgrindControl(pid, '--dump')
        const dump = await dumpTotal(r.outBase, ++r.dumps)
        const net = dump.total - dump.compiling - r.result.idlePerSecond * seconds
        r.result.compiling += dump.compiling
        r.result.failures += drive.failures
        r.result.total += net
        r.result.requests += drive.answered
        r.result.perRequest.push(net / drive.answered)
        console.log(
          `  round ${w + 1} ${r.side.name}: ${(net / 1e6).toFixed(1)} M instructions net of ` +
            `idle and of compiling (${(dump.compiling / 1e6).toFixed(1)} M), ` +
            `${drive.answered} answered in ${seconds.toFixed(1)} s → ` +
            `${Math.round(net / drive.answered)} per request`,
        )
      }
    }
    return running.map((r) => r.result)
  } finally {
    for (const r of running) await r.proc.stop()
    await setup.close()
    if (!opts.keepDumps) {
      for (const f of readdirSync(RESULTS_DIR)) {
        const ours = f.startsWith('callgrind-') || f.startsWith('floor-proxy-')
        if (ours && f.includes(`-${process.pid}`)) {
          rmSync(join(RESULTS_DIR, f), { force: true })
        }
      }
    }
  }
}

async function main(): Promise<number> {
  const opts = parseInstructionOptions(process.argv.slice(2))
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    console.error('valgrind not found (apt-get install valgrind)')
    return 1
  }
  if (!existsSync(join(REPO_ROOT, 'dist', 'main.js'))) {
    console.error('dist/main.js is missing: run `npm run build` first')
    return 1
  }
  const { child: upstream, port: upstreamPort } = await startBenchUpstream()
  console.log(
    `Instructions per request (callgrind), node ${process.version}: ${opts.warmup} warm-up ` +
      `requests per group, then ${opts.windows} rounds of ${opts.requests} per side; ` +
      `groups: ${opts.groups.join(', ')}`,
  )
  // By group: the tracing and floor groups both have a `portcullis` side, each its own process.
  const results = new Map<Group, Map<string, Measured>>()
  for (const group of opts.groups) {
    console.log(`${group}:`)
    const measured = await measureGroup(group, opts, upstreamPort)
    results.set(group, new Map(measured.map((m) => [m.name, m])))
  }
  await upstream.stop()
  console.log(
    '\n| side | instructions per request | by round | idle per second | compiling, left out | failed |',
  )
  console.log('|---|---|---|---|---|---|')
  for (const r of [...results.values()].flatMap((m) => [...m.values()])) {
    console.log(
      `| ${r.name} | ${Math.round(r.total / r.requests)} | ` +
        `${r.perRequest.map((n) => Math.round(n)).join(', ')} | ` +
        `${(r.idlePerSecond / 1e6).toFixed(2)} M | ${(r.compiling / 1e6).toFixed(1)} M | ` +
        `${r.failures} |`,
    )
  }
  let ok = true
  console.log('')
  for (const group of opts.groups) {
    const pairs: (readonly [string, string, number | undefined])[] = [...PAIRS[group]]
    if (opts.control) pairs.push([...controlOf(group), undefined])
    for (const [a, b, bound] of pairs) {
      const ra = results.get(group)?.get(a)
      const rb = results.get(group)?.get(b)
      if (ra === undefined || rb === undefined) continue
      // Over all windows (a span export or a GC falls in some windows only, and both are part
      // of the cost); each round's ratio is printed too, to show how much windows differ.
      const ratios = ra.perRequest.map((n, i) => n / rb.perRequest[i]!)
      const ratio = ra.total / ra.requests / (rb.total / rb.requests)
      const valid = ra.failures === 0 && rb.failures === 0
      const head =
        `${a} / ${b}: ${ratio.toFixed(3)}x instructions per request over ${ratios.length} ` +
        `rounds (by round ${ratios.map((r) => r.toFixed(3)).join(', ')}; median ` +
        `${median(ratios).toFixed(3)}x`
      if (bound === undefined) {
        // The control pair has no bound: it shows how far two identical gateways differ.
        console.log(`${head}; two identical gateways, the bench's own spread)`)
        continue
      }
      const pass = valid && ratio <= bound
      ok &&= pass
      console.log(
        `${head}; bound ${bound.toFixed(2)}x): ` +
          (!valid ? 'NOT VALID (failed requests)' : pass ? 'ok' : 'MISSED'),
      )
    }
  }
  return ok ? 0 : 2
}

runScript(main)
