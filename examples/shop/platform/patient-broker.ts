import { type Broker, BrokerUnavailableError } from 'concord/broker'

/**
 * The broker with a patient `subscribe`: an instance that starts while NATS is still coming up, or while the
 * machine is too busy for JetStream to answer within the adapter's timeout, retries its subscriptions instead of
 * exiting (what a supervisor restarting it would do, without the restart). Gives up after `forMs`.
 */
export function patientBroker(broker: Broker, forMs = 60_000): Broker {
  return {
    publish: (topic, events) => broker.publish(topic, events),
    health: () => broker.health(),
    close: () => broker.close(),
    async subscribe(...args: Parameters<Broker['subscribe']>) {
      const deadline = performance.now() + forMs
      for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
        try {
          return await broker.subscribe(...args)
        } catch (error) {
          if (!(error instanceof BrokerUnavailableError) || performance.now() + wait > deadline) throw error
          console.warn(`shop: subscribing to ${args[0]} as ${args[1]}: ${error.message}; retrying`)
          await new Promise((resolve) => setTimeout(resolve, wait))
        }
      }
    },
  }
}
