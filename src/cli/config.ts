import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { z } from 'zod'
import { CliConfigError } from './errors.js'

/**
 * What the CLI connects to. One precedence, key by key: a flag beats an environment variable, which beats the
 * config file (`--config <file>`, else `$CONCORD_CONFIG`, else `./concord.config.json` when present), which
 * beats the default. A key given at a higher level replaces the lower one whole (a list is not merged).
 *
 * | key            | flag                | environment                             | config file             |
 * | -------------- | ------------------- | --------------------------------------- | ----------------------- |
 * | shards         | `--shard <url>` (repeat) | `CONCORD_SHARDS` (URLs, comma-separated) | `shards: [{ primary, replicas? }]` |
 * | NATS servers   | `--nats <url>`      | `CONCORD_NATS_URL`                      | `nats: { servers, prefix? }` |
 * | admin token    | `--token <t>`       | `CONCORD_ADMIN_TOKEN`                   | `admin: { token }`      |
 * | admin port     | `--port <n>`        | `CONCORD_PORT`                          | `admin: { port, host? }` |
 * | invalidated caches | `--invalidate a,b` (relay) | `CONCORD_INVALIDATE` (comma-separated) | `invalidator: { caches }` |
 * | their Redis    | `--redis <url>` (relay) | `CONCORD_REDIS_URL`                 | `invalidator: { redis, tierPrefix?, busPrefix? }` |
 */
export interface CliConfig {
  shards?: { primary: string; replicas?: string[] }[]
  nats?: { servers: string | string[]; prefix?: string }
  admin?: { token?: string; port?: number; host?: string }
  /**
   * The relay process also runs the invalidator for these caches (by the names writers give `addInvalidation`),
   * on their Redis L2 tier and bus: the prefixes must be the application's (default those of
   * `createRedisTier` and `createRedisBus`).
   */
  invalidator?: { caches: string[]; redis: string; tierPrefix?: string; busPrefix?: string }
}

const url = z.string().min(1)
export const cliConfigSchema = z
  .object({
    shards: z
      .array(z.object({ primary: url, replicas: z.array(url).optional() }).strict())
      .min(1)
      .optional(),
    nats: z
      .object({ servers: z.union([url, z.array(url).min(1)]), prefix: z.string().optional() })
      .strict()
      .optional(),
    admin: z
      .object({
        token: z.string().optional(),
        port: z.number().int().min(0).max(65535).optional(),
        host: z.string().optional(),
      })
      .strict()
      .optional(),
    invalidator: z
      .object({
        caches: z.array(z.string().min(1)).min(1),
        redis: url,
        tierPrefix: z.string().optional(),
        busPrefix: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict()

/** The flags every command takes for its connections (see `CliConfig`). */
export const CONNECTION_FLAGS = {
  config: {
    type: 'string',
    description: 'config file (JSON); default $CONCORD_CONFIG or ./concord.config.json',
  },
  shard: {
    type: 'string',
    multiple: true,
    description: 'PostgreSQL URL of a shard primary, in shard order (repeat)',
  },
  nats: { type: 'string', description: 'NATS server URL' },
} as const

export interface ConfigInput {
  flags: {
    config?: string
    shard?: string[]
    nats?: string
    token?: string
    port?: string
    invalidate?: string
    redis?: string
  }
  env: Record<string, string | undefined>
  cwd: string
}

/** Resolves the configuration from flags, environment and file (in that precedence). */
export function loadConfig({ flags, env, cwd }: ConfigInput): CliConfig {
  const file = readConfigFile(flags.config ?? env.CONCORD_CONFIG, cwd)
  const config: CliConfig = { ...file }
  const shards = flags.shard ?? list(env.CONCORD_SHARDS)
  if (shards !== undefined && shards.length > 0) config.shards = shards.map((primary) => ({ primary }))
  const nats = flags.nats ?? env.CONCORD_NATS_URL
  if (nats) config.nats = { ...config.nats, servers: nats }
  const caches = list(flags.invalidate ?? env.CONCORD_INVALIDATE)
  const redis = flags.redis ?? env.CONCORD_REDIS_URL
  if (caches !== undefined || redis) {
    const invalidator = { ...config.invalidator } as Partial<NonNullable<CliConfig['invalidator']>>
    if (caches !== undefined) invalidator.caches = caches
    if (redis) invalidator.redis = redis
    if (invalidator.caches === undefined || invalidator.redis === undefined) {
      throw new CliConfigError(
        'the invalidator needs both its caches (--invalidate, CONCORD_INVALIDATE) and their Redis (--redis, CONCORD_REDIS_URL)',
      )
    }
    config.invalidator = invalidator as NonNullable<CliConfig['invalidator']>
  }
  const token = flags.token ?? env.CONCORD_ADMIN_TOKEN
  const port = flags.port ?? env.CONCORD_PORT
  if (token !== undefined || port !== undefined) {
    config.admin = { ...config.admin }
    if (token !== undefined) config.admin.token = token
    if (port !== undefined) config.admin.port = parsePort(port)
  }
  return config
}

/** The shards, or a one-line error saying how to give them. */
export function requireShards(config: CliConfig): NonNullable<CliConfig['shards']> {
  if (!config.shards?.length) {
    throw new CliConfigError(
      'no shards configured: pass --shard <postgres-url> (one per shard), set CONCORD_SHARDS, or list them in the config file',
    )
  }
  return config.shards
}

export function requireNats(config: CliConfig): NonNullable<CliConfig['nats']> {
  if (!config.nats) {
    throw new CliConfigError(
      'no broker configured: pass --nats <url>, set CONCORD_NATS_URL, or set nats in the config file',
    )
  }
  return config.nats
}

function readConfigFile(path: string | undefined, cwd: string): CliConfig {
  const chosen = path ?? (existsSync(resolve(cwd, 'concord.config.json')) ? 'concord.config.json' : undefined)
  if (chosen === undefined) return {}
  const full = resolve(cwd, chosen)
  let text: string
  try {
    text = readFileSync(full, 'utf8')
  } catch (error) {
    throw new CliConfigError(`cannot read config file ${full}: ${(error as Error).message}`, { path: full })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new CliConfigError(`config file ${full} is not JSON: ${(error as Error).message}`, { path: full })
  }
  const parsed = cliConfigSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new CliConfigError(`config file ${full}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, {
      path: full,
    })
  }
  return parsed.data
}

function list(text: string | undefined): string[] | undefined {
  if (text === undefined || text.trim() === '') return undefined
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean)
}

function parsePort(text: string): number {
  const port = Number(text)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliConfigError(`port must be an integer from 0 to 65535, got ${JSON.stringify(text)}`)
  }
  return port
}
