import { createServer } from 'node:net'

export const LOOPBACK = '127.0.0.1'

/**
 * Asks the kernel for a free loopback port by binding port 0 and closing again. Another process can
 * take the port before the server binds it, so callers retry start-up on EADDRINUSE
 * (see `withPortRetry`).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, LOOPBACK, () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))))
    })
  })
}

/** Distinct free ports (the kernel may hand out the same one twice once the first is closed). */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < count) ports.add(await freePort())
  return [...ports]
}

/** Thrown by a start attempt whose log says the port was taken. */
export class PortInUseError extends Error {}

export function looksLikePortInUse(log: string): boolean {
  return /address already in use|EADDRINUSE|could not bind|Could not create server TCP listening socket/i.test(
    log,
  )
}

/** Runs `attempt` with fresh ports until it does not fail with PortInUseError (a lost race for a port). */
export async function withPortRetry<T>(attempt: () => Promise<T>, tries = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt()
    } catch (error) {
      if (!(error instanceof PortInUseError) || i >= tries) throw error
    }
  }
}
