/**
 * A small deterministic generator (mulberry32) for sampled and generated test cases: a failure
 * names its seed, and the same seed gives the same cases again. Values are in [0, 1).
 */
export function seededRandom(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
