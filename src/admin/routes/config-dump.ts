/**
 * GET /config_dump: the active snapshot, as compiled, with its version and hash.
 * `?resource=dynamic_route_configs` (Envoy's name) gives only the route tables.
 */
import type { FastifyInstance } from 'fastify'
import type { RuntimeView } from '../../runtime/index.js'
import { routeConfigsJson, routeTablesOf } from './routes.js'

export function registerConfigDump(app: FastifyInstance, runtime: RuntimeView): void {
  app.get('/config_dump', async (req, reply) => {
    const active = runtime.snapshots.active
    if (active === undefined) {
      return reply.code(503).send({ error: 'no config is active yet' })
    }
    const resource = (req.query as { resource?: unknown }).resource
    if (resource === 'dynamic_route_configs') {
      return routeConfigsJson(routeTablesOf(active.snapshot))
    }
    if (resource !== undefined) {
      return reply.code(400).send({
        error: `unknown resource ${JSON.stringify(resource)}; known: dynamic_route_configs`,
      })
    }
    return {
      version: active.version,
      hash: active.snapshot.hash,
      loadedAt: new Date(active.loadedAt).toISOString(),
      files: active.files,
      snapshot: active.snapshot,
    }
  })
}
