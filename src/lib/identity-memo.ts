/**
 * `compute` remembered per object: the config keeps unchanged objects (routes, virtual hosts) by
 * identity across reloads, and they are frozen, so what is derived from one stays true for its
 * life. Weak: an object that left the config takes its entry with it.
 */
export function memoByIdentity<K extends object, V>(compute: (key: K) => V): (key: K) => V {
  const memo = new WeakMap<K, V>()
  return (key) => {
    let value = memo.get(key)
    if (value === undefined) {
      value = compute(key)
      memo.set(key, value)
    }
    return value
  }
}
