import { ConcordError } from '../errors.js'

/**
 * A change to a key's token (an invalidation, a write, a tag membership) was applied on its Redis master but not
 * confirmed by the master's replicas (`WAIT` fell short, or the slot failed over meanwhile), so a failover could
 * still lose it. The cache reports it as a failed invalidation: retry it (the outbox's invalidator does).
 */
export class ReplicationUnconfirmedError extends ConcordError {
  constructor(key: string, wanted: number, acked: number, reason: string) {
    super(
      'E_REPLICATION_UNCONFIRMED',
      `Redis replicas did not confirm the change of ${key}: ${reason}; retry it`,
      {
        context: { key, wanted, acked },
      },
    )
  }
}
