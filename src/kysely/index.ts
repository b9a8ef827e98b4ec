/**
 * concord/kysely: Kysely transactions as concord's `Connection` (the optional peer dependency `kysely`), so the
 * outbox, the inbox and the saga participants write in the application's own Kysely transaction.
 */
export { kyselyTx } from './connection.js'
