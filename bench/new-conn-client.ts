// The load generator of the `-new-conn` PROXY pair: at a fixed rate, a new TCP connection per
// request, `Connection: close`, the response read to the server's FIN. Not autocannon: with
// `Connection: close`, autocannon 9 writes its next request onto the connection the server is
// closing (two request slots of its per-second rate budget per response, so it offers about half
// the rate asked for), and its latency is taken from that stale request, so it grows with the run
// (a 1-3 s p50 even against a bare net.Server). Here each arrival is scheduled at its own time
// (open loop), so a slow side shows as latency and as arrivals it had no room for, never as a
// lower offered rate. Runs as its own process, like autocannon.
// Env: LOAD_URL (http://host:port/path), LOAD_RATE (req/s), LOAD_SECONDS, LOAD_MAX_IN_FLIGHT.
// Prints one JSON line (bench/load.ts's LoadResult plus `offered` and `skipped`).
import { connect } from 'node:net'

const url = new URL(process.env['LOAD_URL'] ?? '')
const rate = Number(process.env['LOAD_RATE'])
const seconds = Number(process.env['LOAD_SECONDS'])
const maxInFlight = Number(process.env['LOAD_MAX_IN_FLIGHT'] ?? '200')
if (url.protocol !== 'http:') throw new Error('LOAD_URL must be an http:// URL')
for (const [name, value] of Object.entries({ rate, seconds, maxInFlight })) {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be positive`)
}

/** Past this a request counts as a timeout (autocannon's default too). */
const TIMEOUT_MS = 10_000
const port = Number(url.port || 80)
const request = Buffer.from(
  `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`,
  'latin1',
)

const latencies: number[] = []
let offered = 0
let skipped = 0
let inFlight = 0
let errors = 0
let timeouts = 0
let non2xx = 0

/** One request on its own connection; latency from when it was due, not when it got a turn. */
function fire(dueAt: number): void {
  inFlight++
  let head = ''
  let finished = false
  const socket = connect({ host: url.hostname, port, noDelay: true })
  const finish = (outcome: 'response' | 'error' | 'timeout'): void => {
    if (finished) return
    finished = true
    inFlight--
    clearTimeout(timer)
    socket.destroy()
    if (outcome === 'error') errors++
    else if (outcome === 'timeout') timeouts++
    else {
      latencies.push(performance.now() - dueAt)
      if (!/^HTTP\/1\.[01] 2\d\d /.test(head)) non2xx++
    }
  }
  const timer = setTimeout(() => finish('timeout'), TIMEOUT_MS)
  socket.once('connect', () => socket.write(request))
  socket.on('data', (chunk: Buffer) => {
    // The status line is all that is checked; the rest is read only to reach the FIN.
    if (head.length < 16) head += chunk.toString('latin1', 0, 16)
  })
  socket.once('end', () => finish(head === '' ? 'error' : 'response'))
  socket.once('error', () => finish('error'))
}

const started = performance.now()
const total = Math.round(rate * seconds)
// A 1 ms timer: every arrival that is due is started, whatever the timer's own jitter.
const ticker = setInterval(() => {
  const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate))
  while (offered < due) {
    const dueAt = started + (offered * 1000) / rate
    offered++
    if (inFlight >= maxInFlight) skipped++
    else fire(dueAt)
  }
  if (offered >= total) clearInterval(ticker)
}, 1)

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!
}

// Ends once the last arrival is answered (or timed out): bounded by TIMEOUT_MS after the run.
const done = setInterval(() => {
  if (offered < total || inFlight > 0) return
  clearInterval(done)
  const sorted = latencies.sort((a, b) => a - b)
  const round = (ms: number): number => Math.round(ms * 100) / 100
  console.log(
    JSON.stringify({
      requestsPerSecond: sorted.length / seconds,
      requests: sorted.length,
      latencyP50Ms: round(percentile(sorted, 50)),
      latencyP99Ms: round(percentile(sorted, 99)),
      latencyMaxMs: round(sorted[sorted.length - 1] ?? 0),
      errors,
      timeouts,
      non2xx,
      offered,
      skipped,
    }),
  )
}, 20)
