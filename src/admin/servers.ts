/**
 * Runs the readiness, metrics and admin servers on the ports the active snapshot's settings name
 * (port 0 disables one). On a reload that moves a port, the new one is bound during prepare and
 * the old one closed after the swap, so the endpoint never disappears; a port that cannot be
 * bound rejects the reload.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type * as ir from '../ir/index.js'
import type { Logger } from '../lib/index.js'
import type { PreparedStep, ReloadParticipant, RuntimeView } from '../runtime/index.js'
import { createAdminApi } from './api.js'
import { createMetricsServer, type MetricsSource } from './metrics-server.js'
import { closeServer, listen } from './node-server.js'
import { createReadinessServer, type ReadinessSource } from './readiness-server.js'
import { startReadinessThread } from './readiness-thread.js'

export type AdminServerKind = 'readiness' | 'metrics' | 'admin'
// Readiness binds last: a probe that sees it answer must find metrics and admin listening too
// (it answers from its own thread, so it would otherwise say ready before they are bound).
const KINDS: readonly AdminServerKind[] = ['metrics', 'admin', 'readiness']

export interface Endpoint {
  readonly address: string
  readonly port: number
}

export interface AdminServerDeps {
  readonly runtime: RuntimeView
  readonly metrics: MetricsSource
  readonly logger: Logger
  /** Servers this process does not run (a cluster worker: its primary answers readiness). */
  readonly disabled?: readonly AdminServerKind[]
}

export interface AdminServers extends ReloadParticipant {
  /** Where each enabled server is listening. */
  addresses(): Partial<Record<AdminServerKind, Endpoint>>
  close(): Promise<void>
}

interface Running {
  /** As configured: compared on reload to decide whether to move. */
  readonly configured: Endpoint
  readonly bound: Endpoint
  close(isFinal: boolean): Promise<void>
}

/** The endpoint each server should have under `settings`; undefined when disabled. */
export function endpointsOf(
  settings: ir.GatewaySettings,
): Record<AdminServerKind, Endpoint | undefined> {
  const on = (address: string, port: number): Endpoint | undefined =>
    port === 0 ? undefined : { address, port }
  return {
    readiness: on(settings.bindAddress, settings.readiness.port),
    metrics: on(settings.bindAddress, settings.metrics.port),
    admin: on(settings.admin.address, settings.admin.port),
  }
}

export async function startAdminServers(
  settings: ir.GatewaySettings,
  deps: AdminServerDeps,
): Promise<AdminServers> {
  const { logger } = deps
  let running = new Map<AdminServerKind, Running>()
  const wantedBy = (s: ir.GatewaySettings): Record<AdminServerKind, Endpoint | undefined> => {
    const wanted = endpointsOf(s)
    for (const kind of deps.disabled ?? []) wanted[kind] = undefined
    return wanted
  }

  const bind = async (kind: AdminServerKind, at: Endpoint): Promise<Running> => {
    const r =
      kind === 'admin'
        ? await bindAdmin(deps.runtime, logger, at)
        : kind === 'readiness'
          ? await bindThread(deps.runtime, at)
          : await bindNode(createMetricsServer(deps.metrics, logger), at)
    logger.info(`${kind} server listening`, { address: `${r.bound.address}:${r.bound.port}` })
    return r
  }

  /** Binds what `settings` needs and is not already running as configured. */
  const bindChanged = async (
    wanted: Record<AdminServerKind, Endpoint | undefined>,
  ): Promise<Map<AdminServerKind, Running>> => {
    const fresh = new Map<AdminServerKind, Running>()
    try {
      for (const kind of KINDS) {
        const at = wanted[kind]
        const current = running.get(kind)
        if (at === undefined || (current !== undefined && sameEndpoint(current.configured, at))) {
          continue
        }
        try {
          fresh.set(kind, await bind(kind, at))
        } catch (e) {
          throw new Error(
            `${kind} server cannot listen on ${at.address}:${at.port}: ${errorText(e)}`,
            { cause: e },
          )
        }
      }
    } catch (e) {
      await Promise.all([...fresh.values()].map((r) => r.close(true)))
      throw e
    }
    return fresh
  }

  const closeQuietly = (kind: AdminServerKind, r: Running): void => {
    r.close(false).then(
      () => logger.info(`${kind} server closed`, { address: `${r.bound.address}:${r.bound.port}` }),
      (e: unknown) => logger.warn(`closing the ${kind} server failed`, { error: e }),
    )
  }

  running = await bindChanged(wantedBy(settings))

  return {
    name: 'admin servers',
    async prepare(next: ir.Snapshot): Promise<PreparedStep> {
      const wanted = wantedBy(next.settings)
      const fresh = await bindChanged(wanted)
      return {
        commit() {
          const nextRunning = new Map<AdminServerKind, Running>()
          for (const kind of KINDS) {
            const old = running.get(kind)
            const replacement = fresh.get(kind)
            if (replacement !== undefined) nextRunning.set(kind, replacement)
            else if (old !== undefined && wanted[kind] !== undefined) nextRunning.set(kind, old)
            // Not awaited: the request that triggered this reload may be on the old server.
            if (old !== undefined && nextRunning.get(kind) !== old) closeQuietly(kind, old)
          }
          running = nextRunning
        },
        async abort() {
          await Promise.all([...fresh.values()].map((r) => r.close(true)))
        },
      }
    },
    addresses() {
      const out: Partial<Record<AdminServerKind, Endpoint>> = {}
      for (const [kind, r] of running) out[kind] = r.bound
      return out
    },
    async close() {
      const all = [...running.values()]
      running = new Map()
      await Promise.all(all.map((r) => r.close(true)))
    },
  }
}

async function bindNode(server: Server, at: Endpoint): Promise<Running> {
  const info = await listen(server, at.port, at.address)
  return {
    configured: at,
    bound: { address: info.address, port: info.port },
    close: (isFinal) => closeServer(server, isFinal),
  }
}

/** Readiness runs in its own thread, so a lagging event loop does not delay its answer. */
async function bindThread(runtime: RuntimeView, at: Endpoint): Promise<Running> {
  const thread = await startReadinessThread(runtime, at)
  return { configured: at, bound: thread.bound, close: (isFinal) => thread.close(isFinal) }
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void

/**
 * The admin API on a plain node:http server whose fastify app is built by its first request:
 * most requests a gateway serves never touch the admin port, and fastify with its schema
 * compilers is about 5 MB of resident memory an idle gateway would otherwise carry.
 */
async function bindAdmin(runtime: RuntimeView, logger: Logger, at: Endpoint): Promise<Running> {
  let handle: Handler | undefined
  let app: Promise<FastifyInstance> | undefined
  const build = async (): Promise<FastifyInstance> => {
    const built = createAdminApi(runtime, logger, (handler) => {
      handle = handler
      return server
    })
    await built.ready()
    return built
  }
  const server: Server = createServer((req, res) => {
    if (handle !== undefined) {
      handle(req, res)
      return
    }
    app ??= build()
    app.then(
      () => handle?.(req, res),
      (e: unknown) => {
        app = undefined // the next request tries again
        logger.error('the admin API could not start', { error: e })
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: 'the admin API could not start' }))
      },
    )
  })
  const running = await bindNode(server, at)
  return {
    ...running,
    close: async (isFinal) => {
      await running.close(isFinal)
      if (app !== undefined) await (await app.catch(() => undefined))?.close()
    },
  }
}

/** Serves `GET /healthz/ready` from `source` alone (the cluster primary). */
export async function startReadinessServer(
  source: ReadinessSource,
  at: Endpoint,
): Promise<{ readonly bound: Endpoint; close(): Promise<void> }> {
  const r = await bindNode(createReadinessServer(source), at)
  return { bound: r.bound, close: () => r.close(true) }
}

/** Serves `GET /stats/prometheus` from `source` alone (the cluster primary: every worker's sum). */
export async function startMetricsServer(
  source: MetricsSource,
  at: Endpoint,
  logger: Logger,
): Promise<{ readonly bound: Endpoint; close(): Promise<void> }> {
  const r = await bindNode(createMetricsServer(source, logger), at)
  return { bound: r.bound, close: () => r.close(true) }
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.address === b.address && a.port === b.port
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}
