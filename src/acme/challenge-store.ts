/**
 * Where pending http-01 challenges wait for the CA to ask: tokens with their key authorization,
 * in memory, so the replica that placed the order answers them.
 */

export interface ChallengeStore {
  putHttp01(token: string, keyAuthorization: string): Promise<void>
  http01(token: string): Promise<string | undefined>
  deleteHttp01(token: string): Promise<void>
}

/** Challenges are short-lived; an entry left behind by a crash goes away after this. */
export const CHALLENGE_TTL_MS = 15 * 60_000

export function createMemoryChallengeStore(now: () => number = Date.now): ChallengeStore {
  const http = new Map<string, { value: string; until: number }>()
  return {
    putHttp01(token, keyAuthorization) {
      http.set(token, { value: keyAuthorization, until: now() + CHALLENGE_TTL_MS })
      return Promise.resolve()
    },
    http01(token) {
      const e = http.get(token)
      if (e !== undefined && e.until < now()) http.delete(token)
      return Promise.resolve(e !== undefined && e.until >= now() ? e.value : undefined)
    },
    deleteHttp01(token) {
      http.delete(token)
      return Promise.resolve()
    },
  }
}
