import { InvalidInputError } from '../errors.js'

/** Channel names are identifiers and cannot be parameters, so only plain names are accepted, quoted. */
export function quoteChannel(channel: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(channel)) {
    throw new InvalidInputError(
      `a channel name must match [A-Za-z_][A-Za-z0-9_]*, got ${JSON.stringify(channel)}`,
      {
        channel,
      },
    )
  }
  return `"${channel}"`
}
