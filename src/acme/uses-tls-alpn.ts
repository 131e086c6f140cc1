import type * as ir from '../ir/index.js'

/** Whether any Certificate of `plan` validates a name with tls-alpn-01. */
export function usesTlsAlpn01(plan: ir.AcmePlan | undefined): boolean {
  return (
    plan?.certificates.some((c) => Object.values(c.challenges).includes('tls-alpn-01')) === true
  )
}
