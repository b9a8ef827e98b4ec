import type { Migration } from 'concord/db'
import { outboxMigrations } from 'concord/outbox'
import { sagaMigrations } from 'concord/saga'
import type { Infra } from './platform/infra.js'

/** The shop's own tables; concord's modules (outbox, inbox, saga log) register theirs beside these. */
export const shopMigrations: Migration[] = [
  {
    module: 'shop',
    version: 1,
    name: 'products, members, orders',
    sql: `
      CREATE TABLE products (
        id      integer PRIMARY KEY,
        name    text NOT NULL,
        price   numeric(12, 2) NOT NULL CHECK (price >= 0),
        stock   integer NOT NULL CHECK (stock >= 0),
        version integer NOT NULL DEFAULT 1
      );
      CREATE TABLE members (
        id      integer PRIMARY KEY,
        points  bigint NOT NULL CHECK (points >= 0),
        version integer NOT NULL DEFAULT 1
      );
      CREATE TABLE orders (
        id          uuid PRIMARY KEY,
        status      text NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED')),
        member_id   integer NOT NULL,
        product_id  integer NOT NULL,
        quantity    integer NOT NULL CHECK (quantity > 0),
        points      bigint NOT NULL CHECK (points >= 0),
        unit_price  numeric(12, 2) NOT NULL,
        reason      text,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
      );
      -- New product ids come from shard 0 only; the sequence exists everywhere to keep one schema.
      CREATE SEQUENCE product_ids START 1;`,
  },
]

/** The search service's own database: a full-text projection of products, kept by events. */
export const searchMigrations: Migration[] = [
  {
    module: 'search',
    version: 1,
    name: 'product search projection',
    sql: `
      CREATE TABLE search_products (
        id      integer PRIMARY KEY,
        name    text NOT NULL,
        price   numeric(12, 2) NOT NULL,
        version integer NOT NULL,
        doc     tsvector GENERATED ALWAYS AS (to_tsvector('simple', name)) STORED
      );
      CREATE INDEX search_products_doc ON search_products USING gin (doc);`,
  },
  {
    module: 'search',
    version: 2,
    name: 'tombstones for deleted products',
    // A deleted product keeps its row, marked, at the delete's version: an older event arriving later loses
    // to it in applyIfNewer instead of bringing the product back.
    sql: `ALTER TABLE search_products ADD COLUMN deleted boolean NOT NULL DEFAULT false;`,
  },
]

/** Every module's tables on the shards: the shop's, the outbox/inbox and the saga log. */
export const shardMigrations: Migration[] = [...shopMigrations, ...outboxMigrations, ...sagaMigrations]
/** The search database: its projection and its own outbox/inbox. */
export const searchDbMigrations: Migration[] = [...searchMigrations, ...outboxMigrations]

/** Applies every module's tables on the shards and on the search database. */
export async function migrateShop(infra: Pick<Infra, 'shards' | 'search'>): Promise<void> {
  await infra.shards.migrate(shardMigrations)
  await infra.search.migrate(searchDbMigrations)
}
