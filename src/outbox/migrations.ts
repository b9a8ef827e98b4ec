import type { Migration } from '../db/kit.js'

/**
 * The outbox and inbox tables, applied to every shard by `shards.migrate(outboxMigrations)`.
 *
 * concord_outbox is a queue, not a log: the relay deletes a row as soon as the broker acknowledged it, in one
 * batched DELETE per claim. A row's `locked_until` is both its lease (while a relay publishes it) and its
 * backoff (after a failed attempt): a row is claimable when it is pending and `locked_until` has passed.
 * `txid` is the writing transaction's id, so the relay can leave alone rows whose lower-numbered neighbours
 * may still commit (see claim.ts). Payload and headers are `json`, not `jsonb`: stored as written (no
 * re-encoding on the hot insert path, and a `\u0000` in a string is accepted).
 *
 * Dead-lettered events stay in concord_outbox with status 'dead': they keep blocking later events of their
 * aggregate (order is kept), show on the status API with their last error, and `redrive` is one UPDATE.
 */
export const outboxMigrations: readonly Migration[] = Object.freeze([
  {
    module: 'outbox',
    version: 1,
    name: 'outbox and inbox tables',
    sql: `
CREATE TABLE concord_outbox (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  topic text NOT NULL,
  aggregate_type text NOT NULL,
  aggregate_id text NOT NULL,
  aggregate_version bigint NOT NULL,
  type text NOT NULL,
  payload json NOT NULL,
  headers json NOT NULL,
  created_at timestamptz NOT NULL,
  txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  locked_until timestamptz,
  lease_owner text,
  last_error text,
  dead_at timestamptz
) WITH (
  -- Rows live seconds: let autovacuum reclaim the deleted ones early, so the head of the queue stays small.
  autovacuum_vacuum_scale_factor = 0.0,
  autovacuum_vacuum_threshold = 5000,
  autovacuum_vacuum_insert_scale_factor = 0.0,
  autovacuum_vacuum_insert_threshold = 5000
);
CREATE INDEX concord_outbox_aggregate ON concord_outbox (aggregate_type, aggregate_id, seq);

CREATE TABLE concord_inbox (
  consumer text NOT NULL,
  event_id text NOT NULL,
  status text NOT NULL DEFAULT 'processed' CHECK (status IN ('processed', 'dead')),
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
CREATE INDEX concord_inbox_processed_at ON concord_inbox (processed_at);

CREATE TABLE concord_inbox_attempts (
  consumer text NOT NULL,
  event_id text NOT NULL,
  attempts integer NOT NULL,
  last_error text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);

CREATE TABLE concord_inbox_dead_letter (
  consumer text NOT NULL,
  event_id text NOT NULL,
  event json,
  error text NOT NULL,
  attempts integer NOT NULL,
  dead_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
`,
  },
  {
    module: 'outbox',
    version: 2,
    name: 'outbox pages keep room for lease updates',
    // A claim updates each head's lease (locked_until, lease_owner: no indexed column) and a failure its
    // attempts. With free room on the page those are HOT updates: no new entry in the three indexes, no
    // extra dead index entries for the claim scan to step over. Applies to pages written from now on.
    sql: `ALTER TABLE concord_outbox SET (fillfactor = 70);`,
  },
  {
    module: 'outbox',
    version: 3,
    name: 'outbox index of the pending rows in seq order',
    // The claim looks for the lowest pending heads. Without this index it reads the whole heap (a sequential
    // scan: after a burst the table is mostly dead or empty pages, tens of MB, for a few live rows); with it,
    // it walks the pending rows in seq order and stops at its limit. Dead-lettered rows are not in it.
    sql: `CREATE INDEX concord_outbox_pending ON concord_outbox (seq) WHERE status = 'pending';`,
  },
])
