/**
 * Request mirroring (Istio mirror/mirrors): a copy goes to the mirror cluster, fire and forget.
 * Its response is read and dropped, its failures are only logged at debug level, and nothing
 * about it can delay or change the real response. The copy carries the upstream request head
 * with Host suffixed by `-shadow` when the compatibility profile asks for it.
 */
import type { Dispatcher } from 'undici'
import type { RequestContext } from '../context.js'
import type { PreparedMirror } from '../mirror-policy.js'
import type { RequestStep } from '../step.js'
import { upstreamPath } from '../upstream-head.js'

/** After the request head is built and a small body kept; never for a tunnel. */
export const mirrorStep: RequestStep<readonly PreparedMirror[]> = {
  name: 'mirror',
  prepare: ({ route, clusters }) =>
    route.mirrors.length === 0
      ? undefined
      : route.mirrors.map((m) => ({
          cluster: clusters.get(m.cluster),
          percent: m.percent,
          hostSuffix: m.hostSuffix ?? '',
        })),
  run(ctx, mirrors) {
    const head = ctx.upstreamHeaders
    // A streamed body cannot be copied; an upgrade is not mirrored.
    if (head === undefined || ctx.tunnelHead !== undefined) return true
    if (ctx.hasBody && ctx.bodyBuffer === undefined) return true
    sendMirrors(ctx, mirrors, head, upstreamPath(ctx))
    return true
  },
}

/** Reads and drops the mirror's response; one shared handler, no per-copy closures. */
class DiscardResponse implements Dispatcher.DispatchHandler {
  onConnect(): void {}
  onHeaders(): boolean {
    return true
  }
  onData(): boolean {
    return true
  }
  onComplete(): void {}
  onError(): void {}
}
const DISCARD = new DiscardResponse()

function sendMirrors(
  ctx: RequestContext,
  mirrors: readonly PreparedMirror[],
  head: readonly string[],
  path: string,
): void {
  for (const m of mirrors) {
    if (m.percent < 100 && Math.random() * 100 >= m.percent) continue
    const endpoint = m.cluster?.pick(undefined)
    if (endpoint === undefined) continue
    const headers = head.slice()
    if (m.hostSuffix !== '') {
      for (let i = 0; i + 1 < headers.length; i += 2) {
        if (headers[i] === 'host') headers[i + 1] = shadowHost(headers[i + 1]!, m.hostSuffix)
      }
    }
    try {
      endpoint.pool.dispatch(
        { path, method: ctx.method, headers, body: ctx.bodyBuffer ?? null },
        DISCARD,
      )
    } catch (err) {
      ctx.env.log.debug('mirror request not sent', { requestId: ctx.requestId, err })
    }
  }
}

/** `cluster-1:8080` → `cluster-1-shadow:8080` (the suffix goes on the host, before the port). */
export function shadowHost(authority: string, suffix: string): string {
  const colon = authority.lastIndexOf(':')
  if (colon > 0 && !authority.endsWith(']') && /^\d+$/.test(authority.slice(colon + 1))) {
    return `${authority.slice(0, colon)}${suffix}${authority.slice(colon)}`
  }
  return authority + suffix
}
