/**
 * GET /egress/denied and GET /egress/observed: the recent egress destinations the allowlist
 * refused, and those let out without a ServiceEntry (audit mode, ALLOW_ANY passthrough). Most
 * recently seen first; `portcullis suggest serviceentries --admin` reads /egress/observed and
 * /egress/denied.
 */
import type { FastifyInstance } from 'fastify'
import type { RuntimeView } from '../../runtime/index.js'

export function registerEgress(app: FastifyInstance, runtime: RuntimeView): void {
  app.get('/egress/denied', () => ({ destinations: runtime.egressObservations('denied') }))
  app.get('/egress/observed', () => ({ destinations: runtime.egressObservations('observed') }))
}
