// Open-loop load client for the fixed-rate latency runs: offers exactly --rate requests/s for
// --duration seconds over --connections keep-alive connections and prints one JSON line. Each
// request's latency runs from the time it was scheduled, not the time it was sent, so a slow
// answer that delays later sends is counted against them (no coordinated omission), measured in
// microseconds: autocannon's whole milliseconds cannot show a 0.5 ms difference at 1 000 req/s.
//
// node --import tsx bench/fixed-rate.ts --url=http://127.0.0.1:8080/ --rate=1000 --duration=5
//   [--connections=50] [--header='name: value']... [--client=undici|http] [--max-burst=4]
//   [--warmup=<s>, default 1: the same schedule first, not recorded]
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { pathToFileURL } from 'node:url'
import { Pool } from 'undici'
import {
  dueAtNs,
  nsUntilNext,
  sendsDue,
  summarizeMicros,
  takeFromWindow,
} from './fixed-rate-stats.js'
import type { BurstWindow, LatencySummary } from './fixed-rate-stats.js'

export interface FixedRateJson extends LatencySummary {
  rate: number
  seconds: number
  connections: number
  client: Client
  sent: number
  answered: number
  non2xx: number
  errors: number
  /** Requests still unanswered when the drain deadline passed. */
  timeouts: number
  /** Answered requests per second of the sending window. */
  achievedRate: number
  /** Sends made more than LATE_MICROS after they were due (a late loop or a catch-up turn). */
  lateSends: number
  /** How late sends left, from the schedule: the client's own share of the latency. */
  sendLagP50Ms: number
  sendLagP99Ms: number
  /** This process's CPU time per request sent, µs: what the load side costs the shared CPU. */
  clientCpuMicrosPerRequest: number
}

type Client = 'undici' | 'http'
/** Sends one GET; calls back once with the status (0 for an error) when the body has ended. */
type Send = (done: (status: number) => void) => void

const LATE_MICROS = 1000
/** How long answers may still arrive after the last send before they count as timeouts. */
const DRAIN_MS = 10_000
const WARMUP_TIMEOUT_MS = 10_000

function parseArgs(argv: string[]): {
  url: URL
  rate: number
  seconds: number
  connections: number
  headers: Record<string, string>
  client: Client
  maxBurst: number
  warmupSeconds: number
} {
  const flags = new Map<string, string>()
  const headers: Record<string, string> = {}
  for (const arg of argv) {
    const m = /^--([a-z-]+)=(.*)$/s.exec(arg)
    if (!m) throw new Error(`fixed-rate: unknown argument ${arg}`)
    if (m[1] === 'header') {
      const at = m[2]!.indexOf(':')
      if (at <= 0) throw new Error(`fixed-rate: --header needs "name: value", got ${m[2]}`)
      headers[m[2]!.slice(0, at).trim().toLowerCase()] = m[2]!.slice(at + 1).trim()
    } else flags.set(m[1]!, m[2]!)
  }
  const num = (name: string, fallback: number): number => {
    const v = Number(flags.get(name) ?? fallback)
    if (!Number.isFinite(v) || v <= 0) throw new Error(`fixed-rate: --${name} must be positive`)
    return v
  }
  const url = flags.get('url')
  if (url === undefined) throw new Error('fixed-rate: --url is required')
  const client = flags.get('client') ?? 'undici'
  if (client !== 'undici' && client !== 'http') throw new Error('fixed-rate: --client=undici|http')
  return {
    url: new URL(url),
    rate: num('rate', 1000),
    seconds: num('duration', 5),
    connections: Math.round(num('connections', 50)),
    headers,
    client,
    maxBurst: Math.round(num('max-burst', 4)),
    warmupSeconds: Number(flags.get('warmup') ?? 1) || 0,
  }
}

function undiciSender(url: URL, connections: number, headers: Record<string, string>) {
  const pool = new Pool(url.origin, { connections, pipelining: 1 })
  const path = url.pathname + url.search
  // pool.dispatch with a bare handler cost the same here: most of this process's CPU per request
  // (about 200 µs on a busy 2-core machine) is the socket syscalls, not the promise or stream.
  const send: Send = (done) => {
    pool.request({ path, method: 'GET', headers }).then(
      (res) =>
        res.body.dump().then(
          () => done(res.statusCode),
          () => done(0),
        ),
      () => done(0),
    )
  }
  return { send, close: () => pool.close() }
}

function httpSender(url: URL, connections: number, headers: Record<string, string>) {
  const isHttps = url.protocol === 'https:'
  const options = { keepAlive: true, maxSockets: connections, maxFreeSockets: connections }
  const agent = isHttps ? new HttpsAgent(options) : new HttpAgent(options)
  const request = isHttps ? httpsRequest : httpRequest
  const send: Send = (done) => {
    let called = false
    const once = (status: number): void => {
      if (!called) {
        called = true
        done(status)
      }
    }
    const req = request(url, { agent, headers }, (res) => {
      res.on('end', () => once(res.statusCode ?? 0))
      res.on('error', () => once(0))
      res.resume()
    })
    req.on('error', () => once(0))
    req.end()
  }
  return {
    send,
    close: (): Promise<void> => {
      agent.destroy()
      return Promise.resolve()
    },
  }
}

/** One request per connection before the clock starts, so connecting is not measured. */
async function warmUp(send: Send, connections: number): Promise<void> {
  await Promise.race([
    Promise.all(Array.from({ length: connections }, () => new Promise<number>((r) => send(r)))),
    new Promise((r) => setTimeout(r, WARMUP_TIMEOUT_MS).unref()),
  ])
}

interface Phase {
  sent: number
  answered: number
  non2xx: number
  errors: number
  lateSends: number
  /** Microseconds from each request's due time to its answer (NaN: none). */
  latencies: Float64Array
  /** Microseconds from each request's due time to its send. */
  lags: Float64Array
  sendingSeconds: number
}

/** Offers `rate` requests/s for `seconds`; resolves when all are answered or the drain ends. */
function runPhase(send: Send, rate: number, seconds: number, maxBurst: number): Promise<Phase> {
  const total = Math.round(rate * seconds)
  const phase: Phase = {
    sent: 0,
    answered: 0,
    non2xx: 0,
    errors: 0,
    lateSends: 0,
    latencies: new Float64Array(total).fill(Number.NaN),
    lags: new Float64Array(total),
    sendingSeconds: 0,
  }
  let lastSendNs = 0n
  let timer: NodeJS.Timeout | undefined
  let finish: () => void = () => {}
  const finished = new Promise<void>((r) => (finish = r))
  const startNs = process.hrtime.bigint()
  const window: BurstWindow = { startNs: startNs - 1_000_000n, sent: 0 }

  const onAnswer = (index: number, dueNs: bigint, status: number): void => {
    phase.latencies[index] = Number(process.hrtime.bigint() - dueNs) / 1000
    if (status === 0) phase.errors++
    else {
      phase.answered++
      if (status < 200 || status >= 300) phase.non2xx++
    }
    pump()
    if (phase.sent === total && phase.answered + phase.errors === total) finish()
  }

  function pump(): void {
    const now = process.hrtime.bigint()
    const due = sendsDue(startNs, rate, phase.sent, total, now, maxBurst)
    // pump also runs on every answer: several in one millisecond must not add up to a burst.
    const n = takeFromWindow(window, now, due, rate, maxBurst)
    for (let i = 0; i < n; i++) {
      const index = phase.sent++
      const dueNs = dueAtNs(startNs, rate, index)
      const lag = Number(now - dueNs) / 1000
      phase.lags[index] = lag
      if (lag > LATE_MICROS) phase.lateSends++
      send((status) => onAnswer(index, dueNs, status))
    }
    if (n > 0) lastSendNs = now
    if (phase.sent < total && timer === undefined) {
      // Timers have 1 ms granularity: wake at the due time rounded down, and let answers that
      // arrive in between send what has become due (pump runs on every answer as well).
      const waitMs = Math.floor(nsUntilNext(startNs, rate, phase.sent, total, now) / 1e6)
      timer = setTimeout(() => {
        timer = undefined
        pump()
      }, waitMs)
    }
  }

  pump()
  const deadline = new Promise((r) => setTimeout(r, seconds * 1000 + DRAIN_MS).unref())
  return Promise.race([finished, deadline]).then(() => {
    if (timer !== undefined) clearTimeout(timer)
    // The schedule spans `seconds`; a loop that fell behind took longer to send it all.
    phase.sendingSeconds = Number(lastSendNs - startNs) / 1e9 + 1 / rate
    return phase
  })
}

export async function runFixedRate(argv: string[]): Promise<FixedRateJson> {
  const args = parseArgs(argv)
  const { rate, seconds, connections } = args
  const client =
    args.client === 'undici'
      ? undiciSender(args.url, connections, args.headers)
      : httpSender(args.url, connections, args.headers)
  await warmUp(client.send, connections)
  // The same schedule, unrecorded, until this process's own code is compiled: its first
  // seconds send late, which would be measured as the target's latency.
  if (args.warmupSeconds > 0) await runPhase(client.send, rate, args.warmupSeconds, args.maxBurst)
  const cpuBefore = process.cpuUsage()
  const phase = await runPhase(client.send, rate, seconds, args.maxBurst)
  const cpu = process.cpuUsage(cpuBefore)
  const lagSummary = summarizeMicros(phase.lags.subarray(0, phase.sent))
  const result: FixedRateJson = {
    ...summarizeMicros(phase.latencies.filter((v) => !Number.isNaN(v))),
    rate,
    seconds,
    connections,
    client: args.client,
    sent: phase.sent,
    answered: phase.answered,
    non2xx: phase.non2xx,
    errors: phase.errors,
    timeouts: phase.sent - phase.answered - phase.errors,
    achievedRate: Math.round((phase.answered / Math.max(phase.sendingSeconds, seconds)) * 10) / 10,
    lateSends: phase.lateSends,
    sendLagP50Ms: lagSummary.p50Ms,
    sendLagP99Ms: lagSummary.p99Ms,
    clientCpuMicrosPerRequest:
      phase.sent === 0 ? 0 : Math.round((cpu.user + cpu.system) / phase.sent),
  }
  await Promise.race([client.close(), new Promise((r) => setTimeout(r, 2000).unref())])
  return result
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runFixedRate(process.argv.slice(2)).then(
    (result) => {
      console.log(JSON.stringify(result))
      process.exit(0)
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err)
      process.exit(1)
    },
  )
}
