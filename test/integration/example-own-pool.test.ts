import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type OrderService, startOrderService } from '../../examples/own-pool/service.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

describe('examples/own-pool: a service on its own pg.Pool and Kysely', () => {
  let pool: pg.Pool
  let service: OrderService
  const broker = createNatsBroker({ servers: sharedServices().nats.url, prefix: uniqueName('own') })
  const errors: unknown[] = []

  beforeAll(async () => {
    const db = await sharedServices().postgres.createDatabase('own_pool_example')
    pool = new pg.Pool({ connectionString: db.primaryUrl, max: 5, application_name: 'own-pool-app' })
    service = await startOrderService({ pool, broker, onError: (e) => errors.push(e) })
  })

  afterAll(async () => {
    await service?.close()
    await broker.close()
    await pool?.end()
  })

  it('ships each committed order once, never a rolled-back one, on the one pool', async () => {
    const first = await service.placeOrder({ id: 'o1', item: 'book', quantity: 1 })
    expect(first.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/)
    // The CHECK fails inside the transaction: neither the order nor its event commits.
    await expect(service.placeOrder({ id: 'o2', item: 'lamp', quantity: 0 })).rejects.toThrow(
      /check constraint/,
    )
    await service.placeOrder({ id: 'o3', item: 'pen', quantity: 2 })
    await waitFor(async () => (await service.shipments()).length === 2, { what: 'two shipments' })
    expect(await service.shipments()).toEqual([
      { order_id: 'o1', item: 'book' },
      { order_id: 'o3', item: 'pen' },
    ])
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND backend_type = 'client backend' AND application_name <> 'own-pool-app'`,
    )
    expect(rows).toEqual([{ n: 0 }])
    expect(pool.totalCount).toBeLessThanOrEqual(5)
    expect(errors).toEqual([])
  })
})
