import { describe, expect, it } from 'vitest'
import { FAULTS, MIN_SLOT_S, parseVerifyArgs, VerifyUsageError } from '../../scripts/verify/args.js'
import { planFaults } from '../../scripts/verify/faults.js'

/** `--faults all` on one Redis: every fault but the Cluster's. */
const SINGLE = FAULTS.filter((fault) => fault !== 'redis-failover')

const usage = (argv: string[]) => {
  try {
    parseVerifyArgs(argv)
  } catch (error) {
    expect(error).toBeInstanceOf(VerifyUsageError)
    return (error as VerifyUsageError).message
  }
  throw new Error(`accepted: ${argv.join(' ')}`)
}

describe('verify arguments', () => {
  it('takes --faults all as every fault the Redis supports, and none or nothing as no fault', () => {
    expect(parseVerifyArgs(['--faults', 'all', '--duration', '100']).faults).toEqual(SINGLE)
    expect(parseVerifyArgs(['--faults', 'all', '--redis', 'cluster', '--duration', '100']).faults).toEqual(
      FAULTS.filter(
        (fault) => !['pubsub-kill', 'redis-restart', 'redis-latency', 'partition-redis'].includes(fault),
      ),
    )
    expect(parseVerifyArgs(['--faults', 'none']).faults).toEqual([])
    expect(parseVerifyArgs([]).faults).toEqual([])
    expect(parseVerifyArgs(['--faults', 'redis-latency, nats-stop']).faults).toEqual([
      'redis-latency',
      'nats-stop',
    ])
  })

  it('answers a typo in one line naming what was wrong and what is accepted', () => {
    const message = usage(['--faults', 'pubsub-kil,nats-stop'])
    expect(message).not.toContain('\n')
    expect(message).toContain('--faults')
    expect(message).toContain('"pubsub-kil"')
    expect(message).toContain('all, none, or a comma-separated list of pubsub-kill')
    expect(usage(['--seed', 'x'])).toMatch(/--seed: expects an integer from 0 to \d+ \(got "x"\)/)
    expect(usage(['--duration', '0'])).toContain('--duration: expects seconds')
    expect(usage(['--rate', 'fast'])).toContain("--rate: expects 'max' or a target")
    expect(usage(['--clients', '100'])).toContain('from 1 to 64')
  })

  it('refuses in one line a fault the chosen Redis cannot take', () => {
    const single = usage(['--faults', 'redis-failover'])
    expect(single).not.toContain('\n')
    expect(single).toContain('redis-failover needs --redis cluster')
    expect(usage(['--faults', 'redis-latency', '--redis', 'cluster'])).toContain('need --redis single')
    expect(usage(['--redis', 'sentinel'])).toContain('--redis: expects single or cluster')
    expect(parseVerifyArgs(['--faults', 'redis-failover', '--redis', 'cluster'])).toMatchObject({
      faults: ['redis-failover'],
      redis: 'cluster',
    })
  })

  it('answers an unknown option or a missing value in one line', () => {
    expect(usage(['--fault', 'all'])).toMatch(
      /^invalid options for npm run verify: arguments: Unknown option '--fault'.*expects --duration/,
    )
    expect(usage(['--faults'])).toContain("'--faults")
  })

  it('refuses a duration that cannot hold the faults listed, saying the minimum', () => {
    expect(usage(['--faults', 'all', '--duration', '40'])).toContain(
      `at least ${SINGLE.length * MIN_SLOT_S} s for ${SINGLE.length} faults`,
    )
    expect(parseVerifyArgs(['--faults', 'all', '--duration', '100']).duration).toBe(100)
  })

  it('takes a rate mode: max or a target, with more clients by default', () => {
    expect(parseVerifyArgs(['--rate', 'max'])).toMatchObject({ rate: 'max', clients: 16 })
    expect(parseVerifyArgs(['--rate', '1500', '--clients', '4'])).toMatchObject({ rate: 1500, clients: 4 })
    expect(parseVerifyArgs([])).toMatchObject({ rate: undefined, clients: 8 })
  })
})

describe('verify fault plan', () => {
  it('schedules every fault listed in a run of the minimum length, in order', () => {
    const plan = planFaults(SINGLE.length * MIN_SLOT_S * 1000, SINGLE)
    expect(plan.map((p) => p.fault)).toEqual(SINGLE)
    for (const p of plan) expect(p.healMs).toBeGreaterThan(p.startMs)
    expect(plan.at(-1)!.healMs).toBeLessThan(SINGLE.length * MIN_SLOT_S * 1000)
  })

  it('schedules every fault in a 100 s run with all of them, and repeats them in a long run', () => {
    expect(new Set(planFaults(100_000, SINGLE).map((p) => p.fault)).size).toBe(SINGLE.length)
    const long = planFaults(600_000, SINGLE)
    expect(long).toHaveLength(20)
    expect(long.filter((p) => p.fault === 'pubsub-kill')).toHaveLength(2)
  })
})
