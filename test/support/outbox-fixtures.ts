import type { Shards } from '../../src/db/index.js'
import type { Outbox } from '../../src/outbox/index.js'
import { sleep } from './wait.js'

/** The outbox fixtures are published with the contract suites (concord/testing). */
export { outOfOrder, recordingBroker } from '../../src/testing/outbox-fixtures.js'

/**
 * Commits one outbox event every ~10 ms, round-robin over eight accounts with a version per account, until
 * `stop()`; `written` lists the event ids in commit order. For the broker-outage and partition tests.
 */
export function startAccountWriter(
  shards: Shards,
  outbox: Outbox,
): { written: string[]; stop(): Promise<void> } {
  const written: string[] = []
  const versions = new Map<string, number>()
  let writing = true
  const loop = (async () => {
    while (writing) {
      const id = `acc${written.length % 8}`
      const v = (versions.get(id) ?? 0) + 1
      versions.set(id, v)
      const { result } = await shards.withTransaction(id, (tx) =>
        outbox.add(tx, {
          aggregateType: 'account',
          aggregateId: id,
          aggregateVersion: v,
          type: 'account.moved',
          payload: { v },
        }),
      )
      written.push(result[0]!.id)
      await sleep(10)
    }
  })()
  return {
    written,
    async stop() {
      writing = false
      await loop
    },
  }
}
