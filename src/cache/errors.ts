import { ConcordError } from '../errors.js'

/**
 * Errors of concord/cache. Reads never surface cache faults (a caller gets the loader's data); these reach a
 * caller only from writes, whose failure the caller must know about to retry (the outbox relay does).
 */

/** A cache key was empty, not a string, or too long. */
export class InvalidKeyError extends ConcordError {
  constructor(key: unknown) {
    super('E_CACHE_INVALID_KEY', `cache key must be a non-empty string of at most 1024 characters`, {
      context: { key: typeof key === 'string' ? key.slice(0, 100) : String(key) },
    })
  }
}

/**
 * An invalidation (or a `set`/`delete`) could not be confirmed by the L2 tier (Redis down, slow or the circuit
 * open). Local L1 was cleared and other instances were told; the caller should retry (the outbox relay does).
 */
export class InvalidationFailedError extends ConcordError {
  constructor(cache: string, keys: readonly string[], cause: unknown) {
    super('E_CACHE_INVALIDATION_FAILED', `cache ${cache}: L2 did not confirm the invalidation`, {
      context: { cache, keys: keys.slice(0, 20), count: keys.length },
      cause,
    })
  }
}

/** An L2 call was refused without trying because the circuit breaker is open after repeated failures. */
export class CircuitOpenError extends ConcordError {
  constructor(tier: string, retryInMs: number) {
    super('E_CACHE_CIRCUIT_OPEN', `L2 tier ${tier} is failing; circuit open`, {
      context: { tier, retryInMs },
    })
  }
}

/** The loader ran past the cache's `loadTimeout`; its signal was aborted. */
export class LoadTimeoutError extends ConcordError {
  constructor(key: string, ms: number) {
    super('E_CACHE_LOAD_TIMEOUT', `loader for ${key} ran past ${ms} ms`, { context: { key, ms } })
  }
}
