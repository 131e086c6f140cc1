// What every k6 script here shares: the target, the path, and the thresholds that make a run
// pass or fail. k6 runs TypeScript itself (`k6 run bench/k6/keepalive.ts`); nothing here runs
// under Node. Environment (`k6 run -e NAME=value`):
//   TARGET     base URL of the gateway under test (default http://127.0.0.1:8080)
//   PATH_      request path (default /; the bench upstream serves 16 KiB at /16k)
//   VUS        virtual users = concurrent connections (default 50)
//   DURATION   measured time (default 30s)
//   P99_MS     p99 latency threshold in ms (default 50)
//   HOST       Host header, when routing needs one
import type { Threshold } from 'k6/options'

export const TARGET = __ENV['TARGET'] ?? 'http://127.0.0.1:8080'
export const PATH = __ENV['PATH_'] ?? '/'
export const URL = TARGET.replace(/\/$/, '') + PATH
export const VUS = Number(__ENV['VUS'] ?? '50')
export const DURATION = __ENV['DURATION'] ?? '30s'
const P99_MS = Number(__ENV['P99_MS'] ?? '50')

/** Request headers: the Host a VirtualService routes on, when one is given. */
export const HEADERS: Record<string, string> =
  __ENV['HOST'] !== undefined ? { Host: __ENV['HOST'] } : {}

/**
 * The same checks the in-repo bench reports: no failed or non-2xx answers (k6 counts a status
 * >= 400 as failed), every response checked, and a p99 bound.
 */
export const THRESHOLDS: Record<string, Threshold[]> = {
  http_req_failed: ['rate<0.001'],
  checks: ['rate>0.999'],
  http_req_duration: [`p(99)<${P99_MS}`],
}
