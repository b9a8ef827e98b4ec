import { JetStreamApiError } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BrokerUnavailableError } from '../../src/broker/errors.js'
import { ClosedError, TimeoutError } from '../../src/errors.js'
import { pubAcks } from '../../src/nats/pub-acks.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

const data = new TextEncoder().encode('{}')

// The shared-reply-subscription publisher, against responders that answer as JetStream would (or do not):
// each message is settled by its own answer, whatever the order the answers come in.
describe('nats PubAcks', () => {
  let nc: NatsConnection
  beforeAll(async () => {
    nc = await connect({ servers: sharedServices().nats.url, noAsyncTraces: true })
  })
  afterAll(async () => {
    await nc?.close()
  })

  it('settles each message by its own answer: a PubAck, an API error, none within the timeout', async () => {
    const subject = uniqueName('acks')
    const msgIds: (string | undefined)[] = []
    nc.subscribe(`${subject}.*`, {
      callback: (_error, msg) => {
        msgIds.push(msg.headers?.get('Nats-Msg-Id'))
        const kind = msg.subject.split('.').pop()
        // Answered in reverse arrival order for `late`: tokens, not order, pair answers with messages.
        if (kind === 'ok') setTimeout(() => msg.respond(JSON.stringify({ stream: 'S', seq: 1 })), 20)
        else if (kind === 'fast') msg.respond(JSON.stringify({ stream: 'S', seq: 2, duplicate: true }))
        else if (kind === 'refused') {
          msg.respond(
            JSON.stringify({
              error: { code: 400, err_code: 10054, description: 'message size exceeds maximum allowed' },
            }),
          )
        }
        // `silent`: no answer
      },
    })
    await nc.flush()
    const acks = pubAcks(nc, 300)
    const outcomes = await Promise.allSettled([
      acks.publish(`${subject}.ok`, data, 'id-ok'),
      acks.publish(`${subject}.fast`, data, 'id-fast'),
      acks.publish(`${subject}.refused`, data, 'id-refused'),
      acks.publish(`${subject}.silent`, data, 'id-silent'),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected'])
    const refused = (outcomes[2] as PromiseRejectedResult).reason
    expect(refused).toBeInstanceOf(JetStreamApiError)
    expect((refused as JetStreamApiError).code).toBe(10054)
    expect((outcomes[3] as PromiseRejectedResult).reason).toBeInstanceOf(TimeoutError)
    expect(msgIds.sort()).toEqual(['id-fast', 'id-ok', 'id-refused', 'id-silent'])
  })

  it('reports a subject no stream takes as the broker being unavailable', async () => {
    const acks = pubAcks(nc, 2_000)
    const started = Date.now()
    const error = await acks.publish(`${uniqueName('nostream')}.x`, data, 'id-none').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BrokerUnavailableError)
    // The server's no-responders status answered it, not the timeout.
    expect(Date.now() - started).toBeLessThan(1_500)
  })

  it('rejects what is still waiting when the connection closes', async () => {
    const own = await connect({ servers: sharedServices().nats.url, noAsyncTraces: true })
    const subject = uniqueName('closing')
    let received = false
    own.subscribe(`${subject}.*`, {
      callback: () => {
        received = true // and never answers
      },
    })
    await own.flush()
    const acks = pubAcks(own, 10_000)
    const waiting = acks.publish(`${subject}.a`, data, 'id-a').catch((e: unknown) => e)
    await waitFor(() => received, { timeoutMs: 5_000, what: 'the message at the responder' })
    await own.close()
    expect(await waiting).toBeInstanceOf(ClosedError)
  })
})
