/**
 * TLS and TCP listeners: the same accept, connection tracking and drain as plain HTTP
 * (http-listener.ts), with an acceptor in front that peeks, terminates or proxies. What the
 * acceptor does comes from outside (dataplane/tls) through L4Support, so this layer stays about
 * sockets and HTTP.
 */
import type * as ir from '../../ir/index.js'
import type { ConnectionAcceptor, HttpListener, ListenerHooks } from './http-listener.js'
import { bindHttpListener } from './http-listener.js'

/** What a TLS/TCP listener serves after activation (certificates loaded, routes chosen). */
export type PreparedL4 = unknown

/** The side of a TLS/TCP listener that outlives reloads: it switches to new prepared state. */
export interface L4Side<P> {
  readonly acceptor: ConnectionAcceptor<P>
  use(prepared: PreparedL4): void
  close(): void
}

export interface L4Support<P> {
  /** Loads what `listener` needs (certificate files). Rejects with a message naming the file. */
  prepare(listener: ir.Listener): Promise<PreparedL4>
  create(listener: ir.Listener): L4Side<P>
}

export interface L4Listener<P> {
  /** `sni-egress`: an egress SNI port (egress-listeners.ts), whatever its ir transport says. */
  readonly transport: 'tls' | 'tcp' | 'sni-egress'
  readonly http: HttpListener<P>
  use(prepared: PreparedL4): void
  close(): void
}

export async function bindL4Listener<P>(
  listener: ir.Listener,
  limits: ir.DownstreamLimits,
  hooks: ListenerHooks<P>,
  support: L4Support<P>,
  kind?: 'sni-egress',
): Promise<L4Listener<P>> {
  const side = support.create(listener)
  let http: HttpListener<P>
  try {
    http = await bindHttpListener(listener, limits, hooks, side.acceptor)
  } catch (err) {
    side.close()
    throw err
  }
  return {
    transport: kind ?? (listener.transport === 'tcp' ? 'tcp' : 'tls'),
    http,
    use: (prepared) => side.use(prepared),
    close: () => side.close(),
  }
}
