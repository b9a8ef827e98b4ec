/**
 * concord/pglite: an embedded PostgreSQL (the optional peer dependency `@electric-sql/pglite`) as a node of
 * concord/db's shards; the embedded default of the demo and of tests without servers.
 */

export { FeedUnavailableError } from '../outbox/index.js'
export { bootPglite, defaultPgliteCacheDir, type PgliteBootOptions } from './boot.js'
export { createChangeFeed } from './feed.js'
export { createPgliteNode, type PgliteNodeOptions } from './node.js'
