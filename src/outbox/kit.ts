/**
 * The parts of concord/outbox that adapters (src/redis, src/pg, src/nats, src/memory, ...) are built from.
 * Not a public subpath: other concept modules import `index.ts`, adapters this file.
 */
export type { HandleResult, Inbox } from './inbox.js'
