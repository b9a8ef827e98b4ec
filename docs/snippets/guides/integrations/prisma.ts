/**
 * The integration guide (docs/guides/integrations.md): the outbox in a Prisma interactive transaction.
 * A fragment (compiled by `npm run typecheck`, not run here): test/integration/own-db-prisma.test.ts runs the same
 * adapter against a generated Prisma client on real PostgreSQL.
 */
import type { Outbox } from 'concord/outbox'
import { type PrismaTxLike, prismaTx } from 'concord/prisma'

/** The part of a generated PrismaClient this needs (your client has it). */
interface PrismaLike {
  $transaction<T>(fn: (tx: PrismaTxLike) => Promise<T>): Promise<T>
}

// #region prisma
export async function placeOrder(prisma: PrismaLike, outbox: Outbox, id: string): Promise<void> {
  await prisma.$transaction(async (tx) => {
    await tx.$executeRawUnsafe('INSERT INTO orders (id) VALUES ($1)', id) // or tx.order.create(...)
    await outbox.add(prismaTx(tx), {
      aggregateType: 'order',
      aggregateId: id,
      aggregateVersion: 1,
      type: 'OrderPlaced',
      payload: {},
    })
  })
}
// #endregion prisma
