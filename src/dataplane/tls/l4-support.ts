/** TLS and TCP listener behaviour for the listener manager (listeners/l4-listener.ts). */
import type * as ir from '../../ir/index.js'
import type { L4Support } from '../listeners/index.js'
import { createPlanHolder } from './plan-holder.js'
import { createTcpAcceptor, createTlsAcceptor, type L4Deps } from './tls-acceptor.js'
import { loadTlsPlan, type TlsPlan } from './tls-plan.js'

interface TcpPrepared {
  readonly route: ir.L4Route | undefined
}

export function createL4Support<P>(deps: L4Deps<P>): L4Support<P> {
  return {
    async prepare(listener) {
      if (listener.transport === 'tls') return loadTlsPlan(listener)
      const chain = listener.chains[0]
      const prepared: TcpPrepared = { route: chain?.kind === 'tcp' ? chain.route : undefined }
      return prepared
    },
    create(listener) {
      if (listener.transport === 'tls') {
        const holder = createPlanHolder(deps.log)
        return {
          acceptor: createTlsAcceptor(deps, () => holder.current, listener.id),
          use: (prepared) => holder.set(prepared as TlsPlan),
          close: () => holder.close(),
        }
      }
      let route: ir.L4Route | undefined
      return {
        acceptor: createTcpAcceptor(deps, () => route, listener.id),
        use: (prepared) => {
          route = (prepared as TcpPrepared).route
        },
        close: () => undefined,
      }
    },
  }
}
