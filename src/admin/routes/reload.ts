/**
 * POST /reload: reloads the config files now and answers with the outcome. 200 when applied or
 * unchanged, 422 when the config was rejected (the old one keeps serving), 503 while draining.
 */
import type { FastifyInstance } from 'fastify'
import type { RuntimeView } from '../../runtime/index.js'
import { outcomeJson } from '../outcome-json.js'

export function registerReload(app: FastifyInstance, runtime: RuntimeView): void {
  app.post('/reload', async (_req, reply) => {
    const outcome = await runtime.reload()
    const status = outcome.result !== 'rejected' ? 200 : runtime.snapshots.isDraining ? 503 : 422
    return reply.code(status).send(outcomeJson(outcome))
  })
}
