import type { Injection } from './faults.js'
import type { System } from './launch.js'

/**
 * `redis-failover` (`--redis cluster` only; args refuse it on one Redis): SIGKILL of a Redis Cluster master, whose
 * replica is promoted after the node timeout (1 s) and an election; the injection resolves once it is. Heal: the
 * killed node starts again empty and rejoins as the new master's replica (the cluster is back to a replica per
 * master, so the next failover finds one).
 */
export async function redisFailover(system: System, pick: (names: string[]) => string): Promise<Injection> {
  const cluster = system.cluster!
  const victim = Number(pick((await cluster.masterPorts()).map(String)))
  const started = Date.now()
  const promoted = await cluster.killMaster(victim)
  return {
    target: `redis:${victim}`,
    note: `SIGKILL of master ${victim}; replica ${promoted} promoted after ${Date.now() - started} ms; restarted as a replica`,
    heal: () => cluster.restartNode(victim),
  }
}
