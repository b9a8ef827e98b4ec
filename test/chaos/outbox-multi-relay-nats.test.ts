import { expect, it } from 'vitest'
import { multiRelayChaos } from '../support/multi-relay.js'

// Three relay processes on the same shards over NATS JetStream; one is SIGKILLed six times at seeded points
// (after its claim, halfway through a publish, after the publish and before the settle) and started again.
// CONCORD_CHAOS_SEED replays another schedule.
it('three relay processes over NATS, one SIGKILLed again and again: every effect once, in order', {
  timeout: 85_000,
}, async () => {
  const seed = Number(process.env.CONCORD_CHAOS_SEED ?? 15)
  const result = await multiRelayChaos('nats', { seed, kills: 6 })
  console.log(`multi-relay nats (seed ${seed}):`, JSON.stringify(result))
  expect(result.kills).toHaveLength(6)
})
