/**
 * `GET /healthz/ready` on the readiness port (Istio's :15021). Load balancers and kubelets poll
 * it often, so it is a bare node:http handler: no routing table, no body parsing.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { RuntimeView } from '../runtime/index.js'

/** What the readiness answer reads: a RuntimeView, or the cluster primary's view of its workers. */
export type ReadinessSource = Pick<RuntimeView, 'isReady'> &
  Partial<Pick<RuntimeView, 'isOverloaded'>> & {
    readonly snapshots: { readonly isDraining: boolean }
  }

export const READINESS_PATH = '/healthz/ready'

const PLAIN = 'text/plain; charset=utf-8'

/** The readiness answer, shared with the admin API's `/ready`. */
export function readinessOf(runtime: ReadinessSource): { status: number; body: string } {
  if (runtime.isReady()) return { status: 200, body: 'ready' }
  if (runtime.snapshots.isDraining) return { status: 503, body: 'draining' }
  return { status: 503, body: runtime.isOverloaded?.() === true ? 'overloaded' : 'not ready' }
}

export function createReadinessServer(runtime: ReadinessSource): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url?.split('?', 1)[0]
    if (path !== READINESS_PATH) {
      send(res, 404, 'not found')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      send(res, 405, 'method not allowed')
      return
    }
    const { status, body } = readinessOf(runtime)
    send(res, status, body)
  })
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': PLAIN,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}
