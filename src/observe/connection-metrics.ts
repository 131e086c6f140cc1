/** Metrics for downstream connections that ended in an error (observe/events ConnectionObserver). */
import { Counter, type Registry } from 'prom-client'
import type { ConnectionObserver } from './events.js'

export function createConnectionMetrics(registry: Registry): ConnectionObserver {
  const errors = new Counter({
    name: 'portcullis_downstream_connection_errors_total',
    help: 'Downstream connections closed because of an error on that connection (HTTP/2 protocol errors and floods, rapid reset, a callback that threw), by listener and reason. Other connections are not affected.',
    labelNames: ['listener', 'reason'] as const,
    registers: [registry],
  })
  const handshakes = new Counter({
    name: 'portcullis_downstream_tls_handshake_failures_total',
    help: 'Downstream TLS handshakes that failed, or whose client certificate was refused (no_client_cert, unknown_ca, cert_expired, …): the connection closed without any HTTP. By listener and reason.',
    labelNames: ['listener', 'reason'] as const,
    registers: [registry],
  })
  return {
    onConnectionError(listener, reason) {
      errors.inc({ listener, reason })
    },
    onTlsHandshakeFailure(listener, reason) {
      handshakes.inc({ listener, reason })
    },
  }
}
