import type { System } from './launch.js'

/**
 * `primary-failover`: the primary of one of the shop's shard servers is SIGKILLed and its replica promoted
 * (`pg_ctl promote`); what it had not streamed is lost, as asynchronous replication allows. The shop lists every
 * node of a shard (`nodes`), so its instances find the new primary themselves. The search database lives on the
 * first server, which is never chosen. Heal: a new replica cloned from the new primary, on the old primary's port.
 */
export async function injectPrimaryFailover(
  system: System,
  random: () => number,
): Promise<{ target: string; note: string; heal(): Promise<void> }> {
  // Server i holds shard i's database (server 0 the search database too).
  const shard = 1 + Math.floor(random() * (system.postgres.length - 1))
  const pair = system.postgres[shard]!
  const database = new URL(system.shardUrls[shard]!).pathname.slice(1)
  const { primary, old } = await pair.promote({ oldPrimary: 'kill' })
  // The invariants and the checker read the shard where its primary now is.
  system.shardUrls[shard] = primary.url(database)
  return {
    target: `shard ${shard}`,
    note: `primary :${old.port} killed, replica :${primary.port} promoted`,
    heal: async () => {
      await pair.startReplica()
    },
  }
}
