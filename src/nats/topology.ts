import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import type { EventEnvelope } from '../broker/kit.js'
import type { ResolvedNatsOptions } from './options.js'

export const streamName = (prefix: string, topic: string) => `${prefix}_${topic}`
export const topicSubjects = (prefix: string, topic: string) => `${prefix}.${topic}.>`

// The aggregate is in the subject so an operator can inspect or purge one aggregate's events
// (`nats stream view --subject`); the envelope stays the source of truth, so lossy escaping is harmless.
const token = (text: string) => text.replace(/[^A-Za-z0-9_-]/g, '_') || '_'

/** `${prefix}.${topic}.${aggregateType}.${aggregateId}`, with characters unsafe in a subject token replaced. */
export function eventSubject(prefix: string, topic: string, event: EventEnvelope): string {
  return `${prefix}.${topic}.${token(event.aggregateType)}.${token(event.aggregateId)}`
}

/** Creates the topic's stream if missing (file storage, the configured dedup window and age limit). */
export async function ensureStream(jsm: JetStreamManager, options: ResolvedNatsOptions, topic: string) {
  const name = streamName(options.prefix, topic)
  try {
    await jsm.streams.info(name)
    return
  } catch (error) {
    if (!isNotFound(error)) throw error
  }
  try {
    await jsm.streams.add({
      name,
      subjects: [topicSubjects(options.prefix, topic)],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      duplicate_window: nanos(options.dedupWindow),
      max_age: nanos(options.maxAge),
      num_replicas: options.replicas,
    })
  } catch (error) {
    // Another client created it between our info and add.
    await jsm.streams.info(name).catch(() => {
      throw error
    })
  }
}

/**
 * Creates the group's durable pull consumer if missing. Redelivery limits are the subscriber's job
 * (`max_deliver` -1): a server-side limit would drop a message silently instead of dead-lettering it.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  options: ResolvedNatsOptions,
  topic: string,
  group: string,
  ackWaitMs: number,
) {
  const stream = streamName(options.prefix, topic)
  const existing = await jsm.consumers.info(stream, group).catch((error) => {
    if (isNotFound(error)) return undefined
    throw error
  })
  if (existing) {
    if (existing.config.ack_wait !== nanos(ackWaitMs)) {
      await jsm.consumers.update(stream, group, { ack_wait: nanos(ackWaitMs) })
    }
    return
  }
  try {
    await jsm.consumers.add(stream, {
      durable_name: group,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(ackWaitMs),
      max_deliver: -1,
      max_ack_pending: options.maxAckPending,
      filter_subject: topicSubjects(options.prefix, topic),
    })
  } catch (error) {
    await jsm.consumers.info(stream, group).catch(() => {
      throw error
    })
  }
}

function isNotFound(error: unknown): boolean {
  // 10059 stream not found, 10014 consumer not found.
  return (
    error instanceof JetStreamApiError &&
    (error.code === 10059 || error.code === 10014 || error.status === 404)
  )
}
