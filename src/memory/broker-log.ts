/** One stored message of a memory topic. */
export interface StoredMessage {
  seq: number
  data: Uint8Array
}

interface Claim {
  seq: number
  deliveries: number
}

/**
 * A memory topic: an append-only log, trimmed to its newest `maxMessages`, with one durable position per group.
 * Like a JetStream stream with a durable consumer: each group reads every message; its subscribers share them.
 */
export class MemoryLog {
  private readonly messages: StoredMessage[] = []
  private nextSeq = 1
  private readonly groups = new Map<string, MemoryGroup>()

  constructor(private readonly maxMessages: number) {}

  append(data: Uint8Array): void {
    this.messages.push({ seq: this.nextSeq++, data })
    if (this.messages.length > this.maxMessages)
      this.messages.splice(0, this.messages.length - this.maxMessages)
    for (const group of this.groups.values()) group.wake()
  }

  group(name: string): MemoryGroup {
    let group = this.groups.get(name)
    if (!group) {
      group = new MemoryGroup(this)
      this.groups.set(name, group)
    }
    return group
  }

  /** The first retained message with a sequence at or after `seq`. */
  at(seq: number): StoredMessage | undefined {
    const first = this.messages[0]
    if (!first) return undefined
    return this.messages[Math.max(0, seq - first.seq)]
  }

  get(seq: number): StoredMessage | undefined {
    const message = this.at(seq)
    return message?.seq === seq ? message : undefined
  }
}

/** A group's durable position: the next unread sequence, plus messages given back for redelivery. */
export class MemoryGroup {
  private cursor = 1
  private readonly redeliver: Claim[] = []
  private readonly deliveries = new Map<number, number>()
  private waiters: (() => void)[] = []

  constructor(private readonly log: MemoryLog) {}

  /** The next message for a subscriber of this group, with its delivery count; undefined when none is ready. */
  take(): { message: StoredMessage; deliveries: number } | undefined {
    // Given-back messages first, oldest first, so a released aggregate resumes before its later events.
    while (this.redeliver.length > 0) {
      const claim = this.redeliver.shift()!
      const message = this.log.get(claim.seq)
      if (!message) continue
      const deliveries = claim.deliveries + 1
      this.deliveries.set(claim.seq, deliveries)
      return { message, deliveries }
    }
    const message = this.log.at(this.cursor)
    if (!message) return undefined
    this.cursor = message.seq + 1
    this.deliveries.set(message.seq, 1)
    return { message, deliveries: 1 }
  }

  ack(seq: number): void {
    this.deliveries.delete(seq)
  }

  /** Puts unsettled messages back so the next `take` of any subscriber returns them. */
  release(seqs: number[]): void {
    for (const seq of seqs) {
      const deliveries = this.deliveries.get(seq)
      if (deliveries === undefined) continue
      this.deliveries.delete(seq)
      this.redeliver.push({ seq, deliveries })
    }
    this.redeliver.sort((a, b) => a.seq - b.seq)
    this.wake()
  }

  /** Resolves at the next append or release (or after `ms`, so a closing reader is never stuck). */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }
}
