import { ConcordError } from '../errors.js'

/** A bus message could not be handed to the transport (disconnected, timed out). Receivers will see a gap. */
export class BusPublishError extends ConcordError {
  constructor(bus: string, channel: string, cause?: unknown) {
    super('E_BUS_PUBLISH_FAILED', `${bus} bus could not publish on ${channel}`, {
      context: { bus, channel },
      cause,
    })
  }
}
