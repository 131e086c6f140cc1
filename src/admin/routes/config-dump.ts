/** GET /config_dump: the active snapshot, as compiled, with its version and hash. */
import type { FastifyInstance } from 'fastify'
import type { RuntimeView } from '../../runtime/index.js'

export function registerConfigDump(app: FastifyInstance, runtime: RuntimeView): void {
  app.get('/config_dump', async (_req, reply) => {
    const active = runtime.snapshots.active
    if (active === undefined) {
      return reply.code(503).send({ error: 'no config is active yet' })
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
