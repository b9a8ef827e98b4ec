import type { FeedTransaction, RowChange } from '../../outbox/kit.js'

/** The pgoutput messages the feed reads (pg-logical-replication's `Pgoutput.Message`, narrowed to what is used). */
export type PgoutputMessage =
  | { tag: 'begin'; commitTime: bigint | bigint }
  | { tag: 'commit'; commitEndLsn: string | null; commitTime: bigint | bigint }
  | { tag: 'insert'; relation: Relation; new: Record<string, unknown> }
  | {
      tag: 'update'
      relation: Relation
      key: Record<string, unknown> | null
      old: Record<string, unknown> | null
      new: Record<string, unknown>
    }
  | {
      tag: 'delete'
      relation: Relation
      key: Record<string, unknown> | null
      old: Record<string, unknown> | null
    }
  | { tag: 'truncate'; relations: Relation[] }
  | { tag: string }

interface Relation {
  schema: string
  name: string
}

const tableOf = (r: Relation) => `${r.schema}.${r.name}`

/** pgoutput's times are microseconds since 2000-01-01. */
const PG_EPOCH_MS = 946_684_800_000
const toDate = (micros: bigint | bigint) => new Date(PG_EPOCH_MS + Number(micros as bigint) / 1000)

/**
 * Folds the stream's messages into committed transactions. The feed's publication holds only the mapped
 * tables, so every row change here is one the mapping wants.
 */
export class TransactionDecoder {
  private open: { changes: RowChange[]; truncated: string[] } | undefined

  /** Whether a transaction's begin was read and its commit not yet. */
  get inTransaction(): boolean {
    return this.open !== undefined
  }

  /** Returns the transaction a commit message closes, if any. */
  read(message: PgoutputMessage): FeedTransaction | undefined {
    switch (message.tag) {
      case 'begin':
        this.open = { changes: [], truncated: [] }
        return undefined
      case 'insert': {
        const m = message as Extract<PgoutputMessage, { tag: 'insert' }>
        this.open?.changes.push({ table: tableOf(m.relation), op: 'insert', row: m.new })
        return undefined
      }
      case 'update': {
        const m = message as Extract<PgoutputMessage, { tag: 'update' }>
        const old = m.key ?? m.old
        const change: RowChange = { table: tableOf(m.relation), op: 'update', row: m.new }
        if (old) change.old = old
        this.open?.changes.push(change)
        return undefined
      }
      case 'delete': {
        const m = message as Extract<PgoutputMessage, { tag: 'delete' }>
        this.open?.changes.push({ table: tableOf(m.relation), op: 'delete', row: m.old ?? m.key ?? {} })
        return undefined
      }
      case 'truncate': {
        const m = message as Extract<PgoutputMessage, { tag: 'truncate' }>
        this.open?.truncated.push(...m.relations.map(tableOf))
        return undefined
      }
      case 'commit': {
        const m = message as Extract<PgoutputMessage, { tag: 'commit' }>
        const open = this.open
        this.open = undefined
        if (!open || !m.commitEndLsn) return undefined
        const txn: FeedTransaction = {
          lsn: m.commitEndLsn,
          commitTime: toDate(m.commitTime),
          changes: open.changes,
        }
        if (open.truncated.length > 0) txn.truncated = open.truncated
        return txn
      }
      default:
        return undefined // relation, type, origin, message: nothing to apply
    }
  }

  reset(): void {
    this.open = undefined
  }
}
