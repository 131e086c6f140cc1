/**
 * Whether a TLS connection must have its ClientHello read in JavaScript before the handshake
 * (the peek: parse SNI, then replay the bytes through a JS stream into the TLS socket), or can
 * be handed to Node's native TLS handle directly (SNICallback picks the chain's context).
 *
 * The native path keeps every TLS byte in C++: no JS stream wrapper per read and write, which is
 * what made handshakes and HTTPS keep-alive cost more than Node's own tls.Server (issue 16,
 * docs/adr/0019-native-tls-path.md). The peek stays wherever something must be decided before a
 * TLSSocket exists:
 *
 * - `passthrough`: a chain that does not terminate forwards the ClientHello bytes themselves.
 * - `socket-read`: bytes were already read from the socket in JS (a PROXY protocol header, and
 *   possibly the start of the ClientHello behind it). A native TLSSocket reads only from the
 *   handle and would never see them (ecosystem.md §2), so they are replayed.
 * - `per-chain-options`: the chains disagree on what is fixed when the TLSSocket is created
 *   (client certificates requested or required, the ALPN list of HTTP vs TCP chains). Only the
 *   secure context can change in SNICallback, so the SNI is needed first.
 * - `no-default-chain`: no chain answers a ClientHello without SNI. SNICallback is not called
 *   then, and such a connection must be closed before any handshake, as Envoy does when no
 *   filter chain matches.
 *
 * Anything else that needs the ClientHello (e.g. choosing a challenge certificate from the ALPN
 * list) adds its reason here: `planPeekReason` for a property of the listener's plan,
 * `connectionPeekReason` for one of the connection.
 */
import type { Socket } from 'node:net'
import type { ChainRuntime, TlsPlan } from './tls-plan.js'

export type PeekReason = 'passthrough' | 'socket-read' | 'per-chain-options' | 'no-default-chain'

/** The TLSSocket options every chain of a natively terminated plan shares. */
export interface NativeTls {
  /** The chain a ClientHello without SNI gets, whose context starts the handshake. */
  readonly fallback: ChainRuntime
  readonly requestCert: boolean
  readonly rejectUnauthorized: boolean
  readonly isHttp: boolean
}

export type PlanDecision =
  | { readonly peek: PeekReason; readonly native?: undefined }
  | { readonly peek?: undefined; readonly native: NativeTls }

/** Plans are immutable and swapped whole on reload or rotation: decide once per plan. */
const decided = new WeakMap<TlsPlan, PlanDecision>()

export function decidePlan(plan: TlsPlan): PlanDecision {
  let decision = decided.get(plan)
  if (decision === undefined) {
    decision = planPeekReason(plan)
    decided.set(plan, decision)
  }
  return decision
}

/** The plan-level part of the decision: what every connection of this plan needs. */
export function planPeekReason(plan: TlsPlan): PlanDecision {
  let shared: Omit<NativeTls, 'fallback'> | undefined
  for (const chain of plan.listener.chains) {
    if (chain.kind !== 'tls') continue
    if (chain.tls === undefined) return { peek: 'passthrough' }
    const client = chain.tls.client
    const options = {
      requestCert: client !== undefined,
      rejectUnauthorized: client?.required === true,
      isHttp: chain.service.kind === 'http',
    }
    if (shared === undefined) shared = options
    else if (
      shared.requestCert !== options.requestCert ||
      shared.rejectUnauthorized !== options.rejectUnauthorized ||
      shared.isHttp !== options.isHttp
    ) {
      return { peek: 'per-chain-options' }
    }
  }
  const fallback = plan.chains.select(undefined)
  if (shared === undefined || fallback?.material === undefined) return { peek: 'no-default-chain' }
  return { native: { ...shared, fallback } }
}

/** The connection-level part: a socket something has already read from. */
export function connectionPeekReason(
  socket: Pick<Socket, 'bytesRead' | 'readableLength'>,
): PeekReason | undefined {
  return socket.bytesRead > 0 || socket.readableLength > 0 ? 'socket-read' : undefined
}
