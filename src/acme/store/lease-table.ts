/**
 * Order leases held in this process's memory: the disk store's lock, for one replica (its
 * several Certificates and a reload that starts a second manager while the first stops).
 */
import type { OrderLock } from './types.js'

export function createLeaseTable(now: () => number = Date.now) {
  const leases = new Map<string, { fence: number; until: number }>()
  let fences = 0
  const held = (id: string, fence: number) => {
    const l = leases.get(id)
    return l !== undefined && l.fence === fence && l.until > now()
  }
  return {
    acquire(id: string, ttlMs: number): OrderLock | undefined {
      const current = leases.get(id)
      if (current !== undefined && current.until > now()) return undefined
      const fence = ++fences
      leases.set(id, { fence, until: now() + ttlMs })
      return {
        fence,
        renew() {
          if (!held(id, fence)) return Promise.resolve(false)
          leases.set(id, { fence, until: now() + ttlMs })
          return Promise.resolve(true)
        },
        stillHeld: () => Promise.resolve(held(id, fence)),
        release() {
          if (held(id, fence)) leases.delete(id)
          return Promise.resolve()
        },
      }
    },
    held,
  }
}
