import { availableParallelism } from 'node:os'

/** GatewayConfig `workers` → how many worker processes; 1 means no cluster at all. */
export function resolveWorkerCount(
  setting: number | 'auto' | undefined,
  available: () => number = availableParallelism,
): number {
  if (setting === undefined) return 1
  return setting === 'auto' ? Math.max(1, available()) : setting
}
