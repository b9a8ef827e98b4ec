import {
  type Lease,
  type NewSaga,
  SAGA_STATUSES,
  type SagaLog,
  type SagaLogEntry,
  type SagaRecord,
  type SagaStatus,
  SETTLED,
} from '../saga/kit.js'

interface Row {
  saga: SagaRecord
  owner: string | null
  expiresAt: number
  history: SagaLogEntry[]
}

/**
 * A saga log in this process's memory: for unit tests and for trying sagas out. It is not durable:
 * sagas in it die with the process, so production uses `createSqlSagaLog`. It keeps the port's rules
 * (owner-conditioned writes, leases, one claimer per saga) so the engine behaves the same on it.
 */
export function createMemorySagaLog(): SagaLog {
  const rows = new Map<string, Row>()
  const byKey = new Map<string, string>()
  const copy = <T>(value: T): T => structuredClone(value)
  const held = (row: Row, owner: string, now: number) =>
    row.owner === null || row.expiresAt < now || row.owner === owner
  const stamp = (entries: SagaLogEntry[]) => entries.map((e) => ({ ...copy(e), at: new Date() }))

  return {
    async start(saga: NewSaga, lease: Lease, entries: SagaLogEntry[]) {
      const existing = byKey.get(`${saga.name}\u0000${saga.idempotencyKey}`)
      if (existing) return { saga: copy(rows.get(existing)!.saga), created: false }
      const now = new Date()
      const record: SagaRecord = { ...copy(saga), createdAt: now, updatedAt: now }
      rows.set(saga.id, {
        saga: record,
        owner: lease.owner,
        expiresAt: Date.now() + lease.ms,
        history: stamp(entries),
      })
      byKey.set(`${saga.name}\u0000${saga.idempotencyKey}`, saga.id)
      return { saga: copy(record), created: true }
    },
    async save(saga, lease, entries) {
      const row = rows.get(saga.id)
      if (!row || row.owner !== lease.owner) return false
      row.saga = { ...copy(saga), updatedAt: new Date() }
      const settled = SETTLED.has(saga.status)
      row.owner = settled ? null : lease.owner
      row.expiresAt = settled ? 0 : Date.now() + lease.ms
      row.history.push(...stamp(entries))
      return true
    },
    async claim(names, lease, limit, skip) {
      const now = Date.now()
      const claimed: SagaRecord[] = []
      for (const row of rows.values()) {
        if (claimed.length >= limit) break
        if (SETTLED.has(row.saga.status) || !names.includes(row.saga.name)) continue
        const expired = row.owner === null || row.expiresAt < now
        if (!expired && !(row.owner === lease.owner && !skip.includes(row.saga.id))) continue
        row.owner = lease.owner
        row.expiresAt = now + lease.ms
        row.history.push(...stamp([{ step: null, event: 'saga:claimed', attempt: 0 }]))
        claimed.push(copy(row.saga))
      }
      return claimed
    },
    async claimOne(id, lease, statuses) {
      const row = rows.get(id)
      const now = Date.now()
      if (!row || !statuses.includes(row.saga.status) || !held(row, lease.owner, now)) return undefined
      row.owner = lease.owner
      row.expiresAt = now + lease.ms
      return copy(row.saga)
    },
    async renew(ids, lease) {
      const kept: string[] = []
      for (const id of ids) {
        const row = rows.get(id)
        if (row && row.owner === lease.owner) {
          row.expiresAt = Date.now() + lease.ms
          kept.push(id)
        }
      }
      return kept
    },
    async release(ids, owner) {
      for (const id of ids) {
        const row = rows.get(id)
        if (row && row.owner === owner) {
          row.owner = null
          row.expiresAt = 0
        }
      }
    },
    async resolve(id, status, resolution) {
      const row = rows.get(id)
      if (row?.saga.status !== 'NEEDS_ATTENTION') return undefined
      row.saga.status = status
      row.saga.attention = { ...row.saga.attention!, resolution }
      row.owner = null
      row.history.push(...stamp([{ step: null, event: `saga:resolved:${status.toLowerCase()}`, attempt: 0 }]))
      return copy(row.saga)
    },
    async get(id) {
      const row = rows.get(id)
      return row && copy(row.saga)
    },
    async find(name, idempotencyKey) {
      const id = byKey.get(`${name}\u0000${idempotencyKey}`)
      return id === undefined ? undefined : copy(rows.get(id)!.saga)
    },
    async list({ status, name, limit = 100 } = {}) {
      return [...rows.values()]
        .map((r) => r.saga)
        .filter(
          (s) => (status === undefined || s.status === status) && (name === undefined || s.name === name),
        )
        .slice(0, limit)
        .map(copy)
    },
    async counts() {
      const counts = Object.fromEntries(SAGA_STATUSES.map((s) => [s, 0])) as Record<SagaStatus, number>
      for (const row of rows.values()) counts[row.saga.status] += 1
      return counts
    },
    async history(id) {
      return copy(rows.get(id)?.history ?? [])
    },
  }
}
