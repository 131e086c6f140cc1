/**
 * GET /describe?url=…|host=…&path=…&port=…&sni=…&method=…&header=name:value: what
 * `portcullis describe` answers, against the active snapshot and the clusters' live state (a full
 * circuit breaker, every endpoint ejected). Text by default, `format=json`.
 */
import type { FastifyInstance } from 'fastify'
import { describeRequest, formatDescription, parseDescribeInput } from '../../match/index.js'
import type { RuntimeView } from '../../runtime/index.js'
import { withLiveState } from './describe-live.js'

type Query = Readonly<Record<string, string | string[] | undefined>>

export function registerDescribe(app: FastifyInstance, runtime: RuntimeView): void {
  app.get('/describe', async (req, reply) => {
    const q = req.query as Query
    const active = runtime.snapshots.active
    if (active === undefined) return reply.code(503).send({ error: 'no config is active yet' })
    const one = (name: string): string | undefined => {
      const v = q[name]
      return Array.isArray(v) ? v[v.length - 1] : v
    }
    const header = q['header']
    const text = {
      url: one('url'),
      method: one('method'),
      host: one('host'),
      path: one('path'),
      headers: header === undefined ? undefined : Array.isArray(header) ? header : [header],
      port: one('port'),
      sni: one('sni'),
      sourceIp: one('source_ip'),
    }
    const input = parseDescribeInput(
      Object.fromEntries(Object.entries(text).filter(([, v]) => v !== undefined)),
    )
    if (typeof input === 'string') return reply.code(400).send({ error: input })
    // Against the live data plane: breakers and ejections as they are now.
    const description = withLiveState(describeRequest(active.snapshot, input), runtime.clusters())
    if (one('format') === 'json') return description
    return reply.type('text/plain; charset=utf-8').send(formatDescription(description))
  })
}
