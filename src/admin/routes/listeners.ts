/**
 * GET /listeners: the active snapshot's listeners, as Envoy's `/listeners` (`name::address`
 * lines; `?format=json` gives `listener_statuses[]`), with the servers and TLS chains on each.
 */
import type { FastifyInstance } from 'fastify'
import type * as ir from '../../ir/index.js'
import type { RuntimeView } from '../../runtime/index.js'
import { sendText, socketAddress, wantsJson } from './envoy-format.js'

export function registerListeners(app: FastifyInstance, runtime: RuntimeView): void {
  app.get('/listeners', async (req, reply) => {
    const active = runtime.snapshots.active
    if (active === undefined) return reply.code(503).send({ error: 'no config is active yet' })
    const listeners = active.snapshot.listeners
    if (wantsJson(req)) return { listener_statuses: listeners.map(listenerJson) }
    return sendText(
      reply,
      listeners.map((l) => `${l.id}::${addressOf(l)}::${l.transport}::${serversOf(l)}`),
    )
  })
}

function addressOf(l: ir.Listener): string {
  return l.address.includes(':') ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`
}

function serversOf(l: ir.Listener): string {
  return l.servers.map((s) => `${s.gateway}/${s.portName}`).join(',')
}

function listenerJson(l: ir.Listener) {
  return {
    name: l.id,
    local_address: socketAddress(addressOf(l)),
    transport: l.transport,
    servers: l.servers.map((s) => ({
      gateway: s.gateway,
      port_name: s.portName,
      protocol: s.protocol,
      hosts: s.hosts,
    })),
    filter_chains: l.chains.map((c) =>
      c.kind === 'tls'
        ? {
            name: c.name,
            server_names: c.sniHosts,
            tls_mode: c.tls?.mode ?? 'PASSTHROUGH',
            service: c.service.kind,
          }
        : { name: c.kind, service: c.kind },
    ),
  }
}
