/** Adds `sub` to a broker's live subscriptions; closing it removes it (health counts them, close() closes them). */
export function track<S extends { close(): Promise<void> }>(live: Set<S>, sub: S): S {
  live.add(sub)
  const close = sub.close
  sub.close = async () => {
    live.delete(sub)
    await close()
  }
  return sub
}
