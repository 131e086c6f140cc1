/** Metrics for certificates obtained from ACME issuers: orders by result, and expiry times. */
import { Counter, Gauge, type Registry } from 'prom-client'

export type AcmeOrderResult = 'issued' | 'failed'

export interface AcmeObserver {
  onOrder(certificate: string, result: AcmeOrderResult): void
  /** notAfter of the certificate now installed, milliseconds since the epoch. */
  onInstalled(certificate: string, notAfterMs: number): void
}

export function createAcmeMetrics(registry: Registry): AcmeObserver {
  const orders = new Counter({
    name: 'portcullis_acme_orders_total',
    help: 'ACME orders this replica placed, by result: issued, failed (the current certificate keeps serving; retried with backoff).',
    labelNames: ['result'] as const,
    registers: [registry],
  })
  for (const result of ['issued', 'failed'] as const) orders.inc({ result }, 0)
  const expiry = new Gauge({
    name: 'portcullis_acme_certificate_expiry_timestamp_seconds',
    help: 'Unix time at which the installed certificate of each ACME Certificate (namespace/name) expires.',
    labelNames: ['certificate'] as const,
    registers: [registry],
  })
  return {
    onOrder: (_certificate, result) => orders.inc({ result }),
    onInstalled: (certificate, notAfterMs) => expiry.set({ certificate }, notAfterMs / 1000),
  }
}
