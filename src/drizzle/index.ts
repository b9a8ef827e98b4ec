/**
 * concord/drizzle: Drizzle transactions (node-postgres driver) as concord's `Connection` (the optional peer
 * dependency `drizzle-orm`).
 */
export { type DrizzleTxLike, drizzleTx } from './connection.js'
