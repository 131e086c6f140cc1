/**
 * Holds the TLS plan a listener serves new handshakes from, and rotates certificates without a
 * restart: the files of the plan are watched (their directories, so a Kubernetes-style symlink
 * swap or a rename into place is seen); on a change the plan is loaded again and swapped in one
 * assignment. Established connections keep their session. A new file that does not load (bad
 * PEM, key mismatch, half-written) leaves the previous plan serving and is logged.
 */
import { watch, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'
import type { Logger } from '../../lib/index.js'
import { loadTlsPlan, type TlsPlan } from './tls-plan.js'

/** Writers rarely replace cert and key in one step; wait for the burst to settle. */
const SETTLE_MS = 200

export interface PlanHolder {
  readonly current: TlsPlan | undefined
  /** Serve `plan` from now on and watch its files. */
  set(plan: TlsPlan): void
  close(): void
}

export function createPlanHolder(log: Logger): PlanHolder {
  let current: TlsPlan | undefined
  let watchers: FSWatcher[] = []
  let timer: NodeJS.Timeout | undefined
  let generation = 0

  function unwatch(): void {
    for (const w of watchers) w.close()
    watchers = []
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
  }

  function reload(): void {
    timer = undefined
    const plan = current
    if (plan === undefined) return
    const gen = generation
    loadTlsPlan(plan.listener).then(
      (next) => {
        if (gen !== generation) return
        current = next
        log.info('certificates reloaded', { listener: plan.listener.id })
      },
      (err: unknown) => {
        if (gen !== generation) return
        log.warn('certificate reload failed; the previous certificates keep serving', {
          listener: plan.listener.id,
          reason: (err as Error).message,
        })
      },
    )
  }

  function onChange(): void {
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(reload, SETTLE_MS)
    timer.unref()
  }

  return {
    get current() {
      return current
    },
    set(plan) {
      generation++
      unwatch()
      current = plan
      for (const dir of new Set(plan.files.map((f) => dirname(f)))) {
        try {
          const w = watch(dir, { persistent: false }, onChange)
          w.on('error', () => w.close())
          watchers.push(w)
        } catch (err) {
          log.warn('cannot watch certificate directory; rotation needs a reload', {
            dir,
            reason: (err as Error).message,
          })
        }
      }
    },
    close() {
      generation++
      unwatch()
    },
  }
}
