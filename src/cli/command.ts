import type { Shards } from '../db/index.js'
import type { CliConfig } from './config.js'
import type { Output } from './output.js'

/** A flag of one command, as node:util parseArgs takes it, with its help line. */
export interface Flag {
  type: 'string' | 'boolean'
  multiple?: boolean
  short?: string
  description: string
}

/** What a command gets: its arguments and flags, the resolved config, the output, and its connections. */
export interface Context {
  args: string[]
  flags: Record<string, string | boolean | string[] | undefined>
  config: CliConfig
  out: Output
  /** The shards of the config, connected on first use and closed when the command ends. */
  shards(): Promise<Shards>
  /** Registers cleanup run when the command ends (in reverse order). */
  defer(close: () => Promise<void>): void
  /** Aborted on SIGTERM / SIGINT: long-running commands stop gracefully. */
  signal: AbortSignal
}

export interface Command {
  /** `'outbox redrive'`: the words that select it. */
  name: string
  /** `<id>`: the positional arguments, for the usage line. */
  usage?: string
  summary: string
  /** More help text, shown by `--help`. */
  details?: string
  flags?: Record<string, Flag>
  /** Exactly this many positional arguments. @default 0 */
  args?: number
  run(context: Context): Promise<number | undefined>
}

/** A string flag's value, or undefined. */
export function text(flags: Context['flags'], name: string): string | undefined {
  const value = flags[name]
  return typeof value === 'string' ? value : undefined
}
