import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { describeTarget, sameRedis } from '../../src/redis/connection.js'

describe('sameRedis (whether a tier can publish for a bus)', () => {
  it('matches standalone URLs by host and port, whatever the database', () => {
    expect(sameRedis({ url: 'redis://127.0.0.1:6380/0' }, { url: 'redis://127.0.0.1:6380/2' })).toBe(true)
    expect(sameRedis({ url: 'redis://h' }, { url: 'redis://h:6379' })).toBe(true)
    expect(sameRedis({ url: 'redis://127.0.0.1:6380' }, { url: 'redis://127.0.0.1:6381' })).toBe(false)
    expect(sameRedis({ url: 'redis://127.0.0.1:6380' }, { url: 'redis://localhost:6380' })).toBe(false)
    expect(sameRedis({ url: 'redis://h:6380' }, { url: 'rediss://h:6380' })).toBe(false)
  })

  it('matches cluster seed lists sharing a node, and clients only by identity', () => {
    const n = (port: number) => ({ host: '127.0.0.1', port })
    expect(sameRedis({ nodes: [n(1), n(2)] }, { nodes: [n(2), n(3)] })).toBe(true)
    expect(sameRedis({ nodes: [n(1)] }, { nodes: [n(3)] })).toBe(false)
    expect(sameRedis({ nodes: [n(1)] }, { url: 'redis://127.0.0.1:1' })).toBe(false)
    const client = new Redis({ lazyConnect: true })
    expect(sameRedis({ client }, { client })).toBe(true)
    expect(sameRedis({ client }, { client: new Redis({ lazyConnect: true }) })).toBe(false)
    expect(sameRedis({ client }, { url: 'redis://127.0.0.1:6379' })).toBe(false)
  })
})

describe('describeTarget (the server named in errors)', () => {
  it('names host and port, never the credentials', () => {
    expect(describeTarget({ url: 'redis://user:s3cret@10.0.0.5:6380/2' })).toBe('redis://10.0.0.5:6380')
    expect(describeTarget({ url: 'rediss://:pw@cache.internal' })).toBe('rediss://cache.internal:6379')
    expect(
      describeTarget({
        nodes: [
          { host: 'a', port: 1 },
          { host: 'b', port: 2 },
        ],
      }),
    ).toBe('a:1,b:2')
    expect(
      describeTarget({ client: new Redis({ host: 'h', port: 7, lazyConnect: true, password: 'x' }) }),
    ).toBe('redis://h:7')
  })
})
