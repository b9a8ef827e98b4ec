/**
 * The brokers guide (docs/guides/brokers.md): one function over the `Broker` port, run on the memory broker, and
 * on NATS JetStream and Redis Streams when NATS_URL / REDIS_URL are set.
 * Run: [NATS_URL=nats://...] [REDIS_URL=redis://...] node --import tsx --conditions=source \
 *   docs/snippets/guides/broker/three-brokers.ts
 */
import { type Broker, type DeadLetter, type EventEnvelope, newEventId } from 'concord/broker'
import { createMemoryBroker } from 'concord/memory'
import { createNatsBroker } from 'concord/nats'
import { createRedisStreamsBroker } from 'concord/redis'

const run = `r${process.pid}`

// #region choose
const brokers: [string, () => Broker][] = [['memory', () => createMemoryBroker()]]
if (process.env.NATS_URL) {
  const servers = process.env.NATS_URL
  brokers.push(['nats', () => createNatsBroker({ servers, prefix: run, dedupWindow: '2m' })])
}
if (process.env.REDIS_URL) {
  const url = process.env.REDIS_URL
  brokers.push(['redis', () => createRedisStreamsBroker({ url, prefix: run, dedupWindow: '2m' })])
}
// #endregion choose

const event = (aggregateId: string, aggregateVersion: number, type = 'StockChanged'): EventEnvelope => ({
  id: newEventId(),
  aggregateType: 'stock',
  aggregateId,
  aggregateVersion,
  type,
  payload: { aggregateVersion },
  headers: {},
  createdAt: new Date().toISOString(),
})

async function tour(name: string, broker: Broker): Promise<void> {
  // #region publish
  const first = event('sku-1', 1)
  // Resolves once every event is stored, in order. Publishing an id again within dedupWindow stores nothing.
  await broker.publish('stock', [first, event('sku-1', 2), event('sku-2', 1), event('sku-1', 3, 'Broken')])
  await broker.publish('stock', [first]) // a relay's retry of the same batch: deduplicated
  // #endregion publish

  // #region subscribe
  const seen: string[] = []
  const deadLetters: DeadLetter[] = []
  const subscription = await broker.subscribe(
    'stock',
    'warehouse', // a durable group: its subscribers share the messages; every group gets every message
    async (e) => {
      if (e.type === 'Broken') throw new Error('cannot handle this one')
      seen.push(`${e.aggregateId}@${e.aggregateVersion}`)
    },
    {
      maxDeliveries: 3, // then onDeadLetter, and the message is acknowledged
      backoff: ['10ms', '20ms'], // retried in place; the aggregate's later events wait behind it
      concurrency: 8, // aggregates handled at once; one event at a time per aggregate
      onDeadLetter: (d) => void deadLetters.push(d),
    },
  )
  // #endregion subscribe
  const deadline = Date.now() + 15_000
  while (seen.length < 3 || deadLetters.length < 1) {
    if (Date.now() > deadline) throw new Error(`${name}: timed out (${seen.join(' ')})`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  const sku1 = seen.filter((s) => s.startsWith('sku-1'))
  console.log(
    `${name}: handled ${seen.length} (sku-1 in order: ${sku1.join(' ')}), dead letter after ${deadLetters[0]?.deliveryCount} deliveries, connected ${broker.health().connected}`,
  )
  await subscription.close()
}

for (const [name, create] of brokers) {
  const broker = create()
  try {
    await tour(name, broker)
  } finally {
    await broker.close()
  }
}
