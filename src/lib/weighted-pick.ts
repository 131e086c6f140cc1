/**
 * One item at random, each with the chance of its weight in the total (Envoy's weighted pick of
 * endpoints and of route destinations). The last item when rounding leaves the roll unspent.
 */
export function weightedPick<T extends { readonly weight: number }>(
  items: readonly T[],
): T | undefined {
  if (items.length <= 1) return items[0]
  let total = 0
  for (const item of items) total += item.weight
  let roll = Math.random() * total
  for (const item of items) {
    roll -= item.weight
    if (roll < 0) return item
  }
  return items[items.length - 1]
}
