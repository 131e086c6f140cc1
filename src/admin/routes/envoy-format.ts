/** The admin views' two forms, as Envoy's admin has them: text by default, `?format=json`. */
import type { FastifyReply, FastifyRequest } from 'fastify'

export function wantsJson(req: FastifyRequest): boolean {
  return (req.query as { format?: unknown }).format === 'json'
}

export function sendText(reply: FastifyReply, lines: readonly string[]): FastifyReply {
  return reply
    .type('text/plain; charset=utf-8')
    .send(lines.length > 0 ? `${lines.join('\n')}\n` : '')
}

/** Envoy's `socket_address` shape, for `ip:port` and `[v6]:port`. */
export function socketAddress(address: string): {
  socket_address: { address: string; port_value: number }
} {
  const colon = address.lastIndexOf(':')
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '')
  return { socket_address: { address: host, port_value: Number(address.slice(colon + 1)) } }
}
