/**
 * The composition root: the one file that wires config, compile, the data plane, observe,
 * runtime, admin and the CLI together. `run` reads in the order the process starts: parse argv →
 * load → compile → observers → data plane → apply the first snapshot → admin servers → signals
 * and file watching.
 */
import {
  createAcmeManager,
  createAcmeStore,
  ensurePlaceholders,
  usesTlsAlpn01,
} from './acme/index.js'
import {
  startAdminServers,
  startMetricsServer,
  startReadinessServer,
  type AdminServers,
} from './admin/index.js'
import {
  parseCommand,
  runCerts,
  runDescribe,
  runSuggest,
  runValidate,
  versionText,
  packageVersion,
} from './cli/index.js'
import { compile, createIncrementalCompile } from './compile/index.js'
import { createConfigLoader } from './config/index.js'
import { createDataPlane } from './dataplane/index.js'
import { createLogger, type Logger } from './lib/index.js'
import { batchOptionsFromEnv, createObservers, createTracing } from './observe/index.js'
import {
  buildSnapshot,
  createLifecycle,
  createReloader,
  linkToPrimary,
  resolveWorkerCount,
  runPrimary,
  workerSlot,
  createRuntimeView,
  createOverloadMonitor,
  createLimitStoreFor,
  sharedPoolLimitsFor,
  createSnapshotStore,
  logDiagnostics,
  watchConfig,
  type ReloadOutcome,
  type WorkerLink,
} from './runtime/index.js'

const build = (paths: readonly string[]) => buildSnapshot(paths, compile)

async function main(argv: readonly string[]): Promise<number | undefined> {
  const command = parseCommand(argv)
  switch (command.kind) {
    case 'help':
      process.stdout.write(command.text)
      return 0
    case 'usage-error':
      process.stderr.write(`portcullis: ${command.message}\n\n${command.usage}`)
      return 2
    case 'version':
      process.stdout.write(`${versionText()}\n`)
      return 0
    case 'validate':
      return runValidate({
        paths: command.paths,
        format: command.format,
        check: build,
        write: (text) => process.stdout.write(text),
      })
    case 'certs':
      return runCerts(
        command.argv,
        (t) => process.stdout.write(t),
        (t) => process.stderr.write(t),
      )
    case 'describe':
      return runDescribe(command.argv, {
        build,
        out: (t) => process.stdout.write(t),
        err: (t) => process.stderr.write(t),
      })
    case 'suggest':
      return runSuggest(command.argv, {
        build,
        out: (t) => process.stdout.write(t),
        err: (t) => process.stderr.write(t),
      })
    case 'run':
      return run(command.configPaths, command.watch, createLogger(command.log))
  }
}

/** Starts the gateway. Returns an exit code when it cannot start; otherwise signals end it. */
async function run(
  paths: readonly string[],
  isWatching: boolean,
  processLogger: Logger,
): Promise<number | undefined> {
  // A cluster worker (GatewayConfig workers > 1) runs everything below; its primary does not.
  const slot = workerSlot()
  const logger = slot !== undefined ? processLogger.child({ worker: slot }) : processLogger
  const isWorker = slot !== undefined
  exitOnUncaught(logger)

  // Load and compile: the first config must be valid, or the process does not start. Reloads
  // go through the same parse cache and route memo: only the files that changed are read and
  // parsed again, and only the VirtualServices that changed are compiled again.
  const loader = createConfigLoader()
  const compileAgain = createIncrementalCompile()
  const cachedBuild = (p: readonly string[], changed?: ReadonlySet<string>) =>
    buildSnapshot(p, compileAgain, (q) => loader.load(q, changed))
  const first = cachedBuild(paths)
  if (!first.ok) {
    logDiagnostics(logger, first.diagnostics)
    logger.error('config rejected; not starting', { files: first.files })
    return 1
  }
  const settings = first.snapshot.settings
  const workers = resolveWorkerCount(settings.workers)
  if (!isWorker && workers > 1) return runWorkersPrimary(paths, isWatching, logger, workers, first)
  const link = isWorker ? linkToPrimary((code) => process.exit(code)) : undefined

  // Observers: metrics and the access log.
  const observers = createObservers({
    accessLog: settings.accessLog,
    labels: settings.labels,
    buildTag: packageVersion(),
  })

  // ACME Certificates: a credential not issued yet gets a temporary certificate before the TLS
  // listener loads it (on every build); the manager orders and renews after the first apply.
  const acmeLog = logger.child({ component: 'acme' })
  ensurePlaceholders(first.snapshot.acme, acmeLog)
  const runBuild = (p: readonly string[], changed?: ReadonlySet<string>) => {
    const built = cachedBuild(p, changed)
    if (built.ok) ensurePlaceholders(built.snapshot.acme, acmeLog)
    return built
  }
  // Their state: Redis when configured (every replica answers challenges and installs what one
  // ordered), else the certs directory.
  let acmeStore: ReturnType<typeof createAcmeStore>
  try {
    acmeStore = createAcmeStore(settings.redis, acmeLog, first.snapshot.acme !== undefined)
  } catch (e) {
    logger.error('cannot start ACME certificates', { error: e instanceof Error ? e.message : e })
    return 1
  }
  const challenges = acmeStore.challenges
  // TLS listeners peek at every ClientHello only while a Certificate uses tls-alpn-01.
  let isAlpnWanted = usesTlsAlpn01(first.snapshot.acme)
  const acme = createAcmeManager({
    log: acmeLog,
    observer: observers.acme,
    store: acmeStore,
    ...(settings.redis?.acme?.lockTtlMs !== undefined
      ? { lockTtlMs: settings.redis.acme.lockTtlMs }
      : {}),
  })

  // The limit store (Redis when configured, else memory) RateLimitPolicies count in.
  const limitStore = await createLimitStoreFor(settings, {
    logger: logger.child({ component: 'limits' }),
    observer: observers.limits,
    isWorker,
  })

  // The overload guard: a timer samples the event-loop delay; requests read one flag.
  const overload = createOverloadMonitor(settings.overload, logger.child({ component: 'overload' }))

  // The data plane, and the runtime that feeds it snapshots. GatewayConfig dns.servers is read
  // at startup: upstream clusters and egress names resolve through it (a change needs a restart).
  const dnsServers = first.snapshot.egress?.dnsServers ?? []
  // Tracing pipelines (exporters, bounded queues) for the snapshots' Telemetry tracing plans.
  const tracing = createTracing({ ...batchOptionsFromEnv(process.env), ...observers.tracing })
  const dataPlane = createDataPlane({
    ...(dnsServers.length > 0 ? { upstream: { dns: { servers: dnsServers } } } : {}),
    observer: observers.request,
    log: logger.child({ component: 'dataplane' }),
    egress: observers.egress,
    limits: { limiter: limitStore.rate, observer: observers.limits },
    connections: observers.connections,
    ...poolLimitsOption(sharedPoolLimitsFor(settings, limitStore, isWorker)),
    overload: overload.state,
    acmeChallenges: { http01: (token) => challenges.http01(token) },
    tracing,
    acmeAlpn: {
      wanted: () => isAlpnWanted,
      tlsAlpn01: (name) => challenges.tlsAlpn01(name),
    },
  })
  const store = createSnapshotStore()
  const reloader = createReloader({
    paths,
    build: runBuild,
    dataPlane,
    store,
    logger: logger.child({ component: 'reload' }),
    observer: observers.reload,
  })
  reloader.register(overload)
  reloader.register({
    name: 'acme',
    prepare: (next) =>
      Promise.resolve({
        commit: () => {
          isAlpnWanted = usesTlsAlpn01(next.acme)
          return acme.update(next.acme)
        },
        abort: () => Promise.resolve(),
      }),
  })

  // Apply the first snapshot: bind the listeners.
  const started = await reloader.apply(first, 'startup')
  if (started.result !== 'applied') {
    acme.close()
    await limitStore.close()
    await observers.close()
    return 1
  }

  // Readiness, metrics and admin servers; they follow the settings on reload.
  const runtime = createRuntimeView({
    snapshots: store.view,
    dataPlane,
    reloader: link !== undefined ? reloadingOthers(reloader, link) : reloader,
    egress: observers.egress,
    overload: overload.state,
    acme,
  })
  let admin: AdminServers
  try {
    admin = await startAdminServers(settings, {
      runtime,
      metrics: observers,
      logger: logger.child({ component: 'admin' }),
      // Workers: the primary answers readiness and serves the sum of every worker's metrics.
      ...(isWorker ? { disabled: ['readiness' as const, 'metrics' as const] } : {}),
    })
  } catch (e) {
    logger.error('cannot start the admin servers', { error: e })
    await dataPlane.drain(0)
    await limitStore.close()
    await observers.close()
    return 1
  }
  reloader.register(admin)

  // Signals and file watching.
  const watcher =
    isWatching && !isWorker
      ? watchConfig({ paths, onChange: (changed) => void reloader.reload('file', changed), logger })
      : undefined
  const lifecycle = createLifecycle({
    store,
    reloader,
    dataPlane,
    observers,
    triggers: watcher !== undefined ? [watcher] : [],
    servers: [
      admin,
      limitStore,
      overload,
      { close: () => Promise.resolve(acme.close()).then(() => acmeStore.close()) },
      { close: () => tracing.shutdown() },
    ],
    logger,
    exit: (code) => process.exit(code),
  })
  lifecycle.install()
  link?.attach({
    reload: () => void reloader.reload('signal'),
    shutdown: (reason) => void lifecycle.shutdown(reason),
    reopenLogs: () => observers.reopenLogs(),
    metricsText: () => observers.metricsText(),
    metricsContentType: observers.metricsContentType,
  })
  link?.reportReady(true)

  logger.info('portcullis started', {
    version: packageVersion(),
    config: started.hash?.slice(0, 12),
    listeners: first.snapshot.listeners.map((l) => `${l.address}:${l.port}`),
    ...Object.fromEntries(
      Object.entries(admin.addresses()).map(([kind, at]) => [kind, `${at.address}:${at.port}`]),
    ),
  })
  return undefined
}

/** sysexits EX_SOFTWARE: the process ended on a bug, not on its config or a signal. */
const EXIT_ON_BUG = 70

/**
 * What reaches here is never one client's connection: every socket, TLS and HTTP/2 callback of
 * the listeners contains its own errors (closes that connection, counts and logs it). A throw
 * that still escapes is a bug elsewhere, after which leases, pools and counters are in a state
 * nobody can reason about. Serving on from it would trade a visible restart for invisible
 * wrong answers, so the error is logged with its stack and the process exits 70; its supervisor
 * (systemd, Kubernetes, the workers primary) starts a clean one.
 */
function exitOnUncaught(logger: Logger): void {
  process.on('uncaughtException', (err: unknown, origin: string) => {
    try {
      logger.error('uncaught exception; exiting', {
        origin,
        error: err instanceof Error ? err.message : String(err),
        stack: err instanceof Error ? err.stack : undefined,
      })
    } finally {
      process.exit(EXIT_ON_BUG)
    }
  })
}

/** `workers: N`: this process forks N workers on the same ports and serves readiness for them. */
function runWorkersPrimary(
  paths: readonly string[],
  isWatching: boolean,
  logger: Logger,
  count: number,
  first: ReturnType<typeof build> & { ok: true },
): Promise<number | undefined> {
  const { readiness, metrics, bindAddress, drainTimeoutMs } = first.snapshot.settings
  return runPrimary({
    count,
    drainTimeoutMs,
    logger,
    check: () => build(paths),
    startReadiness: async (view) => {
      if (readiness.port === 0) return { close: () => undefined }
      const server = await startReadinessServer(view, readiness)
      logger.info('readiness server listening', {
        address: `${server.bound.address}:${server.bound.port}`,
      })
      return server
    },
    startMetrics: async (summed) => {
      if (metrics.port === 0) return { close: () => undefined }
      const server = await startMetricsServer(
        summed,
        { address: bindAddress, port: metrics.port },
        logger,
      )
      logger.info('metrics server listening', {
        address: `${server.bound.address}:${server.bound.port}`,
      })
      return server
    },
    ...(isWatching ? { watch: (onChange) => watchConfig({ paths, onChange, logger }) } : {}),
    exit: (code) => process.exit(code),
  })
}

/**
 * A worker's admin POST /reload: applied here, answered with this worker's outcome, and every
 * other worker reloads right after through the primary (a rejected config stays rejected).
 */
function reloadingOthers(
  reloader: { reload(trigger: 'admin'): Promise<ReloadOutcome> },
  link: WorkerLink,
): { reload(trigger: 'admin'): Promise<ReloadOutcome> } {
  return {
    async reload(trigger) {
      const outcome = await reloader.reload(trigger)
      if (outcome.result !== 'rejected') link.reloadOthers()
      return outcome
    },
  }
}

/** With Redis, DestinationRule connection-pool limits hold across every replica. */
function poolLimitsOption(shared: ReturnType<typeof sharedPoolLimitsFor>) {
  return shared !== undefined ? { upstream: { shared } } : {}
}

const code = await main(process.argv.slice(2))
if (code !== undefined) {
  process.exitCode = code
  // A worker's IPC channel keeps it alive; its primary sees the exit.
  if (workerSlot() !== undefined) process.exit(code)
}
