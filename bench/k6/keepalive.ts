// HTTP (or HTTPS, with an https:// TARGET) keep-alive, closed loop: each VU sends its next
// request when the previous one is answered, on the same connection. The 16 KiB scenario is
// `-e PATH_=/16k` against the bench upstream.
//   k6 run -e TARGET=http://127.0.0.1:8080 bench/k6/keepalive.ts
import { check } from 'k6'
import http from 'k6/http'
import type { Options } from 'k6/options'
import { DURATION, HEADERS, THRESHOLDS, URL, VUS } from './config.ts'

export const options: Options = {
  vus: VUS,
  duration: DURATION,
  thresholds: THRESHOLDS,
}

export default function (): void {
  const res = http.get(URL, { headers: HEADERS })
  check(res, { 'status is 2xx': (r) => r.status >= 200 && r.status < 300 })
}
