import { jetstream } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import type { Broker } from '../../src/broker/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { runBrokerContract } from '../../src/testing/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'

runBrokerContract({
  name: 'nats jetstream',
  async create() {
    const servers = sharedServices().nats.url
    const streamPrefix = uniqueName('broker_contract')
    const made: Broker[] = []
    const make = () => {
      const broker = createNatsBroker({ servers, prefix: streamPrefix })
      made.push(broker)
      return broker
    }
    const raw = await connect({ servers })
    const js = jetstream(raw)
    return {
      broker: make(),
      connect: make,
      open: make,
      // Another producer publishing straight to the topic's subjects, bypassing envelope validation.
      publishRaw: async (topic, data) => void (await js.publish(`${streamPrefix}.${topic}.raw.x`, data)),
      close: async () => {
        await Promise.all(made.map((b) => b.close()))
        await raw.close()
      },
    }
  },
})
