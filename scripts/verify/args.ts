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
  'partition-redis',
  'partition-pg',
  'partition-nats',
  'redis-failover',
  'primary-failover',
  'foreign-write',
] as const
export type FaultName = (typeof FAULTS)[number]

/** Which Redis the shop runs on: one server (behind the latency proxy) or a Cluster with a replica per master. */
export const REDIS_MODES = ['single', 'cluster'] as const
export type RedisMode = (typeof REDIS_MODES)[number]
/** Faults that need one Redis server (its pub/sub clients, its process, the proxy in front of it)... */
const SINGLE_ONLY: readonly FaultName[] = ['pubsub-kill', 'redis-restart', 'redis-latency', 'partition-redis']
/** ...and those that need the Cluster. `all` means every fault the chosen Redis supports. */
const CLUSTER_ONLY: readonly FaultName[] = ['redis-failover']

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
  /** `--redis single|cluster`: the Redis under the shop. @default 'single' */
  redis: RedisMode
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

function faultList(text: string | undefined, redis: RedisMode): FaultName[] {
  const accepted = `all, none, or a comma-separated list of ${FAULTS.join(', ')}`
  if (text === undefined || text.trim() === '' || text.trim() === 'none') return []
  const other = redis === 'cluster' ? SINGLE_ONLY : CLUSTER_ONLY
  if (text.trim() === 'all') return FAULTS.filter((fault) => !other.includes(fault))
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const unknown = names.filter((n) => !(FAULTS as readonly string[]).includes(n))
  if (unknown.length > 0) bad('faults', unknown.join(','), accepted)
  const misplaced = names.filter((n) => other.includes(n as FaultName))
  if (misplaced.length > 0) {
    bad(
      'faults',
      misplaced.join(','),
      redis === 'cluster'
        ? 'faults a Redis Cluster can take (pubsub-kill, redis-restart, redis-latency need --redis single)'
        : 'faults one Redis server can take (redis-failover needs --redis cluster)',
    )
  }
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
 * `--duration S --faults LIST --seed N [--out DIR] [--instances N] [--clients N] [--products N] [--rate R]
 * [--redis single|cluster]`.
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
        ['duration', 'faults', 'seed', 'out', 'instances', 'clients', 'products', 'rate', 'redis'].map(
          (name) => [name, { type: 'string' as const }],
        ),
      ),
    }))
  } catch (error) {
    // node's own message names the option; say what is accepted instead of its hint about '--'.
    const message = (error as Error).message.split('.')[0]
    throw new VerifyUsageError('npm run verify', [
      {
        option: 'arguments',
        message: `${message}; expects --duration, --faults, --seed, --out, --instances, --clients, --products, --rate, --redis, each with a value`,
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
  const redis = values.redis ?? 'single'
  if (!(REDIS_MODES as readonly string[]).includes(redis)) bad('redis', redis, REDIS_MODES.join(' or '))
  const faults = faultList(values.faults, redis as RedisMode)
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
    redis: redis as RedisMode,
  }
}
