import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RedisServer, startRedis } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// Fault tests restart and kill servers, so they run on one of their own, not the shared one.
let server: RedisServer
const clients: Redis[] = []
beforeAll(async () => {
  server = await startRedis()
})
afterAll(async () => {
  for (const client of clients) client.disconnect()
  await server?.close()
})

function client(options: { connectionName?: string } = {}): Redis {
  const redis = new Redis(server.port, server.host, { ...options, retryStrategy: () => 20 })
  // Connection errors are expected here: the tests kill connections and the server.
  redis.on('error', () => {})
  clients.push(redis)
  return redis
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

describe('redis restart', () => {
  it('loses the data, like a crash, and an ioredis client reconnects', async () => {
    const redis = client()
    await redis.set('k', 'v')
    await server.restart()
    await waitFor(async () => (await redis.ping()) === 'PONG', { what: 'ioredis to reconnect' })
    expect(await redis.get('k')).toBeNull()
  })
})

describe('redis clientKill', () => {
  it('kills the named connection only, and ioredis reconnects', async () => {
    const victim = client({ connectionName: 'victim' })
    const bystander = client({ connectionName: 'bystander' })
    const victimId = await victim.client('ID')
    const bystanderId = await bystander.client('ID')
    const closed = new Promise((resolve) => victim.once('close', resolve))

    expect(await server.clientKill({ name: 'victim' })).toBe(1)
    await closed
    expect(await victim.ping()).toBe('PONG')
    expect(await victim.client('ID')).not.toBe(victimId)
    expect(await bystander.client('ID')).toBe(bystanderId)
  })

  it('kills by type', async () => {
    const subscriber = client({ connectionName: 'sub' })
    await subscriber.subscribe('news')
    const normal = client()
    const normalId = await normal.client('ID')
    expect(await server.clientKill({ type: 'pubsub' })).toBe(1)
    expect(await normal.client('ID')).toBe(normalId)
    expect(await server.clientKill({ name: 'nobody' })).toBe(0)
  })
})

describe('redis kill', () => {
  it('SIGKILLs the server, and restart brings it back on the same port', async () => {
    const { pid, port } = server
    await server.kill()
    expect(gone(pid)).toBe(true)
    const probe = new Redis(port, server.host, { retryStrategy: () => null, maxRetriesPerRequest: 0 })
    probe.on('error', () => {})
    await expect(probe.ping()).rejects.toThrow()
    probe.disconnect()

    await server.restart()
    expect(server.port).toBe(port)
    expect(server.pid).not.toBe(pid)
    expect(await client().ping()).toBe('PONG')
  })
})

describe('redis password', () => {
  it('requires the password it was started with', async () => {
    const secured = await startRedis({ password: 's3cret' })
    try {
      const withPassword = new Redis(secured.port, secured.host, { password: 's3cret' })
      clients.push(withPassword)
      expect(await withPassword.ping()).toBe('PONG')
      const without = new Redis(secured.port, secured.host, { retryStrategy: () => null })
      without.on('error', () => {})
      clients.push(without)
      await expect(without.ping()).rejects.toThrow(/NOAUTH/)
      const named = new Redis(secured.port, secured.host, { password: 's3cret', connectionName: 'x' })
      clients.push(named)
      await named.ping()
      expect(await secured.clientKill({ name: 'x' })).toBe(1)
    } finally {
      await secured.close()
    }
  })
})
