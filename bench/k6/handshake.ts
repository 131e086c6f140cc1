// A new connection for every request (HTTPS: a full TLS handshake each), the handshake-rate
// scenario. k6 keeps connections unless told otherwise; noConnectionReuse closes each one.
//   k6 run -e TARGET=https://127.0.0.1:8443 --insecure-skip-tls-verify bench/k6/handshake.ts
import { check } from 'k6'
import http from 'k6/http'
import type { Options } from 'k6/options'
import { DURATION, HEADERS, THRESHOLDS, URL, VUS } from './config.ts'

export const options: Options = {
  vus: VUS,
  duration: DURATION,
  noConnectionReuse: true,
  thresholds: {
    ...THRESHOLDS,
    // The handshake itself, where the native TLS path shows.
    http_req_tls_handshaking: [`p(99)<${__ENV['HANDSHAKE_P99_MS'] ?? '20'}`],
  },
}

export default function (): void {
  const res = http.get(URL, { headers: HEADERS })
  check(res, { 'status is 2xx': (r) => r.status >= 200 && r.status < 300 })
}
