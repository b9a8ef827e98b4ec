import type { BusMessage } from './bus.js'

/**
 * Publishes at once when idle; while a publish is in flight, merges what arrives into one next message. Low load
 * gets one round trip of latency, high load gets one message per round trip instead of one per invalidation.
 */
export class Batcher {
  private inFlight = false
  private keys = new Set<string>()
  private tags = new Set<string>()
  private all = false
  private waiting: { resolve(): void; reject(error: unknown): void }[] = []

  constructor(private readonly send: (message: BusMessage) => Promise<void>) {}

  /** Nothing in flight and nothing waiting. */
  get idle(): boolean {
    return !this.inFlight && this.waiting.length === 0
  }

  publish(message: BusMessage): Promise<void> {
    if (!this.inFlight) return this.run(message)
    for (const key of message.keys ?? []) this.keys.add(key)
    for (const tag of message.tags ?? []) this.tags.add(tag)
    if (message.all) this.all = true
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }))
  }

  private async run(message: BusMessage): Promise<void> {
    this.inFlight = true
    try {
      await this.send(message)
    } finally {
      this.inFlight = false
      if (this.waiting.length > 0) this.flush()
    }
  }

  private flush(): void {
    const waiting = this.waiting
    const message: BusMessage = this.all
      ? { all: true }
      : {
          ...(this.keys.size > 0 && { keys: [...this.keys] }),
          ...(this.tags.size > 0 && { tags: [...this.tags] }),
        }
    this.waiting = []
    this.keys = new Set()
    this.tags = new Set()
    this.all = false
    this.run(message).then(
      () => {
        for (const w of waiting) w.resolve()
      },
      (error) => {
        for (const w of waiting) w.reject(error)
      },
    )
  }
}
