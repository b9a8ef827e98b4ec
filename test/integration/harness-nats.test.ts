import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type NatsServer, startNats, uniqueName } from '../support/services/index.js'

// Fault tests restart and kill the server, so they run on one of their own, not the shared one.
let server: NatsServer
const connections: NatsConnection[] = []
beforeAll(async () => {
  server = await startNats()
})
afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()))
  await server?.close()
})

async function open(): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url })
  connections.push(nc)
  return nc
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

describe('nats restart', () => {
  it('keeps JetStream streams and their messages across restart() and kill()', async () => {
    const stream = uniqueName('orders')
    const first = await open()
    const jsm = await jetstreamManager(first)
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
    await jetstream(first).publish(`${stream}.placed`, 'o1')
    await first.close()

    const { port, pid } = server
    await server.restart()
    expect(server.port).toBe(port)
    const afterRestart = await jetstreamManager(await open())
    expect((await afterRestart.streams.info(stream)).state.messages).toBe(1)
    expect((await afterRestart.streams.getMessage(stream, { seq: 1 }))?.string()).toBe('o1')

    const restartedPid = server.pid
    expect(restartedPid).not.toBe(pid)
    await server.kill()
    expect(gone(restartedPid)).toBe(true)
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toThrow()
    await server.restart()
    expect(server.port).toBe(port)
    const afterKill = await jetstreamManager(await open())
    expect((await afterKill.streams.info(stream)).state.messages).toBe(1)
  })
})
