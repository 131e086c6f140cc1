/**
 * The outbound listener's HTTP requests (absolute-form, or origin-form with Host): the front door
 * admitted them (request guard, target against Host, normalization, Expect, timeouts); here the
 * target becomes origin-form with Host naming the destination, and the request enters the one
 * request path at the egress decision (http/egress-route.ts), which routes, refuses or passes it
 * through. Only a target that names no HTTP destination is refused (and recorded) here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { egressRouteTableId } from '../../ir/index.js'
import type { RequestObserver } from '../../observe/events.js'
import type { HttpHandler } from '../http/handler.js'
import { applyForwardClientCert } from '../listeners/forward-client-cert.js'
import { admitRequestTarget } from '../listeners/request-target.js'
import { Flag } from '../record/flags.js'
import type { ListenerContext } from '../types.js'
import { complete, egressRecord } from './egress-reply.js'
import type { Pinned } from './outbound-pin.js'

export function serveOutboundRequest(
  handler: HttpHandler,
  observer: RequestObserver,
  req: IncomingMessage,
  res: ServerResponse,
  p: Pinned,
): void {
  const startTime = Date.now()
  // The target check again, for origin-form requests whose authority is Host alone (the guard's
  // normalization is idempotent, so an admitted target comes back unchanged).
  const admitted = admitRequestTarget(req.method ?? '', req.url ?? '', undefined, p.target)
  const url = typeof admitted === 'string' ? parseTarget(admitted, req.headers.host) : undefined
  if (typeof admitted !== 'string' || url === undefined) {
    // Refused before any destination is known (an https:// target, a Host that is no URL
    // authority): the listener's kind of refusal, recorded under the outbound listener.
    const status = typeof admitted === 'string' ? 400 : admitted.status
    const details = typeof admitted === 'string' ? 'http1.invalid_url' : admitted.details
    res.writeHead(status, { connection: 'close', 'content-length': '0' }).end()
    complete(
      observer,
      egressRecord({
        req,
        startTime,
        status,
        flags: Flag.DPE,
        details,
        decision: undefined,
        listener: p.listenerId,
        authority: '',
      }),
    )
    return
  }
  // Origin-form from here on, as the request path expects; the URL's authority wins over Host.
  // The path is taken as normalized, not as the URL parser would rewrite it again.
  req.url = originForm(admitted)
  // An origin-form request keeps its Host as sent (`reviews:80` names port 80, which the URL
  // parser would drop as the default); an absolute URL's authority replaces Host.
  const isOriginForm = admitted.startsWith('/')
  if (!isOriginForm || req.headers.host === undefined) req.headers.host = url.host
  // Plain HTTP is never mutual TLS: only ALWAYS_FORWARD_ONLY lets a client's XFCC through.
  applyForwardClientCert(req, p.prepared.snapshot.settings.forwardClientCertDetails, undefined)
  const site = isOriginForm ? p.hostSite : p.site
  const port = url.port === '' ? site.defaultPort : Number(url.port)
  handler.egress(req, res, p.prepared, listenerFor(p, port), site)
}

function parseTarget(target: string, host: string | undefined): URL | undefined {
  try {
    const url = new URL(target.startsWith('/') ? `http://${host ?? ''}${target}` : target)
    return url.protocol === 'http:' && url.hostname !== '' ? url : undefined
  } catch {
    return undefined
  }
}

/** The route table a destination port's requests are logged and served under. */
function listenerFor(p: Pinned, port: number): ListenerContext {
  return {
    id: egressRouteTableId(p.tablesId, port),
    address: p.outbound.address,
    port,
    scheme: 'http',
    egress: p.site.guard,
  }
}

/** `http://host/p?q` → `/p?q`, `http://host?q` → `/?q`; origin-form is kept. */
function originForm(target: string): string {
  const scheme = target.indexOf('://')
  if (scheme < 0) return target
  let i = scheme + 3
  while (i < target.length && target[i] !== '/' && target[i] !== '?') i++
  if (i === target.length) return '/'
  return target[i] === '/' ? target.slice(i) : `/${target.slice(i)}`
}
