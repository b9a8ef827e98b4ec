/**
 * concord/pg: PostgreSQL through node-postgres (the optional peer dependency `pg`): the node adapter that
 * concord/db's shards route over, and the change feed that invalidates caches from the WAL (logical
 * replication, through the optional peer `pg-logical-replication`).
 */
export {
  type FeedCache,
  type FeedEventInput,
  FeedSlotBusyError,
  FeedSlotMissingError,
  type FeedTableMapping,
  type FeedTransaction,
  FeedUnavailableError,
  type RowChange,
} from '../outbox/index.js'
export {
  type ChangeFeed,
  type ChangeFeedState,
  type ChangeFeedStatus,
  createChangeFeed,
} from './feed/feed.js'
export type { ChangeFeedOptions } from './feed/options.js'
export { createPgNode, type PgNodeOptions } from './node.js'
