/**
 * concord/pg: PostgreSQL through node-postgres (the optional peer dependency `pg`): the node adapter that
 * concord/db's shards route over.
 */
export { createPgNode, type PgNodeOptions } from './node.js'
