import type { Queryable, Shards } from 'concord/db'
import { compensateOnce, once, SagaStepRejectedError } from 'concord/saga'
import type { Member } from '../../schema.js'

interface Row {
  id: number
  points: string
}
const toMember = (row: Row): Member => ({ id: row.id, points: Number(row.points) })

/** One instance of the member service: points per member, taken and refunded by order sagas. */
export class MemberService {
  constructor(private readonly shards: Shards) {}

  /** Members are read on the primary: a points balance is what the next order is checked against. */
  get(id: number): Promise<Member | undefined> {
    return this.shards.read(id, (q) => selectMember(q, id), { primary: true })
  }

  /** Saga participant: takes `points` once per idempotency key; rejects when the balance is too low. */
  async usePoints(input: { memberId: number; points: number; key: string }): Promise<Member> {
    const { result } = await this.shards.withTransaction(input.memberId, (tx) =>
      once(tx, input.key, async () => {
        const used = await this.useIn(tx, input.memberId, input.points)
        if (!used.ok) throw new SagaStepRejectedError(used.reason, { memberId: input.memberId })
        return used.member
      }),
    )
    return result
  }

  /** Saga compensation: refunds the points, once, and only if they were taken. */
  async refundPoints(input: {
    memberId: number
    points: number
    actionKey: string
    compensationKey: string
  }) {
    const { result: refunded } = await this.shards.withTransaction(input.memberId, (tx) =>
      compensateOnce(tx, input, () => this.refundIn(tx, input.memberId, input.points)),
    )
    return { refunded }
  }

  /** Takes points in the caller's transaction (a saga step's or an event consumer's). */
  async useIn(
    tx: Queryable,
    memberId: number,
    points: number,
  ): Promise<{ ok: true; member: Member } | { ok: false; reason: string }> {
    const { rows } = await tx.query<Row>(
      `UPDATE members SET points = points - $2, version = version + 1
       WHERE id = $1 AND points >= $2 RETURNING id, points::text AS points`,
      [memberId, points],
    )
    if (rows[0]) return { ok: true, member: toMember(rows[0]) }
    const member = await selectMember(tx, memberId)
    return {
      ok: false,
      reason: member ? `member ${memberId} has only ${member.points} points` : `member ${memberId} not found`,
    }
  }

  /** Gives points back in the caller's transaction. */
  async refundIn(tx: Queryable, memberId: number, points: number): Promise<void> {
    await tx.query('UPDATE members SET points = points + $2, version = version + 1 WHERE id = $1', [
      memberId,
      points,
    ])
  }
}

async function selectMember(q: Queryable, id: number): Promise<Member | undefined> {
  const { rows } = await q.query<Row>('SELECT id, points::text AS points FROM members WHERE id = $1', [id])
  return rows[0] && toMember(rows[0])
}

/** Seeds members 1..count with 10,000 points each where missing. */
export async function seedMembers(shards: Shards, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: shards.count }, (_, shard) =>
      shards.onShard(shard, (tx) =>
        tx.query(
          `INSERT INTO members (id, points) SELECT i, 10000 FROM unnest($1::int[]) AS i ON CONFLICT (id) DO NOTHING`,
          [Array.from({ length: count }, (_, i) => i + 1).filter((id) => shards.shardFor(id) === shard)],
        ),
      ),
    ),
  )
}
