import { randomUUID } from 'node:crypto'
import type { SpanRecorder } from '../tracing.js'
import { blobExpiry } from './envelope.js'
import { LoadTimeoutError } from './errors.js'
import type { L2Guard } from './guard.js'
import type { L2Tier } from './tier.js'

/** What a loader receives. */
export interface LoadContext {
  /** The key being loaded (without the cache's prefix). */
  readonly key: string
  /** Aborted when the load is abandoned (`loadTimeout`); pass it to the database driver. */
  readonly signal: AbortSignal
  /**
   * The highest LSN recorded by an invalidation of this key that may not be replayed everywhere yet (C4): read
   * from a replica at or past it, else from the primary. Absent when none is known.
   */
  readonly minLsn?: string
}

/** Reads the value of a missed key from its source (the database); its result fills L1 and L2 unless fenced. */
export type Loader<T> = (ctx: LoadContext) => T | Promise<T>

/** A miss in progress in this process. Invalidations mark it `fenced`: its result must not enter L1. */
export interface Flight {
  promise: Promise<unknown>
  fenced: boolean
  generation: number
  tags: readonly string[] | undefined
  /** The `getOrLoad` span this flight reports to, when tracing is on (see src/tracing.ts). */
  trace: SpanRecorder | undefined
}

/** The outcome of asking L2 before loading: a blob to use, or what to load with (token, LSN, lease). */
export type L2Start =
  | { kind: 'blob'; blob: Buffer }
  | { kind: 'load'; token: string | undefined; lsn: string | undefined; leaseId: string | undefined }

export interface LeaseSettings {
  leaseMs: number
  waitMs: number
  fenceTtlMs: number
  tagTtlMs: number
}

export interface LeaseCounters {
  leaseWaits: number
  leaseHandoffs: number
  leaseFallbacks: number
}

/**
 * After an L2 miss: take the key's token (created if absent) and the lease. Another instance holding the lease
 * means it is loading: wait for the value it fills (handed over by the tier, not polled), bounded by `waitMs`,
 * then load ourselves. Throws only L2 faults (the caller then loads without fencing or filling).
 */
export async function startLoad(
  tier: L2Tier,
  guard: L2Guard,
  key: string,
  tags: readonly string[],
  settings: LeaseSettings,
  counters: LeaseCounters,
): Promise<L2Start> {
  const deadline = Date.now() + settings.waitMs
  for (let attempt = 0; ; attempt++) {
    const leaseId = randomUUID()
    const acquired = await guard.run(
      () =>
        tier.acquire(key, {
          leaseId,
          leaseMs: settings.leaseMs,
          newToken: randomUUID(),
          fenceTtlMs: settings.fenceTtlMs,
          tags,
          tagTtlMs: settings.tagTtlMs,
        }),
      'acquire',
    )
    if (acquired.kind === 'hit') return { kind: 'blob', blob: acquired.blob }
    if (acquired.kind === 'lease') return { kind: 'load', token: acquired.token, lsn: acquired.lsn, leaseId }
    const remaining = deadline - Date.now()
    if (attempt >= 2 || remaining <= 0) {
      counters.leaseFallbacks++
      return { kind: 'load', token: acquired.token, lsn: acquired.lsn, leaseId: undefined }
    }
    counters.leaseWaits++
    // Subscribe first, then look again: a fill between our acquire and the subscription is not missed.
    await guard.run(() => tier.prepareWait(), 'prepareWait')
    const waiting = tier.waitForFill(key, remaining)
    const now = await guard.run(() => tier.get(key), 'get')
    // A value still kept for grace is not the holder's: wait for the refresh.
    const blob = now && blobExpiry(now) > Date.now() ? now : await waiting
    if (blob) {
      counters.leaseHandoffs++
      return { kind: 'blob', blob }
    }
    if (blob === undefined) {
      // Timed out: the holder is slow or gone. Load ourselves (fenced by the token we hold).
      counters.leaseFallbacks++
      return { kind: 'load', token: acquired.token, lsn: acquired.lsn, leaseId: undefined }
    }
    // null: the holder failed or was fenced; try for the lease again with a fresh token.
  }
}

/** Runs the loader with a context; `loadTimeout` aborts the signal and rejects with `LoadTimeoutError`. */
export function runLoader<T>(
  loader: Loader<T>,
  key: string,
  minLsn: string | undefined,
  timeoutMs: number | undefined,
): Promise<T> {
  const controller = new AbortController()
  const ctx: LoadContext =
    minLsn === undefined ? { key, signal: controller.signal } : { key, signal: controller.signal, minLsn }
  let result: Promise<T>
  try {
    result = Promise.resolve(loader(ctx))
  } catch (error) {
    return Promise.reject(error)
  }
  if (timeoutMs === undefined) return result
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new LoadTimeoutError(key, timeoutMs)
      controller.abort(error)
      reject(error)
    }, timeoutMs)
    result.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}
