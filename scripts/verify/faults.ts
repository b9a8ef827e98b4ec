import { type FaultName, MIN_SLOT_S } from './args.js'
import { foreignWrite } from './fault-foreign-write.js'
import { partition } from './fault-partition.js'
import { injectPrimaryFailover } from './fault-primary-failover.js'
import { redisFailover } from './fault-redis-failover.js'
import type { FaultWindow, History } from './history.js'
import { call, sleep } from './http.js'
import type { System } from './launch.js'
import { type Copies, type convergenceSampler, lookAtCopies } from './probes.js'

/** One planned fault: injected `startMs` after the load began, healed at `healMs`. */
export interface PlannedFault {
  fault: FaultName
  startMs: number
  healMs: number
}

/**
 * Fault, heal, repeat: the run is cut into slots, one fault per slot in the order given, cycling. In each
 * slot the first quarter is quiet, the fault holds until 60 %, and the rest is recovery. A slot lasts
 * duration / faults, between MIN_SLOT_S and 30 s, so every fault listed gets a slot in any run of at least
 * MIN_SLOT_S per fault (args refuses shorter ones) and long runs repeat them.
 */
export function planFaults(durationMs: number, faults: readonly FaultName[]): PlannedFault[] {
  if (faults.length === 0) return []
  const slot = Math.min(30_000, Math.max(MIN_SLOT_S * 1000, durationMs / faults.length))
  const slots = Math.max(faults.length, Math.floor((durationMs + 1) / slot))
  const plan: PlannedFault[] = []
  for (let i = 0; i < slots; i++) {
    plan.push({
      fault: faults[i % faults.length]!,
      startMs: i * slot + slot * 0.25,
      healMs: i * slot + slot * 0.6,
    })
  }
  return plan
}

/** What a fault does; `inject` returns what heals it, and a note for the report. */
export interface Injection {
  target?: string
  note: string
  heal(): Promise<void>
}

type Sampler = ReturnType<typeof convergenceSampler>

function injectors(
  system: System,
  history: History,
  copies: Copies,
  sampler: Sampler,
  random: () => number,
  pick: (names: string[]) => string,
) {
  const { shop } = system
  const kill = async (name: string, note: string): Promise<Injection> => {
    shop.processes.get(name)?.kill('SIGKILL')
    return { target: name, note, heal: () => shop.restart(name) }
  }
  return {
    'pubsub-kill': async (): Promise<Injection> => {
      let killed = await system.redis!.clientKill({ type: 'pubsub' })
      // Keep the bus down for the whole window: the subscribers reconnect, so kill them again each second.
      const timer = setInterval(() => {
        void system.redis!.clientKill({ type: 'pubsub' }).then(
          (n) => {
            killed += n
          },
          () => undefined,
        )
      }, 1000)
      const injection: Injection = {
        note: 'CLIENT KILL TYPE pubsub every second',
        async heal() {
          clearInterval(timer)
          injection.note = `CLIENT KILL TYPE pubsub every second (${killed} connections killed)`
        },
      }
      return injection
    },
    'redis-restart': async (): Promise<Injection> => {
      await system.redis!.kill()
      return {
        note: 'SIGKILL redis-server; restarted empty (no persistence)',
        heal: () => system.redis!.restart(),
      }
    },
    'replica-pause': async (): Promise<Injection> => {
      await Promise.all(system.postgres.map((p) => p.pauseReplay()))
      return {
        note: 'pg_wal_replay_pause() on every shard replica',
        heal: async () => {
          await Promise.all(system.postgres.map((p) => p.resumeReplay()))
        },
      }
    },
    'writer-kill': async (): Promise<Injection> => {
      const name = pick([...copies.productInstances])
      const other = copies.productInstances.find((n) => n !== name)!
      const key = 1 + Math.floor(random() * 5)
      await call(`${shop.urls.get(name)}/internal/faults`, {
        method: 'POST',
        body: { killAfterCommit: true },
      })
      const write = await call(`${shop.baseUrl}/products/${key}`, {
        method: 'PUT',
        body: { price: 42 },
        headers: { 'x-instance': name },
      })
      // The instance died after its commit, before its own invalidation: the truth is on the primary; the
      // other instances' relays must deliver the durable invalidation.
      const truth = await call<{ version: number }>(`${shop.urls.get(other)}/internal/products/${key}/source`)
      const died = performance.now()
      if (truth.body?.version !== undefined) void sampler.trace(key, truth.body.version, died, 'writer-kill')
      return {
        target: name,
        note: `armed killAfterCommit; PUT product ${key} answered ${write.status}; primary at v${truth.body?.version}`,
        heal: () => shop.restart(name),
      }
    },
    'relay-kill': async () =>
      kill(pick([...copies.productInstances]), 'SIGKILL a product instance (relays run inside them)'),
    'nats-stop': async (): Promise<Injection> => {
      await system.nats.stop()
      return {
        note: 'nats-server stopped (SIGTERM); restarted on the same store',
        heal: () => system.nats.restart(),
      }
    },
    'instance-kill': async () =>
      kill(
        pick([...copies.orderInstances, ...copies.searchInstances, 'member-1']),
        'SIGKILL a service instance',
      ),
    'redis-latency': async (): Promise<Injection> => {
      for (const links of system.links.values()) links.redis!.set('slow', { delayMs: 100 })
      return {
        note: '+100 ms each way between the services and Redis (TCP proxy)',
        heal: async () => {
          for (const links of system.links.values()) links.redis!.heal()
        },
      }
    },
    'partition-redis': partition(
      system.links,
      'redis',
      [...copies.productInstances, ...copies.orderInstances],
      pick,
    ),
    'partition-pg': partition(
      system.links,
      'pg',
      [...copies.productInstances, ...copies.orderInstances, ...copies.searchInstances],
      pick,
    ),
    'partition-nats': partition(
      system.links,
      'nats',
      [...copies.productInstances, ...copies.orderInstances, ...copies.searchInstances],
      pick,
    ),
    'redis-failover': () => redisFailover(system, pick),
    'primary-failover': () => injectPrimaryFailover(system, random),
    'foreign-write': foreignWrite(system, history, sampler, copies.productInstances, random),
  } satisfies Record<FaultName, () => Promise<Injection>>
}

/**
 * Time from a heal until every copy of the keys written during the fault shows the last acknowledged
 * version of each (at most 20 keys, the most recently written; the 5 hottest when nothing was written).
 */
async function healConvergence(
  copies: Copies,
  history: History,
  window: FaultWindow,
  deadlineMs: number,
): Promise<{ ms?: number; keys: number }> {
  const targets = new Map<number, number>()
  for (const op of history.ops) {
    if (
      (op.kind === 'write' || op.kind === 'insert') &&
      op.ok &&
      op.version !== undefined &&
      op.ack <= window.end
    ) {
      if (op.ack >= window.start || op.key <= 5)
        targets.set(op.key, Math.max(targets.get(op.key) ?? 0, op.version))
    }
  }
  const keys = [...targets.entries()].slice(-20)
  const pending = new Map(keys)
  while (pending.size > 0) {
    // A product deleted meanwhile shows no version any more: the resurrection checks judge it.
    for (const key of pending.keys()) if (history.deleted.has(key)) pending.delete(key)
    if (pending.size === 0) break
    if (performance.now() - window.end > deadlineMs) return { keys: keys.length }
    await Promise.all(
      [...pending].map(async ([key, version]) => {
        const seen = await lookAtCopies(copies, key, version)
        if ([...seen.values()].every((look) => look.ok)) pending.delete(key)
      }),
    )
    if (pending.size > 0) await sleep(50)
  }
  return { ms: performance.now() - window.end, keys: keys.length }
}

/**
 * Runs the plan against the system: injects each fault at its time, heals it at its time, records the
 * window in the history and measures convergence after the heal. A heal that takes long (an instance
 * restart on a busy machine) shifts the later faults instead of dropping them: `healed` resolves once every
 * planned fault has been injected and healed, and the caller keeps the load running until then. `done`
 * resolves when the convergence after each heal has been measured too; `signal` stops injecting new ones.
 */
export function runFaults(
  plan: readonly PlannedFault[],
  ctx: {
    system: System
    copies: Copies
    history: History
    sampler: Sampler
    random: () => number
    signal: AbortSignal
    onEvent(text: string): void
  },
): { healed: Promise<void>; done: Promise<void> } {
  const { system, copies, history, sampler, random, signal, onEvent } = ctx
  const pick = (names: string[]) => names[Math.floor(random() * names.length)]!
  const inject = injectors(system, history, copies, sampler, random, pick)
  const measuring: Promise<void>[] = []
  const healed = (async () => {
    let previousEnd = 0
    for (const planned of plan) {
      // Keep a quiet gap after the previous heal, and the planned hold, rather than cutting a fault short.
      const holdMs = planned.healMs - planned.startMs
      const startAt = Math.max(history.origin + planned.startMs, previousEnd + 2000)
      const wait = startAt - performance.now()
      if (wait > 0) await sleep(wait)
      if (signal.aborted) break
      const start = performance.now()
      history.faultStarted(start, planned.fault)
      let injection: Injection
      try {
        injection = await inject[planned.fault]()
      } catch (error) {
        onEvent(`${planned.fault}: injection failed: ${(error as Error).message}`)
        history.faultEnded({
          fault: planned.fault,
          start,
          end: performance.now(),
          note: `injection failed: ${(error as Error).message}`,
        })
        previousEnd = performance.now()
        continue
      }
      onEvent(`fault ${planned.fault}${injection.target ? ` on ${injection.target}` : ''}`)
      const hold = start + holdMs - performance.now()
      if (hold > 0) await sleep(hold)
      try {
        await injection.heal()
      } catch (error) {
        injection.note += `; heal failed: ${(error as Error).message}`
      }
      const window: FaultWindow = {
        fault: planned.fault,
        target: injection.target,
        start,
        end: performance.now(),
        note: injection.note,
      }
      history.faultEnded(window)
      previousEnd = window.end
      onEvent(`healed ${planned.fault} after ${((window.end - start) / 1000).toFixed(1)} s`)
      measuring.push(
        healConvergence(copies, history, window, 10_000).then(({ ms, keys }) => {
          history.heals.push({ fault: planned.fault, heal: window.end, keys, ms })
        }),
      )
    }
  })()
  return { healed, done: healed.then(() => Promise.all(measuring)).then(() => undefined) }
}
