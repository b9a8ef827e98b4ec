/**
 * The L2 port: a shared store every instance reads, with the fencing (C3) and lease primitives the cache builds on.
 *
 * Keys passed here are full cache keys (the cache prefixes its name). Values are byte blobs in the cache's
 * envelope: a kind byte (`v` or `n`), the logical expiry in ms as ASCII digits, `|`, the serialised data. Tiers
 * read only the expiry, in `acquire`: a value past it is kept for grace but counts as absent there. Each key has a version token: a random string replaced on
 * every invalidation and never deleted by one, so a fill can compare-and-set against the token it read before
 * loading. Tokens are random, so they never repeat even after the store loses its data; and `acquire` always
 * returns a concrete token (creating one when absent), so a loader never starts from "absent", which a restart
 * without persistence could bring back.
 */
export interface L2Tier {
  /** A short name for stats and errors (`'redis'`, `'memory'`). */
  readonly kind: string
  /** The value blob, or `undefined`/`null` when absent. Reads nothing else: this is the hit path. */
  get(key: string): Promise<Buffer | undefined | null>
  /**
   * Starts a miss: returns the value if one appeared (`hit`), else the key's token and LSN and either the lease
   * (`lease`: this caller loads) or `busy` (another holds it; this caller is registered as a waiter, so the holder's
   * fill or release notifies it through `waitForFill`). Adds the key to each tag's set first, so a tag invalidation
   * that runs while this caller loads replaces the token its fill will compare against.
   */
  acquire(key: string, request: AcquireRequest): Promise<AcquireResult>
  /**
   * Compare-and-set: stores `blob` for `ttlMs` only if the key's token is still `token`. Releases `leaseId` if it
   * still holds, and wakes waiters with the value (filled) or without it (rejected). True when stored.
   */
  fill(key: string, token: string, blob: Buffer, ttlMs: number, leaseId?: string): Promise<boolean>
  /** Gives a lease up without a value (the loader failed); waiters are woken to load themselves. */
  release(key: string, leaseId: string): Promise<void>
  /**
   * Resolves with the blob a lease holder filled, `null` when it gave up or was fenced, `undefined` after `timeoutMs`.
   * Call `prepareWait` first and re-read the value after it, so a fill between acquire and the wait is not missed.
   */
  waitForFill(key: string, timeoutMs: number): Promise<Buffer | null | undefined>
  /** Makes `waitForFill` able to hear notices (a subscription, for Redis). Idempotent. */
  prepareWait(): Promise<void>
  /**
   * For each key: a new token, the LSN kept as the highest seen (when given), the value and any lease deleted,
   * atomically per key. The token lives `fenceTtlMs`.
   */
  invalidate(
    keys: readonly string[],
    lsn: string | undefined,
    fenceTtlMs: number,
    announce?: Announcement,
  ): Promise<void>
  /** Invalidates every key added to the tag's set (see `acquire`) and empties the set. Returns the keys. */
  invalidateTag(tag: string, fenceTtlMs: number): Promise<string[]>
  /** A write: a new token and the value, atomically, so loads that started before it cannot fill over it. */
  write(
    key: string,
    blob: Buffer,
    ttlMs: number,
    tags: readonly string[],
    fenceTtlMs: number,
    announce?: Announcement,
  ): Promise<void>
  /** Invalidates every key under `keyPrefix`. Used by `clear()`; may scan (slow on big stores). */
  invalidatePrefix(keyPrefix: string, fenceTtlMs: number): Promise<number>
  /**
   * Optional capability: true when this tier's server is also the pub/sub server of a bus `endpoint` (see
   * `EarlyDelivery` in the bus port), so that the `announce` of `invalidate` and `write` reaches its subscribers.
   * Tiers without it are never given an announcement.
   */
  announces?(endpoint: { readonly kind: string }): boolean
  /** Raw state of a key for checkers, counting nothing and loading nothing. */
  inspect(key: string): Promise<{ blob?: Buffer; token?: string; lsn?: string; ttlMs?: number }>
  /** Counts a user (a cache); tiers are shared by caches and instances. */
  open(): void
  /** Undoes `open`; the last close lets go of connections the tier opened itself. */
  close(): Promise<void>
}

/**
 * Pub/sub messages for `invalidate` and `write` to publish (see `L2Tier.announces`): `payloads[i]` on `channel` in
 * the same atomic step as the change of the i-th key, after it, so no receiver can hear one before it is applied.
 */
export interface Announcement {
  channel: string
  payloads: readonly string[]
}

/** What a read that missed asks of the L2 tier: take the key's fill lease, or get the value or the current holder. */
export interface AcquireRequest {
  leaseId: string
  leaseMs: number
  /** A fresh random token the tier installs when the key has none. */
  newToken: string
  fenceTtlMs: number
  tags: readonly string[]
  tagTtlMs: number
}

/** The tier's answer to a miss: the value (`hit`), the lease to fill it under `token` (`lease`), or another holder is filling (`busy`). */
export type AcquireResult =
  | { kind: 'hit'; blob: Buffer }
  | { kind: 'lease'; token: string; lsn: string | undefined }
  | { kind: 'busy'; token: string; lsn: string | undefined }
