import { parseArgs } from 'node:util'
import type { Shards } from '../db/index.js'
import { ConcordError } from '../errors.js'
import type { Command, Context, Flag } from './command.js'
import { check } from './commands/check.js'
import { migrate } from './commands/migrate.js'
import {
  inboxDeadLetters,
  inboxRedrive,
  outboxDeadLetters,
  outboxDiscard,
  outboxRedrive,
  outboxStatus,
} from './commands/outbox.js'
import { relay } from './commands/relay.js'
import { sagasList, sagasResolve, sagasRetry, sagasShow } from './commands/sagas.js'
import { CONNECTION_FLAGS, loadConfig } from './config.js'
import { connectShards } from './connect.js'
import { CliUsageError } from './errors.js'
import { createOutput, type Io } from './output.js'

export const COMMANDS: readonly Command[] = [
  migrate,
  relay,
  outboxStatus,
  outboxDeadLetters,
  outboxRedrive,
  outboxDiscard,
  inboxDeadLetters,
  inboxRedrive,
  sagasList,
  sagasShow,
  sagasRetry,
  sagasResolve,
  check,
]

const GLOBAL_FLAGS: Record<string, Flag> = {
  ...CONNECTION_FLAGS,
  json: { type: 'boolean', description: 'print JSON instead of tables' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
}

const PRECEDENCE =
  'Configuration: a flag beats an environment variable (CONCORD_SHARDS, CONCORD_NATS_URL, CONCORD_ADMIN_TOKEN,\n' +
  'CONCORD_PORT), which beats the config file (--config, $CONCORD_CONFIG, or ./concord.config.json).'

export interface RunOptions extends Io {
  env?: Record<string, string | undefined>
  cwd?: string
  /** Aborts long-running commands (the bin wires SIGTERM and SIGINT to it). */
  signal?: AbortSignal
}

/**
 * Runs one `concord` command line and resolves to its exit code: 0 done, 1 the command failed (or `check`
 * found something), 2 the command line or configuration is wrong. Errors are one line on stderr.
 */
export async function run(argv: readonly string[], options: RunOptions): Promise<number> {
  const io: Io = { stdout: options.stdout, stderr: options.stderr }
  const cleanups: (() => Promise<void>)[] = []
  try {
    const found = findCommand(argv)
    if (found === undefined) {
      const wantsHelp = argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help'
      if (wantsHelp) {
        io.stdout(overview())
        return 0
      }
      const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `))
      if (group.length > 0 && (argv[1] === undefined || argv[1].startsWith('-'))) {
        io.stdout(overview(group))
        return argv[1] === '--help' || argv[1] === '-h' ? 0 : 2
      }
      throw new CliUsageError(
        `unknown command ${JSON.stringify(argv.slice(0, 2).join(' '))}; see concord --help`,
      )
    }
    const { command, rest } = found
    const flagSpecs = { ...GLOBAL_FLAGS, ...command.flags }
    let parsed: ReturnType<typeof parseArgs>
    try {
      parsed = parseArgs({
        args: [...rest],
        options: Object.fromEntries(
          Object.entries(flagSpecs).map(([name, f]) => [
            name,
            { type: f.type, ...(f.multiple && { multiple: true }), ...(f.short && { short: f.short }) },
          ]),
        ),
        allowPositionals: true,
        strict: true,
      })
    } catch (error) {
      throw new CliUsageError(
        `${(error as Error).message.split('\n')[0]}; see concord ${command.name} --help`,
      )
    }
    const flags = parsed.values as Context['flags']
    if (flags.help) {
      io.stdout(help(command, flagSpecs))
      return 0
    }
    const want = command.args ?? 0
    if (parsed.positionals.length !== want) {
      throw new CliUsageError(
        `${command.name} takes ${want === 0 ? 'no arguments' : command.usage}, got ${parsed.positionals.length}; see concord ${command.name} --help`,
      )
    }
    const config = loadConfig({
      flags: flags as Parameters<typeof loadConfig>[0]['flags'],
      env: options.env ?? process.env,
      cwd: options.cwd ?? process.cwd(),
    })
    let shards: Shards | undefined
    const context: Context = {
      args: parsed.positionals,
      flags,
      config,
      out: createOutput(io, flags.json === true),
      async shards() {
        if (shards === undefined) {
          const created = await connectShards(config)
          shards = created
          cleanups.push(() => created.close())
        }
        return shards
      },
      defer: (close) => cleanups.push(close),
      signal: options.signal ?? new AbortController().signal,
    }
    return (await command.run(context)) ?? 0
  } catch (error) {
    io.stderr(`concord: ${describe(error)}\n`)
    return error instanceof CliUsageError || (error as ConcordError)?.code === 'E_CLI_CONFIG' ? 2 : 1
  } finally {
    for (const close of cleanups.reverse()) {
      await close().catch((error: unknown) => io.stderr(`concord: while closing: ${describe(error)}\n`))
    }
  }
}

function findCommand(argv: readonly string[]): { command: Command; rest: readonly string[] } | undefined {
  const two = COMMANDS.find((c) => c.name === `${argv[0]} ${argv[1]}`)
  if (two) return { command: two, rest: argv.slice(2) }
  const one = COMMANDS.find((c) => c.name === argv[0])
  if (one) return { command: one, rest: argv.slice(1) }
  return undefined
}

/** One line: the message, and the code of a concord error. */
function describe(error: unknown): string {
  if (error instanceof ConcordError) return `${error.message} [${error.code}]`
  if (error instanceof Error) return error.message.split('\n')[0]!
  return String(error)
}

function overview(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((c) => `${c.name} ${c.usage ?? ''}`.length))
  const lines = commands.map((c) => `  ${`${c.name} ${c.usage ?? ''}`.padEnd(width)}  ${c.summary}`)
  return `Usage: concord <command> [flags]\n\nCommands:\n${lines.join('\n')}\n\nEach command takes --help. ${PRECEDENCE}\n`
}

function help(command: Command, flags: Record<string, Flag>): string {
  const names = Object.entries(flags).map(([name, f]) => {
    const short = f.short ? `-${f.short}, ` : ''
    return [`${short}--${name}${f.type === 'string' ? ' <value>' : ''}`, f.description] as const
  })
  const width = Math.max(...names.map(([n]) => n.length))
  return (
    `Usage: concord ${command.name}${command.usage ? ` ${command.usage}` : ''} [flags]\n\n${command.summary}\n` +
    `${command.details ? `\n${command.details}\n` : ''}\nFlags:\n` +
    `${names.map(([n, d]) => `  ${n.padEnd(width)}  ${d}`).join('\n')}\n\n${PRECEDENCE}\n`
  )
}
