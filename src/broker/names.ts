import { InvalidInputError } from '../errors.js'

// Topic and group names become NATS stream, subject and consumer names and Redis keys: keeping them to one
// safe alphabet means every adapter accepts the same names and no name needs escaping.
const NAME = /^[A-Za-z0-9_-]{1,64}$/

/** Checks a topic or group name. @throws InvalidInputError for anything but 1-64 of `A-Z a-z 0-9 _ -`. */
export function checkName(kind: 'topic' | 'group', name: string): void {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidInputError(`${kind} must be 1-64 characters of A-Z, a-z, 0-9, _ and -`, { [kind]: name })
  }
}
