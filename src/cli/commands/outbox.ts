import { createInbox, createOutboxAdmin } from '../../outbox/index.js'
import { type Command, text } from '../command.js'
import { CliUsageError } from '../errors.js'

const limitFlag = { limit: { type: 'string', description: 'at most this many (default 100)' } } as const

function limitOf(flags: Record<string, unknown>): number {
  const raw = flags.limit
  if (raw === undefined) return 100
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1)
    throw new CliUsageError(`--limit must be a positive integer, got ${JSON.stringify(raw)}`)
  return n
}

export const outboxStatus: Command = {
  name: 'outbox status',
  summary: 'pending, retrying and dead-lettered events and the oldest pending age, per shard',
  async run({ shards, out }) {
    const rows = await createOutboxAdmin({ shards: await shards() }).status()
    out.rows(rows, ['shard', 'pending', 'retrying', 'deadLetters', 'oldestAgeMs'])
    return 0
  },
}

export const outboxDeadLetters: Command = {
  name: 'outbox dead-letters',
  summary: 'dead-lettered outbox events with their last error, oldest first',
  flags: limitFlag,
  async run({ flags, shards, out }) {
    const letters = await createOutboxAdmin({ shards: await shards() }).deadLetters(limitOf(flags))
    if (out.json) {
      out.value(letters)
      return 0
    }
    out.rows(
      letters.map((d) => ({
        id: d.event.id,
        shard: d.shard,
        topic: d.topic,
        type: d.event.type,
        aggregate: `${d.event.aggregateType}/${d.event.aggregateId}@${d.event.aggregateVersion}`,
        attempts: d.attempts,
        deadAt: d.deadAt,
        lastError: d.lastError,
      })),
      ['id', 'shard', 'topic', 'type', 'aggregate', 'attempts', 'deadAt', 'lastError'],
    )
    return 0
  },
}

export const outboxRedrive: Command = {
  name: 'outbox redrive',
  usage: '<event-id>',
  args: 1,
  summary:
    'make a dead-lettered event pending again (published next, before the later events of its aggregate)',
  async run({ args, shards, out }) {
    const shard = await createOutboxAdmin({ shards: await shards() }).redrive(args[0]!)
    out.value({ redriven: args[0], shard })
    return 0
  },
}

export const outboxDiscard: Command = {
  name: 'outbox discard',
  usage: '<event-id>',
  args: 1,
  summary: 'drop a dead-lettered event for good (releases the later events of its aggregate)',
  async run({ args, shards, out }) {
    const shard = await createOutboxAdmin({ shards: await shards() }).discard(args[0]!)
    out.value({ discarded: args[0], shard })
    return 0
  },
}

const consumerFlag = {
  consumer: { type: 'string', description: 'the inbox consumer name (required)' },
} as const

function consumerOf(flags: Record<string, unknown>): string {
  const consumer = text(flags as never, 'consumer')
  if (!consumer) throw new CliUsageError('--consumer <name> is required: dead letters are kept per consumer')
  return consumer
}

export const inboxDeadLetters: Command = {
  name: 'inbox dead-letters',
  summary: "a consumer's dead-lettered events with the reason, oldest first",
  flags: { ...consumerFlag, ...limitFlag },
  async run({ flags, shards, out }) {
    const inbox = createInbox({ shards: await shards(), consumer: consumerOf(flags) })
    const letters = await inbox.deadLetters(limitOf(flags))
    if (out.json) {
      out.value(letters)
      return 0
    }
    out.rows(letters, ['eventId', 'consumer', 'attempts', 'deadAt', 'error'])
    return 0
  },
}

export const inboxRedrive: Command = {
  name: 'inbox redrive',
  usage: '<event-id>',
  args: 1,
  summary:
    'take an event out of the dead letters and forget it was seen, so its next delivery runs the handler',
  details:
    'The inbox holds no copy to deliver: the event is handled again when the broker redelivers it (or a\n' +
    'replay publishes it). The released event is printed so it can be republished.',
  flags: consumerFlag,
  async run({ args, flags, shards, out }) {
    const inbox = createInbox({ shards: await shards(), consumer: consumerOf(flags) })
    const event = await inbox.release(args[0]!)
    if (event === undefined) {
      throw new CliUsageError(`no dead letter ${args[0]} for consumer ${consumerOf(flags)}`, { id: args[0] })
    }
    out.value({ released: args[0], event })
    return 0
  },
}
