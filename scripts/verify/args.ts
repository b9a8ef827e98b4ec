import { parseArgs } from 'node:util'
import { InvalidOptionsError } from 'concord/errors'

/** Every fault the scheduler knows, in the order. */
export const FAULTS = [
  'pubsub-kill',
  'redis-restart',
  'replica-pause',
  'writer-kill',
  'relay-kill',
  'nats-stop',
  'instance-kill',
  'redis-latency',
  'primary-failover',
] as const
export type FaultName = (typeof FAULTS)[number]

/**
 * The shortest slot a fault gets (quiet, fault, recovery): a run must last at least this per fault listed,
 * so `--faults all` needs 60 s. Shorter slots leave too little recovery for an instance restart.
 */
export const MIN_SLOT_S = 7.5

/** The parsed command line of `npm run verify`. */
export interface VerifyArgs {
  duration: number
  faults: FaultName[]
  seed: number
  out: string
  instances: number
  clients: number
  products: number
  /** Paced clients (undefined, the default), clients that never pause ('max'), or a target of operations/s. */
  rate: 'max' | number | undefined
}

const DEFAULTS = { duration: 60, seed: 1, out: '.', instances: 2, products: 100 } as const
/** Paced clients are few; clients that do not pause need more of them to keep the shop busy. */
const DEFAULT_CLIENTS = { paced: 8, rate: 16 }

/** A bad command line: the message says what was wrong and what is accepted, in one line. */
export class VerifyUsageError extends InvalidOptionsError {}

const bad = (option: string, value: unknown, accepted: string): never => {
  throw new VerifyUsageError('npm run verify', [
    { option: `--${option}`, message: `expects ${accepted}`, value },
  ])
}

function integer(
  option: string,
  text: string | undefined,
  min: number,
  max: number,
  fallback: number,
): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    bad(option, text, `an integer from ${min} to ${max}`)
  return n
}

function faultList(text: string | undefined): FaultName[] {
  const accepted = `all, none, or a comma-separated list of ${FAULTS.join(', ')}`
  if (text === undefined || text.trim() === '' || text.trim() === 'none') return []
  if (text.trim() === 'all') return [...FAULTS]
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const unknown = names.filter((n) => !(FAULTS as readonly string[]).includes(n))
  if (unknown.length > 0) bad('faults', unknown.join(','), accepted)
  return names as FaultName[]
}

function rate(text: string | undefined): VerifyArgs['rate'] {
  if (text === undefined) return undefined
  if (text.trim() === 'max') return 'max'
  const n = Number(text)
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1_000_000)
    bad('rate', text, "'max' or a target of operations per second from 1 to 1000000")
  return n
}

/**
 * `--duration S --faults LIST --seed N [--out DIR] [--instances N] [--clients N] [--products N] [--rate R]`.
 * Defaults: 60 s, no faults, seed 1, the cwd, 2 instances per service, 8 clients (16 with --rate),
 * products 1..100, paced clients. Anything else is a `VerifyUsageError` naming the option and what it accepts.
 */
export function parseVerifyArgs(argv: string[]): VerifyArgs {
  let values: Record<string, string | undefined>
  try {
    ;({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: Object.fromEntries(
        ['duration', 'faults', 'seed', 'out', 'instances', 'clients', 'products', 'rate'].map((name) => [
          name,
          { type: 'string' as const },
        ]),
      ),
    }))
  } catch (error) {
    // node's own message names the option; say what is accepted instead of its hint about '--'.
    const message = (error as Error).message.split('.')[0]
    throw new VerifyUsageError('npm run verify', [
      {
        option: 'arguments',
        message: `${message}; expects --duration, --faults, --seed, --out, --instances, --clients, --products, --rate, each with a value`,
        value: argv.join(' '),
      },
    ])
  }
  const duration = values.duration === undefined ? DEFAULTS.duration : Number(values.duration)
  if (
    values.duration !== undefined &&
    (values.duration.trim() === '' || !(duration > 0 && duration <= 86_400))
  )
    bad('duration', values.duration, 'seconds, a number above 0 and at most 86400')
  const faults = faultList(values.faults)
  const needed = faults.length * MIN_SLOT_S
  if (duration < needed)
    bad(
      'duration',
      values.duration ?? String(duration),
      `at least ${needed} s for ${faults.length} faults (${MIN_SLOT_S} s each)`,
    )
  const r = rate(values.rate)
  return {
    duration,
    faults,
    seed: integer('seed', values.seed, 0, 2 ** 31 - 1, 1),
    out: values.out === undefined || values.out === '' ? DEFAULTS.out : values.out,
    instances: integer('instances', values.instances, 2, 4, DEFAULTS.instances),
    clients: integer(
      'clients',
      values.clients,
      1,
      64,
      r === undefined ? DEFAULT_CLIENTS.paced : DEFAULT_CLIENTS.rate,
    ),
    products: integer('products', values.products, 10, 100, DEFAULTS.products),
    rate: r,
  }
}
