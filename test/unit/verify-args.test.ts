import { describe, expect, it } from 'vitest'
import { FAULTS, MIN_SLOT_S, parseVerifyArgs, VerifyUsageError } from '../../scripts/verify/args.js'
import { planFaults } from '../../scripts/verify/faults.js'

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
  it('takes --faults all as every fault, and none or nothing as no fault', () => {
    expect(parseVerifyArgs(['--faults', 'all', '--duration', '300']).faults).toEqual([...FAULTS])
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

  it('answers an unknown option or a missing value in one line', () => {
    expect(usage(['--fault', 'all'])).toMatch(
      /^invalid options for npm run verify: arguments: Unknown option '--fault'.*expects --duration/,
    )
    expect(usage(['--faults'])).toContain("'--faults")
  })

  it('refuses a duration that cannot hold the faults listed, saying the minimum', () => {
    expect(usage(['--faults', 'all', '--duration', '40'])).toContain(
      `at least ${FAULTS.length * MIN_SLOT_S} s for ${FAULTS.length} faults`,
    )
    const enough = String(Math.ceil(FAULTS.length * MIN_SLOT_S))
    expect(parseVerifyArgs(['--faults', 'all', '--duration', enough]).duration).toBe(Number(enough))
  })

  it('takes a rate mode: max or a target, with more clients by default', () => {
    expect(parseVerifyArgs(['--rate', 'max'])).toMatchObject({ rate: 'max', clients: 16 })
    expect(parseVerifyArgs(['--rate', '1500', '--clients', '4'])).toMatchObject({ rate: 1500, clients: 4 })
    expect(parseVerifyArgs([])).toMatchObject({ rate: undefined, clients: 8 })
  })
})

describe('verify fault plan', () => {
  it('schedules every fault listed in a run of the minimum length, in order', () => {
    const plan = planFaults(FAULTS.length * MIN_SLOT_S * 1000, FAULTS)
    expect(plan.map((p) => p.fault)).toEqual([...FAULTS])
    for (const p of plan) expect(p.healMs).toBeGreaterThan(p.startMs)
    expect(plan.at(-1)!.healMs).toBeLessThan(FAULTS.length * MIN_SLOT_S * 1000)
  })

  it('schedules every fault in the shortest run that holds them all, and repeats them in a long run', () => {
    const shortest = FAULTS.length * MIN_SLOT_S * 1000
    expect(new Set(planFaults(shortest, FAULTS).map((p) => p.fault)).size).toBe(FAULTS.length)
    const long = planFaults(600_000, FAULTS)
    expect(long).toHaveLength(20)
    expect(long.filter((p) => p.fault === 'redis-latency')).toHaveLength(2)
  })
})
