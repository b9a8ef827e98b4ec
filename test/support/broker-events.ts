import {
  type Broker,
  BrokerUnavailableError,
  type EventEnvelope,
  newEventId,
} from '../../src/broker/index.js'

/** A minimal valid event of aggregate `order/<key>` at `version`. */
export const orderEvent = (key: string, version: number, payload: unknown = {}): EventEnvelope => ({
  id: newEventId(),
  aggregateType: 'order',
  aggregateId: key,
  aggregateVersion: version,
  type: 'OrderChanged',
  payload,
  headers: {},
  createdAt: new Date().toISOString(),
})

/** Publishes like the outbox relay: the same batch again after each BrokerUnavailableError. */
export async function publishRetrying(
  broker: Pick<Broker, 'publish'>,
  events: EventEnvelope[],
  topic = 'orders',
) {
  for (;;) {
    try {
      return await broker.publish(topic, events)
    } catch (error) {
      if (!(error instanceof BrokerUnavailableError)) throw error
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}
