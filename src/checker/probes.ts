import type { Inspection } from '../cache/kit.js'
import { type Duration, durationMs } from '../options.js'
import type { Probe } from './tracer.js'
import type { Copy, Version } from './types.js'

/** The part of a concord cache the helpers use: `inspect` reads a tier without loading, filling or counting. */
export interface InspectableCache<T> {
  /** What L1 and L2 hold for `key`, without loading, filling or counting. */
  inspect(key: string): Promise<Inspection<T>>
  /** Drops `key` everywhere (a repair). */
  invalidate(key: string): Promise<void>
  /** Drops `key` from this instance's L1 only. */
  deleteLocal(key: string): void
}

/**
 * A checker copy for one tier of a concord cache. Repair drops the entry: from L2 (and every instance's L1, over
 * the bus) with `invalidate`, or from this instance's L1 with `deleteLocal`; the next read loads the source.
 * An absent entry is not a divergence (caches are not `required`).
 */
export function cacheCopy<T>(
  name: string,
  cache: InspectableCache<T>,
  tier: 'l1' | 'l2',
  versionOf?: (value: T) => Version | undefined,
): Copy<T> {
  return {
    name,
    read: async (key) => {
      const entry = (await cache.inspect(key))[tier]
      if (entry === undefined || entry.value === undefined) return undefined
      const version = versionOf?.(entry.value)
      return version === undefined ? { value: entry.value } : { version, value: entry.value }
    },
    repair: async (key) => {
      if (tier === 'l2') await cache.invalidate(key)
      else cache.deleteLocal(key)
    },
  }
}

/** A tracer probe for one tier of an in-process cache: its version of the key, absent counting as converged. */
export function cacheProbe<T>(
  path: string,
  cache: Pick<InspectableCache<T>, 'inspect'>,
  tier: 'l1' | 'l2',
  versionOf: (value: T) => Version | undefined,
): Probe {
  return {
    path,
    absentIsConverged: true,
    read: async (key) => {
      const value = (await cache.inspect(key))[tier]?.value
      return value === undefined ? undefined : versionOf(value)
    },
  }
}

/**
 * A tracer probe over HTTP, for a copy in another process (an instance's L1 through the internal
 * `GET /admin/internal/caches/:cache/:key` route, or another service's own endpoint). `url(key)` names the
 * resource; `versionOf` picks the version out of the JSON (404 means the copy holds nothing).
 */
export function httpProbe(options: {
  path: string
  url: (key: string) => string
  versionOf: (body: unknown) => Version | undefined
  headers?: Record<string, string>
  absentIsConverged?: boolean
  /** Bound on each request (`'1s'` or milliseconds). @default '1s' */
  timeout?: Duration
}): Probe {
  const timeoutMs = durationMs('httpProbe: timeout', options.timeout ?? 1000)
  return {
    path: options.path,
    absentIsConverged: options.absentIsConverged ?? false,
    read: async (key) => {
      const response = await fetch(options.url(key), {
        headers: options.headers,
        signal: AbortSignal.timeout(timeoutMs),
      })
      if (response.status === 404) return undefined
      if (!response.ok) throw new Error(`${options.path}: HTTP ${response.status}`)
      return options.versionOf(await response.json())
    },
  }
}
