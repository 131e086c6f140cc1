/**
 * The recent egress destinations enforcement refused (denied) or would refuse / did not know
 * (audited, passthrough), for the admin API and `portcullis suggest serviceentries`. One entry
 * per destination and arrival, counted; bounded, least recently seen dropped first, so a client
 * scanning names cannot grow it.
 */
import type { EgressArrival, EgressEvent } from './events.js'

/** What a ServiceEntry port for this traffic would most likely declare. */
export type EgressProtocolGuess = 'HTTP' | 'TLS' | 'TCP'

export interface EgressObservation {
  readonly decision: EgressEvent['decision']
  readonly host: string
  readonly port: number
  readonly arrival: EgressArrival
  readonly protocol: EgressProtocolGuess
  readonly reason: string | undefined
  /** The client that asked last. */
  readonly source: string
  /** Distinct clients, at most MAX_SOURCES of them. */
  readonly sources: readonly string[]
  readonly count: number
  /** ISO 8601. */
  readonly firstSeen: string
  readonly lastSeen: string
}

export type EgressObservationKind = 'denied' | 'observed'

export interface EgressObservationReader {
  /** denied: refused; observed: let through without a ServiceEntry (audited, passthrough). */
  list(kind: EgressObservationKind): EgressObservation[]
}

export interface EgressObservations extends EgressObservationReader {
  record(event: EgressEvent, now?: number): void
}

export const DEFAULT_MAX_OBSERVATIONS = 256
const MAX_SOURCES = 8
/** Ports whose CONNECT tunnels almost always carry TLS. */
const TLS_PORTS = new Set([443, 8443, 9443, 6443])

export function guessProtocol(arrival: EgressArrival, port: number): EgressProtocolGuess {
  if (arrival === 'http') return 'HTTP'
  if (arrival === 'sni' || TLS_PORTS.has(port)) return 'TLS'
  return 'TCP'
}

interface Entry {
  decision: EgressEvent['decision']
  host: string
  port: number
  arrival: EgressArrival
  reason: string | undefined
  source: string
  sources: string[]
  count: number
  firstSeen: number
  lastSeen: number
}

export function createEgressObservations(max = DEFAULT_MAX_OBSERVATIONS): EgressObservations {
  const rings: Record<EgressObservationKind, Map<string, Entry>> = {
    denied: new Map(),
    observed: new Map(),
  }
  return {
    record(event, now = Date.now()) {
      if (event.decision === 'allowed') return
      const ring = rings[event.decision === 'denied' ? 'denied' : 'observed']
      const key = `${event.decision} ${event.arrival} ${event.host} ${event.port}`
      let e = ring.get(key)
      if (e === undefined) {
        e = { ...event, sources: [], count: 0, firstSeen: now, lastSeen: now }
        if (ring.size >= max) ring.delete(ring.keys().next().value!)
      } else ring.delete(key)
      // Re-inserted on every hit: Map order is then least recently seen first.
      ring.set(key, e)
      e.count++
      e.lastSeen = now
      e.reason = event.reason
      e.source = event.source
      if (e.sources.length < MAX_SOURCES && !e.sources.includes(event.source)) {
        e.sources.push(event.source)
      }
    },
    list(kind) {
      return [...rings[kind].values()].reverse().map((e) => ({
        decision: e.decision,
        host: e.host,
        port: e.port,
        arrival: e.arrival,
        protocol: guessProtocol(e.arrival, e.port),
        reason: e.reason,
        source: e.source,
        sources: [...e.sources],
        count: e.count,
        firstSeen: new Date(e.firstSeen).toISOString(),
        lastSeen: new Date(e.lastSeen).toISOString(),
      }))
    },
  }
}
