import { ConcordError } from '../errors.js'

/** A command line the CLI cannot run: an unknown command or flag, a missing argument. Exit code 2. */
export class CliUsageError extends ConcordError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('E_CLI_USAGE', message, { context })
  }
}

/** The configuration (flags, environment, config file) is missing something a command needs, or is malformed. */
export class CliConfigError extends ConcordError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('E_CLI_CONFIG', message, { context })
  }
}
