/**
 * The limit contract against cluster workers' IPC store: each store is a worker asking one
 * primary-side server over a channel that delivers asynchronously and copies every message, as
 * Node's IPC does. A closed store is a worker that died; the primary notices its exit and gives
 * its leases back before the next step of time.
 */
import {
  createIpcLimitServer,
  createIpcLimitStore,
  isLimitRequest,
  type IpcLimitStore,
} from '../../src/state/index.js'
import { createManualClock } from '../support/manual-clock.js'
import { runLimitContract } from './limits.contract.js'

runLimitContract('ipc store (cluster workers)', (t) => {
  const clock = createManualClock(1_000_000)
  const server = createIpcLimitServer({ clock, scheduler: clock })
  t.after(() => server.close())
  const exited: number[] = []
  let nextWorker = 1
  return Promise.resolve({
    manualTime: true,
    makeStore: () => {
      const worker = nextWorker++
      let isAlive = true
      const toWorker = {
        send(message: unknown, cb?: (e: Error | null) => void): boolean {
          const copy = structuredClone(message)
          setImmediate(() => {
            if (isAlive) store.receive(copy)
          })
          cb?.(null)
          return true
        },
      }
      const store: IpcLimitStore = createIpcLimitStore(
        {
          send(message, cb) {
            if (!isAlive) {
              setImmediate(() => cb?.(new Error('channel closed')))
              return false
            }
            const copy = structuredClone(message)
            setImmediate(() => {
              if (isLimitRequest(copy)) server.handle(worker, copy, toWorker)
            })
            cb?.(null)
            return true
          },
        },
        { clock },
      )
      const close = store.close.bind(store)
      return Promise.resolve({
        ...store,
        close: async () => {
          isAlive = false
          exited.push(worker)
          await close()
        },
      })
    },
    advance: (ms: number) => {
      for (const w of exited.splice(0)) server.releaseWorker(w)
      clock.advance(ms)
      return new Promise<void>((resolve) => setImmediate(resolve))
    },
  })
})
