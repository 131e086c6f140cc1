/**
 * Readiness answered off the event loop: a worker thread owns the readiness listener and reads
 * the answer from a beacon the loop publishes (readiness-beacon.ts). A loop that lags under
 * overload, or is busy compiling a large config, would answer a probe as late as any request;
 * the thread answers at once, and says 503 overloaded when the loop's heartbeat is stale.
 */
import { Worker } from 'node:worker_threads'
import { createReadinessBeacon, type BeaconSource } from './readiness-beacon.js'

export interface ThreadData {
  readonly buffer: SharedArrayBuffer
  readonly address: string
  readonly port: number
}

export type ThreadReply =
  | { readonly t: 'listening'; readonly address: string; readonly port: number }
  | { readonly t: 'error'; readonly message: string; readonly code?: string }

export interface ReadinessThread {
  readonly bound: { readonly address: string; readonly port: number }
  /** Stops accepting; `isFinal` also cuts open connections. Resolves once the thread exited. */
  close(isFinal: boolean): Promise<void>
}

/** Bounds a thread that does not exit on request (it only closes one listener). */
const EXIT_WAIT_MS = 5000

/** Binds the readiness listener on `address:port` in a new thread; rejects if it cannot. */
export async function startReadinessThread(
  source: BeaconSource,
  at: { readonly address: string; readonly port: number },
): Promise<ReadinessThread> {
  const beacon = createReadinessBeacon(source)
  const data: ThreadData = { buffer: beacon.buffer, address: at.address, port: at.port }
  const worker = new Worker(threadEntry(), { eval: true, workerData: data })
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  try {
    const bound = await new Promise<{ address: string; port: number }>((resolve, reject) => {
      worker.once('error', reject)
      void exited.then(() => reject(new Error('the readiness thread exited before listening')))
      worker.once('message', (m: ThreadReply) => {
        if (m.t === 'listening') resolve({ address: m.address, port: m.port })
        else
          reject(Object.assign(new Error(m.message), m.code !== undefined ? { code: m.code } : {}))
      })
    })
    // Like the listener it replaces, the thread does not keep the process alive by itself.
    worker.unref()
    return {
      bound,
      async close(isFinal) {
        worker.ref()
        worker.postMessage({ t: 'close', isFinal })
        const timer = setTimeout(() => void worker.terminate(), EXIT_WAIT_MS).unref()
        await exited
        clearTimeout(timer)
        beacon.close()
      },
    }
  } catch (e) {
    beacon.close()
    await worker.terminate()
    throw e
  }
}

/**
 * The thread's bootstrap. Built, it loads readiness-thread-main.js; run from source (tsx), a
 * worker does not inherit the TypeScript loader, so the bootstrap registers it first.
 */
function threadEntry(): string {
  const isSource = import.meta.url.endsWith('.ts')
  const main = new URL(`./readiness-thread-main.${isSource ? 'ts' : 'js'}`, import.meta.url).href
  if (!isSource) return `import(${JSON.stringify(main)})`
  const tsx = import.meta.resolve('tsx/esm/api')
  return `import(${JSON.stringify(tsx)}).then((m) => m.register()).then(() => import(${JSON.stringify(main)}))`
}
