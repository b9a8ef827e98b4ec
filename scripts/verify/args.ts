import { parseArgs } from 'node:util'
import { z } from 'zod'

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
] as const
export type FaultName = (typeof FAULTS)[number]

const schema = z.object({
  duration: z.coerce
    .number()
    .positive()
    .max(24 * 3600)
    .default(60),
  faults: z
    .string()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(FAULTS))),
  seed: z.coerce.number().int().nonnegative().default(1),
  out: z.string().default('.'),
  instances: z.coerce.number().int().min(2).max(4).default(2),
  clients: z.coerce.number().int().min(1).max(64).default(8),
  products: z.coerce.number().int().min(10).max(100).default(100),
})

/** The parsed command line of `npm run verify`. */
export type VerifyArgs = z.infer<typeof schema>

/**
 * `--duration S --faults LIST --seed N [--out DIR] [--instances N] [--clients N] [--products N]`.
 * Defaults: 60 s, no faults, seed 1, the cwd, 2 instances per service, 8 clients, products 1..100.
 */
export function parseVerifyArgs(argv: string[]): VerifyArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      faults: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      instances: { type: 'string' },
      clients: { type: 'string' },
      products: { type: 'string' },
    },
  })
  return schema.parse(values)
}
