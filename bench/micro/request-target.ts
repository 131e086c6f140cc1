/**
 * Per-request cost of the request guard (HTTP/1.1 head checks, the shared target and Host check
 * and path normalization), for typical request heads and for paths normalization rewrites.
 * Run: node --import tsx bench/micro/request-target.ts
 *
 * Prints ns per request for each case and mode; compare with the gateway's CPU per request from
 * `npm run bench` (CPU % of one core / requests per second).
 */
import type { PathNormalization } from '../../src/lib/index.js'
import type { GuardSettings, RequestHead } from '../../src/dataplane/listeners/request-guard.js'
import { inspectRequest } from '../../src/dataplane/listeners/request-guard.js'

const BATCH = 100_000
const BATCHES = 20

const HEADERS = [
  'Host',
  'api.example.com',
  'User-Agent',
  'Mozilla/5.0 (X11; Linux x86_64) bench',
  'Accept',
  'application/json',
  'Accept-Encoding',
  'gzip, br',
  'X-Request-Id',
  '6b1f3c2e-0000-4000-8000-000000000001',
  'Connection',
  'keep-alive',
]

const CASES: Record<string, string> = {
  'already normal': '/api/v1/items/42?page=2&sort=name',
  'normal with escapes': '/files/report%20final%2Fq3.pdf?download=1',
  'dot segments (rewritten)': '/public/../api/./v1/%61dmin?x=1',
}

function settingsFor(mode: PathNormalization): GuardSettings {
  return {
    maxHeaderCount: 100,
    maxHeaderBytes: 16_384,
    headersWithUnderscores: 'REJECT',
    maxUriBytes: 8192,
    pathNormalization: mode,
  }
}

function head(url: string): RequestHead {
  return { method: 'GET', url, httpVersionMajor: 1, httpVersionMinor: 1, rawHeaders: HEADERS }
}

let sink = 0
function nsPerRequest(url: string, settings: GuardSettings): number {
  const heads: RequestHead[] = Array.from({ length: BATCH }, () => head(url))
  let best = Infinity
  for (let b = 0; b < BATCHES; b++) {
    for (const h of heads) h.url = url
    const start = process.hrtime.bigint()
    for (const h of heads) if (inspectRequest(h, settings) !== undefined) sink++
    const ns = Number(process.hrtime.bigint() - start) / BATCH
    if (ns < best) best = ns
  }
  return best
}

const modes: PathNormalization[] = ['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES']
console.log(`request guard, ns per request (best of ${BATCHES} batches of ${BATCH})`)
for (const [name, url] of Object.entries(CASES)) {
  const cells = modes.map((m) => `${m} ${nsPerRequest(url, settingsFor(m)).toFixed(0)}`)
  console.log(`${name.padEnd(26)} ${cells.join('  ')}`)
}
if (sink < 0) console.log(sink)
