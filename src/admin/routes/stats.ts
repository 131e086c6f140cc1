/** GET /stats: data-plane counters (listeners, open connections, requests in flight). */
import type { FastifyInstance } from 'fastify'
import type { RuntimeView } from '../../runtime/index.js'

export function registerStats(app: FastifyInstance, runtime: RuntimeView): void {
  app.get('/stats', () => runtime.stats())
}
