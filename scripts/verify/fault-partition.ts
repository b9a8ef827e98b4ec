import type { PartitionProxy } from '../../test/support/services/index.js'
import type { InstanceLinks } from './links.js'

/** What a partition fault returns to the scheduler (the shape of faults.ts's injections). */
interface Cut {
  target: string
  note: string
  heal(): Promise<void>
}

/**
 * A partition between one instance and one kind of server: every connection of that instance to it is
 * blackholed both ways (nothing closed, nothing answered), while the other instances keep their links. The heal
 * lets what was held through, as TCP would after a partition shorter than its retransmission give-up.
 */
export function partition(
  links: ReadonlyMap<string, InstanceLinks>,
  server: 'redis' | 'pg' | 'nats',
  candidates: readonly string[],
  pick: (names: string[]) => string,
): () => Promise<Cut> {
  return async () => {
    const target = pick([...candidates])
    const own = links.get(target)!
    const proxies: PartitionProxy[] = server === 'pg' ? own.pg : [own[server]!]
    for (const proxy of proxies) proxy.set('blackhole')
    const what = { redis: 'Redis', pg: 'every PostgreSQL server', nats: 'NATS' }[server]
    return {
      target,
      note: `${what} blackholed both ways for ${target} alone (${proxies.length} link${proxies.length > 1 ? 's' : ''})`,
      heal: async () => {
        for (const proxy of proxies) proxy.heal()
      },
    }
  }
}
