/** GET /ready: the readiness answer, on the admin port too. */
import type { FastifyInstance } from 'fastify'
import type { RuntimeView } from '../../runtime/index.js'
import { readinessOf } from '../readiness-server.js'

export function registerReady(app: FastifyInstance, runtime: RuntimeView): void {
  app.get('/ready', async (_req, reply) => {
    const { status, body } = readinessOf(runtime)
    return reply.code(status).type('text/plain; charset=utf-8').send(body)
  })
}
