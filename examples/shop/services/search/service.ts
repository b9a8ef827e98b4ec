import type { EventEnvelope } from 'concord/broker'
import type { Shards } from 'concord/db'
import { applyIfNewer, type Inbox } from 'concord/outbox'
import type { Product } from '../../schema.js'

export interface SearchHit {
  id: number
  name: string
  price: number
  version: number
}

interface Row {
  id: number
  name: string
  price: string
  version: number
}

/**
 * One instance of the search service: a PostgreSQL full-text projection of products in its own database,
 * kept by ProductCreated/ProductUpdated/ProductDeleted events through the inbox. Each event carries the product's full
 * state and version, so a duplicate or reordered event never regresses a row (C7).
 */
export class SearchService {
  constructor(
    private readonly db: Shards,
    private readonly inbox: Inbox,
  ) {}

  async search(text: string, limit: number): Promise<SearchHit[]> {
    const { rows } = await this.db.readShard(
      0,
      (q) =>
        q.query<Row>(
          `SELECT id, name, price::text AS price, version FROM search_products
           WHERE doc @@ plainto_tsquery('simple', $1) AND NOT deleted ORDER BY id LIMIT $2`,
          [text, limit],
        ),
      { primary: true },
    )
    return rows.map((row) => ({ ...row, price: Number(row.price) }))
  }

  /** The projection's row for a product, for the checker and the tracer. */
  async row(id: number): Promise<SearchHit | undefined> {
    const { rows } = await this.db.readShard(
      0,
      (q) =>
        q.query<Row>(
          'SELECT id, name, price::text AS price, version FROM search_products WHERE id = $1 AND NOT deleted',
          [id],
        ),
      { primary: true },
    )
    return rows[0] && { ...rows[0], price: Number(rows[0].price) }
  }

  /** Applies one product event once; an older version than the row's is a no-op. A delete leaves a tombstone. */
  async project(event: EventEnvelope): Promise<void> {
    const product = event.payload as Product
    await this.inbox.handle(event, (tx) =>
      applyIfNewer(tx, {
        table: 'search_products',
        key: { id: product.id },
        version: event.aggregateVersion,
        values: { name: product.name, price: product.price, deleted: event.type === 'ProductDeleted' },
      }),
    )
  }

  /** Re-projects one product from its source of truth (the checker's repair). */
  async repair(product: Product | undefined, id: number): Promise<void> {
    await (product
      ? // Never older than what is there: an event projected after the checker read the source wins.
        this.db.execute(
          0,
          `INSERT INTO search_products (id, name, price, version) VALUES ($1, $2, $3, $4)
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, price = EXCLUDED.price, version = EXCLUDED.version,
             deleted = false
           WHERE search_products.version <= EXCLUDED.version`,
          [product.id, product.name, product.price, product.version],
        )
      : // Absent at the source: deleted. Keep the row as a tombstone so a late older event cannot revive it.
        this.db.execute(0, 'UPDATE search_products SET deleted = true WHERE id = $1', [id]))
  }
}
