/**
 * The admin API (Istio's :15000 admin, loopback by default). One file per endpoint in routes/.
 * Fastify's own logger stays off: failures are logged once, through ours.
 */
import fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import type { Logger } from '../lib/index.js'
import type { RuntimeView } from '../runtime/index.js'
import { registerConfigDump } from './routes/config-dump.js'
import { registerDescribe } from './routes/describe.js'
import { registerDiagnostics } from './routes/diagnostics.js'
import { registerEgress } from './routes/egress.js'
import { registerReady } from './routes/ready.js'
import { registerReload } from './routes/reload.js'
import { registerStats } from './routes/stats.js'

const ENDPOINTS = [
  'GET /config_dump',
  'GET /describe',
  'GET /diagnostics',
  'GET /egress/denied',
  'GET /egress/observed',
  'POST /reload',
  'GET /ready',
  'GET /stats',
] as const

export function createAdminApi(runtime: RuntimeView, logger: Logger): FastifyInstance {
  const app = fastify({ logger: false })
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500
    if (status >= 500) logger.error('admin request failed', { url: req.url, error: err })
    return reply.code(status).send({ error: err.message })
  })
  app.get('/', () => ({ endpoints: ENDPOINTS }))
  registerConfigDump(app, runtime)
  registerDescribe(app, runtime)
  registerDiagnostics(app, runtime)
  registerEgress(app, runtime)
  registerReload(app, runtime)
  registerReady(app, runtime)
  registerStats(app, runtime)
  return app
}
