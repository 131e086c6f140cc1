/**
 * The admin API (Istio's :15000 admin, loopback by default). One file per endpoint in routes/.
 * Fastify's own logger stays off: failures are logged once, through ours.
 */
import type Fastify from 'fastify'
import type { FastifyError, FastifyInstance, FastifyServerFactory } from 'fastify'
import { lazyModule, type Logger } from '../lib/index.js'
import type { RuntimeView } from '../runtime/index.js'
import { registerCerts } from './routes/certs.js'
import { registerClusters } from './routes/clusters.js'
import { registerConfigDump } from './routes/config-dump.js'
import { registerDescribe } from './routes/describe.js'
import { registerDiagnostics } from './routes/diagnostics.js'
import { registerEgress } from './routes/egress.js'
import { registerListeners } from './routes/listeners.js'
import { registerReady } from './routes/ready.js'
import { registerReload } from './routes/reload.js'
import { registerRoutes } from './routes/routes.js'
import { registerStats } from './routes/stats.js'

const ENDPOINTS = [
  'GET /certs',
  'GET /clusters',
  'GET /config_dump',
  'GET /describe',
  'GET /diagnostics',
  'GET /egress/denied',
  'GET /egress/observed',
  'GET /listeners',
  'POST /reload',
  'GET /ready',
  'GET /routes',
  'GET /stats',
] as const

/**
 * Loaded with the first admin app built (lib/lazy-module.ts): the admin server builds it on its
 * first request (servers.ts), so an admin port nobody asks costs no fastify in memory.
 */
const fastify = lazyModule<typeof Fastify>('fastify')

/** `serverFactory` hands the app an existing server instead of one fastify would create. */
export function createAdminApi(
  runtime: RuntimeView,
  logger: Logger,
  serverFactory?: FastifyServerFactory,
): FastifyInstance {
  const app = fastify()({
    logger: false,
    ...(serverFactory !== undefined ? { serverFactory } : {}),
  })
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500
    if (status >= 500) logger.error('admin request failed', { url: req.url, error: err })
    return reply.code(status).send({ error: err.message })
  })
  app.get('/', () => ({ endpoints: ENDPOINTS }))
  registerCerts(app, runtime)
  registerClusters(app, runtime)
  registerConfigDump(app, runtime)
  registerDescribe(app, runtime)
  registerDiagnostics(app, runtime)
  registerEgress(app, runtime)
  registerListeners(app, runtime)
  registerReload(app, runtime)
  registerReady(app, runtime)
  registerRoutes(app, runtime)
  registerStats(app, runtime)
  return app
}
