/**
 * Up to `n` items of `items` picked uniformly at random in one pass (reservoir sampling, Algorithm R), for
 * comparators whose keys are in memory or streamed. SQL sources sample better in the query
 * (`ORDER BY random() LIMIT n`, or `TABLESAMPLE` on big tables).
 */
export function reservoirSample<T>(items: Iterable<T>, n: number, random: () => number = Math.random): T[] {
  const picked: T[] = []
  if (n <= 0) return picked
  let seen = 0
  for (const item of items) {
    seen++
    if (picked.length < n) picked.push(item)
    else {
      const slot = Math.floor(random() * seen)
      if (slot < n) picked[slot] = item
    }
  }
  return picked
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
