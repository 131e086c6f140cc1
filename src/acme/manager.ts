/**
 * Keeps every ACME Certificate of the serving snapshot issued: orders one when its credential
 * has no certificate (or only the temporary one, or one for other names), renews at the
 * renewal time, and retries failures with backoff while the current certificate keeps serving.
 * A certificate is installed by writing it into the credential directory, which the TLS
 * listener watches, so no restart is needed.
 */
import type * as acme from 'acme-client'
import type * as ir from '../ir/index.js'
import type { Logger } from '../lib/index.js'
import type { AcmeObserver } from '../observe/index.js'
import { accountKey, createClient, trustIssuers } from './account.js'
import type { ChallengeStore } from './challenge-store.js'
import { readInstalled, writeCertificate, type InstalledCertificate } from './files.js'
import { placeOrder } from './order.js'
import { PLACEHOLDER_ISSUER } from './placeholder.js'
import { backoffMs, renewalAtMs } from './renewal.js'

/** setTimeout's limit; a later renewal is re-checked when this passes. */
const MAX_TIMER_MS = 2 ** 31 - 1

export interface AcmeManagerDeps {
  readonly log: Logger
  readonly observer: AcmeObserver
  readonly challenges: ChallengeStore
  readonly now?: () => number
  readonly random?: () => number
}

export interface CertificateStatus {
  readonly certificate: string
  readonly issuer: string
  readonly dnsNames: readonly string[]
  readonly state: 'pending' | 'ordering' | 'valid' | 'failed'
  readonly notAfter?: string
  readonly serial?: string
  readonly nextAttempt?: string
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
  nextAt: number | undefined
  lastError: string | undefined
  closed: boolean
}

function isCurrent(spec: ir.AcmeCertificate, c: InstalledCertificate | undefined): boolean {
  if (c === undefined || c.x509.issuer.includes(PLACEHOLDER_ISSUER)) return false
  const sans = new Set((c.x509.subjectAltName ?? '').split(/,\s*/))
  return spec.dnsNames.every((n) => sans.has(`DNS:${n}`))
}

export function createAcmeManager(deps: AcmeManagerDeps): AcmeManager {
  const now = deps.now ?? Date.now
  const random = deps.random ?? Math.random
  const { log } = deps
  const entries = new Map<string, Entry>()
  const clients = new Map<string, Promise<acme.Client>>()

  function clientFor(issuer: ir.AcmeIssuer): Promise<acme.Client> {
    const key = JSON.stringify(issuer)
    let c = clients.get(key)
    if (c === undefined) {
      c = accountKey(issuer).then((k) => createClient(issuer, k))
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

  async function check(e: Entry): Promise<void> {
    e.timer = undefined
    if (e.closed) return
    try {
      e.installed = await readInstalled(e.spec.dir)
      if (isCurrent(e.spec, e.installed)) {
        const x = e.installed!.x509
        const validity = { notBeforeMs: Date.parse(x.validFrom), notAfterMs: Date.parse(x.validTo) }
        const renewAt = renewalAtMs(validity, e.spec.renewBeforeMs, random())
        deps.observer.onInstalled(e.spec.id, validity.notAfterMs)
        if (renewAt > now()) {
          if (e.state !== 'failed') e.state = 'valid'
          schedule(e, renewAt)
          return
        }
      }
      await order(e)
    } catch (err) {
      fail(e, err)
    }
  }

  async function order(e: Entry): Promise<void> {
    e.state = 'ordering'
    const started = now()
    const spec = e.spec
    const client = await clientFor(spec.issuer)
    const issued = await placeOrder(spec, {
      client,
      challenges: deps.challenges,
      log,
      stillHeld: () => Promise.resolve(!e.closed),
    })
    await writeCertificate(spec.dir, issued.cert, issued.key)
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
    log.info('acme certificate issued', {
      certificate: spec.id,
      issuer: spec.issuer.id,
      serial: x.serialNumber,
      notAfter: new Date(notAfterMs).toISOString(),
      renewAt: new Date(renewAt).toISOString(),
      tookMs: now() - started,
    })
    schedule(e, renewAt)
  }

  function fail(e: Entry, err: unknown): void {
    if (e.closed) return
    e.failures++
    e.state = 'failed'
    e.lastError = err instanceof Error ? err.message : String(err)
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
          nextAt: undefined,
          lastError: undefined,
          closed: false,
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
          ...(e.nextAt !== undefined ? { nextAttempt: new Date(e.nextAt).toISOString() } : {}),
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
