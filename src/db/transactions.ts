import {
  explainMissingTable,
  isConnectionError,
  isNotPrimaryError,
  retryableConflict,
  SerializationFailureError,
  ShardUnavailableError,
} from './errors.js'
import type { Isolation, NodeAdapter, SqlResult, SqlStatement, Tx } from './types.js'

/** Where `afterCommit` callbacks report the errors they throw. pino's `warn(obj, msg)` fits. */
export interface DbLogger {
  /** Logs one swallowed error with its context (shard, statement). */
  warn(context: Record<string, unknown>, message: string): void
}

/** How a transaction failing with a serialization failure or deadlock (40001, 40P01) is retried. */
export interface TransactionRetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number
  /** First pause between attempts; doubles each time, with jitter. */
  backoff: number
}

/**
 * Runs `fn` in a transaction on a shard's primary. A serialisation failure or deadlock rolls back and runs
 * `fn` again, up to `retry.attempts` times in all, then becomes `SerializationFailureError`; `fn` must
 * therefore be safe to run again (its only effects should be its statements). `afterCommit` callbacks of
 * the attempt that committed run in order once COMMIT succeeded, and are awaited before this resolves.
 */
export function runTransaction<T>(
  shard: number,
  node: NodeAdapter,
  fn: (tx: Tx) => Promise<T>,
  isolation: Isolation,
  retry: TransactionRetryPolicy,
  logger: DbLogger,
  onUnavailable?: () => void,
): Promise<{ result: T; lsn: string }> {
  return retrying(shard, node, retry, onUnavailable, async () => {
    const callbacks: ((commit: { lsn: string }) => void | Promise<void>)[] = []
    const outcome = await node.transaction(
      (q) =>
        fn({
          shard,
          query: (statement, values) => q.query(statement, values),
          afterCommit: (callback) => {
            callbacks.push(callback)
          },
        }),
      isolation,
    )
    for (const callback of callbacks) {
      try {
        await callback({ lsn: outcome.lsn })
      } catch (error) {
        logger.warn({ shard, err: error }, 'an afterCommit callback failed; the transaction is committed')
      }
    }
    return outcome
  })
}

/** One statement on a shard's primary in its own (implicit) transaction, retried like `runTransaction`. */
export function runStatement<R>(
  shard: number,
  node: NodeAdapter,
  statement: string | SqlStatement,
  values: unknown[] | undefined,
  retry: TransactionRetryPolicy,
  onUnavailable?: () => void,
): Promise<SqlResult<R>> {
  return retrying(shard, node, retry, onUnavailable, () => node.query<R>(statement, values))
}

async function retrying<T>(
  shard: number,
  node: NodeAdapter,
  retry: TransactionRetryPolicy,
  onUnavailable: (() => void) | undefined,
  run: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run()
    } catch (error) {
      const sqlstate = retryableConflict(error)
      if (sqlstate === null) {
        // Unreachable, or no longer the primary (a demoted node refuses writes: 25006): look for the new one.
        if (isConnectionError(error) || isNotPrimaryError(error)) {
          onUnavailable?.()
          throw new ShardUnavailableError(shard, node.name, error)
        }
        throw explainMissingTable(error)
      }
      if (attempt >= retry.attempts) throw new SerializationFailureError(shard, attempt, sqlstate, error)
      const pause = retry.backoff * 2 ** (attempt - 1)
      await new Promise((resolve) => setTimeout(resolve, pause / 2 + Math.random() * pause))
    }
  }
}
