/**
 * Keeps every ACME Certificate of the serving snapshot issued: installs the stored certificate
 * when it is current, otherwise takes the certificate's order lock and orders one (the replica
 * that does not get the lock waits for the holder's certificate), renews at the renewal time,
 * and retries failures with backoff while the current certificate keeps serving. A certificate
 * is installed by writing it into the credential directory, which the TLS listener watches, so
 * no restart is needed. With Redis (store/redis.ts) every replica installs the certificate one
 * of them ordered: at once on its announcement, else at the next check.
 */
import { X509Certificate } from 'node:crypto'
import type * as acme from 'acme-client'
import type * as ir from '../ir/index.js'
import type { Logger } from '../lib/index.js'
import type { AcmeObserver } from '../observe/index.js'
import { createClient, explainError, newAccountKey, trustIssuers } from './account.js'
import { readInstalled, writeCertificate, type InstalledCertificate } from './files.js'
import { startHeartbeat } from './heartbeat.js'
import { placeOrder } from './order.js'
import { PLACEHOLDER_ISSUER } from './placeholder.js'
import { backoffMs, renewalAtMs } from './renewal.js'
import { DEFAULT_LOCK_TTL_MS, type AcmeStore, type OrderLock } from './store/index.js'

/** setTimeout's limit; a later renewal is re-checked when this passes. */
const MAX_TIMER_MS = 2 ** 31 - 1

export interface AcmeManagerDeps {
  readonly log: Logger
  readonly observer: AcmeObserver
  readonly store: AcmeStore
  /** How long an order lock outlives a holder that died; renewed at a third of it. */
  readonly lockTtlMs?: number
  readonly now?: () => number
  readonly random?: () => number
}

export interface CertificateStatus {
  readonly certificate: string
  readonly issuer: string
  readonly dnsNames: readonly string[]
  /** waiting: another replica holds the order lock. */
  readonly state: 'pending' | 'ordering' | 'waiting' | 'valid' | 'failed'
  readonly notAfter?: string
  readonly serial?: string
  /** When the installed certificate is renewed. */
  readonly renewAt?: string
  /** When this replica next looks at the certificate (renewal, retry or the lock holder). */
  readonly nextAttempt?: string
  readonly failures?: number
  readonly lastError?: string
}

export interface AcmeManager {
  /** Follow the certificates of a new snapshot. */
  update(plan: ir.AcmePlan | undefined): void
  list(): readonly CertificateStatus[]
  close(): void
}

interface Entry {
  spec: ir.AcmeCertificate
  timer: NodeJS.Timeout | undefined
  failures: number
  state: CertificateStatus['state']
  installed: InstalledCertificate | undefined
  renewAt: number | undefined
  nextAt: number | undefined
  lastError: string | undefined
  closed: boolean
  running: boolean
}

function isCurrent(spec: ir.AcmeCertificate, c: InstalledCertificate | undefined): boolean {
  if (c === undefined || c.x509.issuer.includes(PLACEHOLDER_ISSUER)) return false
  const sans = new Set((c.x509.subjectAltName ?? '').split(/,\s*/))
  return spec.dnsNames.every((n) => sans.has(`DNS:${n}`))
}

export function createAcmeManager(deps: AcmeManagerDeps): AcmeManager {
  const now = deps.now ?? Date.now
  const random = deps.random ?? Math.random
  const lockTtlMs = deps.lockTtlMs ?? DEFAULT_LOCK_TTL_MS
  // A replica without the lock looks again this often (besides the holder's announcement).
  const waitMs = Math.min(10_000, Math.max(200, lockTtlMs / 3))
  const { log, store } = deps
  const entries = new Map<string, Entry>()
  const clients = new Map<string, Promise<acme.Client>>()

  store.onCertificate((id) => {
    const e = entries.get(id)
    if (e !== undefined && !e.running) schedule(e, now())
  })

  function clientFor(issuer: ir.AcmeIssuer): Promise<acme.Client> {
    const key = JSON.stringify(issuer)
    let c = clients.get(key)
    if (c === undefined) {
      c = store.accountKey(issuer, newAccountKey).then((k) => createClient(issuer, k))
      // A failed registration is tried again on the next attempt.
      c.catch(() => clients.delete(key))
      clients.set(key, c)
    }
    return c
  }

  function schedule(e: Entry, at: number): void {
    if (e.closed) return
    if (e.timer !== undefined) clearTimeout(e.timer)
    e.nextAt = at
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - now()))
    e.timer = setTimeout(() => void check(e), delay)
    e.timer.unref()
  }

  /**
   * Installs the stored certificate when it is current and not due; returns false when an
   * order is needed.
   */
  async function installStored(e: Entry): Promise<boolean> {
    const stored = await store.readCertificate(e.spec)
    if (stored === undefined) return false
    const onDisk = await readInstalled(e.spec.dir)
    const candidate = parsed(stored.cert)
    if (!isCurrent(e.spec, candidate)) return false
    const x = candidate!.x509
    const validity = { notBeforeMs: Date.parse(x.validFrom), notAfterMs: Date.parse(x.validTo) }
    const renewAt = renewalAtMs(validity, e.spec.renewBeforeMs, random())
    if (renewAt <= now()) return false
    if (onDisk?.pem !== stored.cert) {
      await writeCertificate(e.spec.dir, stored.cert, stored.key)
      log.info('acme certificate installed', {
        certificate: e.spec.id,
        serial: x.serialNumber,
        notAfter: new Date(validity.notAfterMs).toISOString(),
      })
    }
    e.installed = candidate
    e.renewAt = renewAt
    e.failures = 0
    e.lastError = undefined
    e.state = 'valid'
    deps.observer.onInstalled(e.spec.id, validity.notAfterMs)
    schedule(e, renewAt)
    return true
  }

  async function check(e: Entry): Promise<void> {
    e.timer = undefined
    if (e.closed || e.running) return
    e.running = true
    try {
      if (e.installed === undefined) e.installed = await readInstalled(e.spec.dir)
      if (await installStored(e)) return
      const lock = await store.acquire(e.spec.id, lockTtlMs)
      if (lock === undefined) {
        if (e.state !== 'failed') e.state = 'waiting'
        schedule(e, now() + waitMs)
        return
      }
      log.info('acme order lock acquired', { certificate: e.spec.id, fence: lock.fence })
      try {
        // The previous holder may have saved a certificate just before releasing the lock.
        if (await installStored(e)) return
        await order(e, lock)
      } finally {
        await lock.release().catch(() => undefined)
      }
    } catch (err) {
      fail(e, err)
    } finally {
      e.running = false
    }
  }

  async function order(e: Entry, lock: OrderLock): Promise<void> {
    e.state = 'ordering'
    const started = now()
    const spec = e.spec
    const heartbeat = startHeartbeat(lock, lockTtlMs / 3)
    try {
      const client = await clientFor(spec.issuer)
      const issued = await placeOrder(spec, {
        client,
        challenges: store.challenges,
        log,
        stillHeld: async () => !e.closed && !heartbeat.lost() && (await lock.stillHeld()),
      })
      if (!(await store.writeCertificate(spec, issued, lock))) {
        throw new Error('lost the order lock before saving the certificate; not installed')
      }
      await writeCertificate(spec.dir, issued.cert, issued.key)
    } finally {
      heartbeat.stop()
    }
    e.installed = await readInstalled(spec.dir)
    const x = e.installed!.x509
    const notAfterMs = Date.parse(x.validTo)
    e.failures = 0
    e.lastError = undefined
    e.state = 'valid'
    deps.observer.onOrder(spec.id, 'issued')
    deps.observer.onInstalled(spec.id, notAfterMs)
    const renewAt = renewalAtMs(
      { notBeforeMs: Date.parse(x.validFrom), notAfterMs },
      spec.renewBeforeMs,
      random(),
    )
    e.renewAt = renewAt
    log.info('acme certificate issued', {
      certificate: spec.id,
      issuer: spec.issuer.id,
      serial: x.serialNumber,
      notAfter: new Date(notAfterMs).toISOString(),
      renewAt: new Date(renewAt).toISOString(),
      fence: lock.fence,
      tookMs: now() - started,
    })
    schedule(e, renewAt)
  }

  function fail(e: Entry, err: unknown): void {
    if (e.closed) return
    e.failures++
    e.state = 'failed'
    e.lastError = explainError(err, e.spec.issuer)
    deps.observer.onOrder(e.spec.id, 'failed')
    const delay = backoffMs(e.failures, random())
    log.warn('acme order failed; the current certificate keeps serving', {
      certificate: e.spec.id,
      issuer: e.spec.issuer.id,
      reason: e.lastError,
      failures: e.failures,
      retryInMs: delay,
    })
    schedule(e, now() + delay)
  }

  function stop(e: Entry): void {
    e.closed = true
    if (e.timer !== undefined) clearTimeout(e.timer)
  }

  return {
    update(plan) {
      const next = new Map((plan?.certificates ?? []).map((c) => [c.id, c]))
      trustIssuers((plan?.certificates ?? []).map((c) => c.issuer))
      for (const [id, e] of entries) {
        const spec = next.get(id)
        if (spec === undefined || JSON.stringify(spec) !== JSON.stringify(e.spec)) {
          stop(e)
          entries.delete(id)
        }
      }
      for (const [id, spec] of next) {
        if (entries.has(id)) continue
        const e: Entry = {
          spec,
          timer: undefined,
          failures: 0,
          state: 'pending',
          installed: undefined,
          renewAt: undefined,
          nextAt: undefined,
          lastError: undefined,
          closed: false,
          running: false,
        }
        entries.set(id, e)
        schedule(e, now())
      }
    },
    list() {
      return [...entries.values()].map((e) => {
        const x = isCurrent(e.spec, e.installed) ? e.installed!.x509 : undefined
        return {
          certificate: e.spec.id,
          issuer: e.spec.issuer.id,
          dnsNames: e.spec.dnsNames,
          state: e.state,
          ...(x !== undefined
            ? { notAfter: new Date(Date.parse(x.validTo)).toISOString(), serial: x.serialNumber }
            : {}),
          ...(x !== undefined && e.renewAt !== undefined
            ? { renewAt: new Date(e.renewAt).toISOString() }
            : {}),
          ...(e.nextAt !== undefined ? { nextAttempt: new Date(e.nextAt).toISOString() } : {}),
          ...(e.failures > 0 ? { failures: e.failures } : {}),
          ...(e.lastError !== undefined ? { lastError: e.lastError } : {}),
        }
      })
    },
    close() {
      for (const e of entries.values()) stop(e)
      entries.clear()
    },
  }
}

function parsed(pem: string): InstalledCertificate | undefined {
  try {
    return { pem, x509: new X509Certificate(pem) }
  } catch {
    return undefined
  }
}
