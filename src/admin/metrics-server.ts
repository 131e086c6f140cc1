/** `GET /stats/prometheus` on the metrics port (Istio's :15090). */
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { Logger } from '../lib/index.js'

export const METRICS_PATH = '/stats/prometheus'

export interface MetricsSource {
  metricsText(): Promise<string>
  readonly metricsContentType: string
}

export function createMetricsServer(metrics: MetricsSource, logger: Logger): Server {
  return createServer((req, res) => {
    const path = req.url?.split('?', 1)[0]
    if (path !== METRICS_PATH) {
      sendText(res, 404, 'not found')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      sendText(res, 405, 'method not allowed')
      return
    }
    metrics.metricsText().then(
      (text) => {
        res.writeHead(200, {
          'content-type': metrics.metricsContentType,
          'content-length': Buffer.byteLength(text),
          'cache-control': 'no-store',
        })
        res.end(req.method === 'HEAD' ? undefined : text)
      },
      (e: unknown) => {
        logger.error('rendering metrics failed', { error: e })
        sendText(res, 500, 'metrics unavailable')
      },
    )
  })
}

function sendText(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  })
  res.end(body)
}
