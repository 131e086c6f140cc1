/**
 * What a TLS listener needs per snapshot: its chains ranked by SNI, each with loaded TLS
 * material (terminating chains) and its request context. Loading reads files, so a plan is
 * built when a snapshot is prepared (a broken file rejects the reload) and rebuilt when a
 * watched certificate file changes (a broken new file keeps the old plan).
 */
import type * as ir from '../../ir/index.js'
import { tlsChainId } from '../../ir/index.js'
import type { ListenerContext } from '../types.js'
import { loadServerTls, type ServerTlsMaterial } from './server-context.js'
import { createSniTable, type SniTable } from './sni-select.js'

export interface ChainRuntime {
  readonly chain: ir.TlsFilterChain
  readonly material: ServerTlsMaterial | undefined
  readonly context: ListenerContext
  /** PASSTHROUGH: tls routes by SNI. */
  readonly sniRoutes: SniTable<ir.SniRoute> | undefined
}

export interface TlsPlan {
  readonly listener: ir.Listener
  readonly chains: SniTable<ChainRuntime>
  /** Certificate, key, CA and CRL files the plan was read from. */
  readonly files: readonly string[]
}

export async function loadTlsPlan(listener: ir.Listener): Promise<TlsPlan> {
  const entries: [string, ChainRuntime][] = []
  const files = new Set<string>()
  for (const chain of listener.chains) {
    if (chain.kind !== 'tls') continue
    let material: ServerTlsMaterial | undefined
    if (chain.tls !== undefined) {
      try {
        material = await loadServerTls(chain.tls)
      } catch (err) {
        throw new Error(`listener ${listener.id} server ${chain.name}: ${(err as Error).message}`, {
          cause: err,
        })
      }
      for (const f of material.files) files.add(f)
    }
    const service = chain.service
    const runtime: ChainRuntime = {
      chain,
      material,
      context: Object.freeze({
        id: tlsChainId(listener.id, chain.name),
        address: listener.address,
        port: listener.port,
        scheme: 'https',
      }),
      sniRoutes:
        service.kind === 'passthrough'
          ? createSniTable(service.routes.flatMap((r) => r.sniHosts.map((h) => [h, r] as const)))
          : undefined,
    }
    for (const host of chain.sniHosts) entries.push([host, runtime])
  }
  return { listener, chains: createSniTable(entries), files: [...files] }
}
