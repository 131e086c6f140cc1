// The latency probe: a fixed arrival rate (default 2 000 requests/s, keep-alive), well below
// saturation, so latency is what the gateway adds rather than queueing. Run it against the
// gateway and against the upstream directly and compare p50: the added p50 is the difference
// (issue 16's target: at most 0.15 ms over the Node floor).
//   k6 run -e TARGET=http://127.0.0.1:8080 -e RATE=2000 bench/k6/fixed-rate.ts
import { check } from 'k6'
import http from 'k6/http'
import type { Options } from 'k6/options'
import { DURATION, HEADERS, THRESHOLDS, URL, VUS } from './config.ts'

const RATE = Number(__ENV['RATE'] ?? '2000')

export const options: Options = {
  scenarios: {
    probe: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: VUS,
      maxVUs: VUS * 4,
    },
  },
  thresholds: {
    ...THRESHOLDS,
    http_req_duration: [`p(50)<${__ENV['P50_MS'] ?? '2'}`, `p(99)<${__ENV['P99_MS'] ?? '20'}`],
    // The rate was not met when k6 ran out of VUs: the result would not be at RATE.
    dropped_iterations: ['count<1'],
  },
}

export default function (): void {
  const res = http.get(URL, { headers: HEADERS })
  check(res, { 'status is 2xx': (r) => r.status >= 200 && r.status < 300 })
}
