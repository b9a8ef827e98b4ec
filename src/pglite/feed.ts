import { FeedUnavailableError } from '../outbox/kit.js'

/**
 * PGlite has no logical decoding (no walsender, no replication slots): there is no change feed on the embedded
 * database. This stands where concord/pg's `createChangeFeed` would, so a setup that picks its backend at run
 * time fails with a clear, typed error. Writes through the application stay consistent there (the synchronous
 * invalidation and the outbox); writes made any other way reach caches at the TTL.
 * @throws FeedUnavailableError always.
 */
export function createChangeFeed(_options?: unknown): never {
  throw new FeedUnavailableError(
    'PGlite (the embedded database) has no logical decoding: run on PostgreSQL with wal_level = logical for a change feed; the outbox layer still invalidates writes made through the application',
    { backend: 'pglite' },
  )
}
