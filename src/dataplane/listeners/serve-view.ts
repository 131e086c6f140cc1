/** The view a listener serves from, built from a snapshot's settings (every listener kind). */
import type * as ir from '../../ir/index.js'
import type { ServeView } from './front-types.js'
import { createLocalReplyHeaders } from './local-reply.js'

export function createServeView<P>(prepared: P, settings: ir.GatewaySettings): ServeView<P> {
  return Object.freeze({
    prepared,
    guard: Object.freeze({
      maxHeaderCount: settings.downstream.maxHeaderCount,
      maxHeaderBytes: settings.downstream.maxHeaderBytes,
      headersWithUnderscores: settings.downstream.headersWithUnderscores,
      maxUriBytes: settings.downstream.maxUriBytes,
      pathNormalization: settings.pathNormalization,
    }),
    replyHeaders: createLocalReplyHeaders(settings.serverHeader),
    forwardClientCert: settings.forwardClientCertDetails,
  })
}
