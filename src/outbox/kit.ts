/**
 * What other folders of concord build on from this one (the adapters in src/redis, src/pg, ..., and modules layered
 * on it). Not a public subpath: the public API is index.ts.
 */

export { FeedSlotBusyError, FeedSlotMissingError, FeedUnavailableError } from './errors.js'
export {
  createFeedApplier,
  type FeedApplied,
  type FeedApplier,
  type FeedCache,
  type FeedEventInput,
  type FeedTableMapping,
  type FeedTransaction,
  type RowChange,
} from './feed.js'
export type { HandleResult, Inbox } from './inbox.js'
export { traceIdOf } from './trace.js'
