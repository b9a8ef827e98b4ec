/**
 * concord/prisma: Prisma interactive transactions as concord's `Connection`. Needs no Prisma import: it calls
 * the transaction client's `$queryRawUnsafe` and `$executeRawUnsafe`.
 */
export { type PrismaTxLike, prismaTx } from './connection.js'
