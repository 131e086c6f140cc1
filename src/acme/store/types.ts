/**
 * Where a fleet keeps its ACME state: account keys, issued certificates with their keys, pending
 * challenges, and the per-certificate order lock. Two adapters: the state directory on disk (one
 * replica) and Redis (every replica sharing one). The manager only sees this interface, and one
 * contract suite (test/e2e/acme-store-contract.test.ts) runs against both.
 */
import type * as ir from '../../ir/index.js'
import type { ChallengeStore } from '../challenge-store.js'

export interface StoredCertificate {
  /** PEM chain, leaf first. */
  readonly cert: string
  /** PEM private key (decrypted). */
  readonly key: string
}

/**
 * A lease on one certificate's orders. `fence` grows with every grant, so a write by a holder
 * whose lease expired (and was granted to another) is refused by the store, not just skipped by
 * a check the old holder might make too late.
 */
export interface OrderLock {
  readonly fence: number
  /** Extends the lease; false when it was lost (expired and taken, or the store is gone). */
  renew(): Promise<boolean>
  stillHeld(): Promise<boolean>
  release(): Promise<void>
}

export interface AcmeStore {
  readonly kind: 'disk' | 'redis'
  /** The issuer's account key: the stored one, or `create()`'s, saved unless another won. */
  accountKey(issuer: ir.AcmeIssuer, create: () => Promise<string>): Promise<string>
  readCertificate(cert: ir.AcmeCertificate): Promise<StoredCertificate | undefined>
  /** Saves an issued certificate if `lock` is still the current lease; false when it is not. */
  writeCertificate(
    cert: ir.AcmeCertificate,
    issued: StoredCertificate,
    lock: OrderLock,
  ): Promise<boolean>
  /** The lease for `certId` for `ttlMs`, or undefined while someone else holds it. */
  acquire(certId: string, ttlMs: number): Promise<OrderLock | undefined>
  readonly challenges: ChallengeStore
  /** Called with a certificate id when another replica saved a new certificate. */
  onCertificate(listener: (certId: string) => void): void
  close(): Promise<void>
}
