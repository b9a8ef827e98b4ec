/** One item whose send failed, with its error. */
export interface SendFailure<T> {
  item: T
  error: unknown
}

export interface KeyedSendOptions {
  /** Sends awaiting their acknowledgement at once, all keys together. */
  maxInFlight: number
  /** After this failure, send nothing more at all (an outage); otherwise only the failed item's key stops. */
  stopAll(error: unknown): boolean
}

/**
 * Sends `items` as a pipeline keyed by `keyOf`: an item is sent only once the previous item of its key was
 * acknowledged (its `send` resolved), while items of different keys are in flight together, up to
 * `maxInFlight`. There is no barrier between keys: a key whose acknowledgement comes back early goes on at once.
 *
 * A failed send stops its key (no later item of that key is sent, so a retry of the whole list can never store
 * one key's items out of order), and stops everything when `stopAll(error)`. Resolves once nothing is in
 * flight, with the failures in the order they happened (empty when every item was acknowledged).
 */
export function sendInKeyOrder<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  send: (item: T) => Promise<unknown>,
  options: KeyedSendOptions,
): Promise<SendFailure<T>[]> {
  const queues = new Map<string, T[]>()
  for (const item of items) {
    const key = keyOf(item)
    const queue = queues.get(key)
    if (queue) queue.push(item)
    else queues.set(key, [item])
  }
  // Keys whose next item may be sent now, oldest first.
  const ready: string[] = [...queues.keys()]
  let next = 0
  let inFlight = 0
  let stopped = false
  const failures: SendFailure<T>[] = []
  return new Promise((resolve) => {
    const pump = () => {
      while (!stopped && inFlight < options.maxInFlight && next < ready.length) {
        const key = ready[next++]!
        const item = queues.get(key)!.shift()!
        inFlight++
        let sent: Promise<unknown>
        try {
          sent = send(item)
        } catch (error) {
          sent = Promise.reject(error)
        }
        sent.then(
          () => {
            inFlight--
            if (queues.get(key)!.length > 0) ready.push(key)
            settle()
          },
          (error: unknown) => {
            inFlight--
            failures.push({ item, error })
            if (options.stopAll(error)) stopped = true
            settle()
          },
        )
      }
      // Compact the consumed part of the ready list now and then; it only ever grows by one per ack.
      if (next > 1024 && next * 2 > ready.length) {
        ready.splice(0, next)
        next = 0
      }
    }
    const settle = () => {
      pump()
      if (inFlight === 0 && (stopped || next >= ready.length)) resolve(failures)
    }
    settle()
  })
}
