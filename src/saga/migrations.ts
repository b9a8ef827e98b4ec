/**
 * The saga module's tables, as migrations for `shards.migrate()` (module 'saga'). Apply them on every
 * shard: the log lives on the shard the slot map gives its saga id, and every participant's shard keeps its
 * processed effect keys.
 */
export interface SagaMigration {
  module: string
  version: number
  name: string
  sql: string
}

/** The saga log's tables, for `Shards.migrate` (or `migrationScript` to apply them with your own tool). */
export const sagaMigrations: readonly SagaMigration[] = Object.freeze([
  {
    module: 'saga',
    version: 1,
    name: 'saga log',
    sql: `
CREATE TABLE IF NOT EXISTS concord_saga (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  idempotency_key text NOT NULL,
  input jsonb NOT NULL,
  status text NOT NULL,
  step_cursor integer NOT NULL,
  steps jsonb NOT NULL,
  error jsonb,
  attention jsonb,
  lease_owner text,
  lease_expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (name, idempotency_key)
);
-- recover() scans only unsettled sagas, oldest lease first.
CREATE INDEX IF NOT EXISTS concord_saga_unsettled ON concord_saga (lease_expires_at NULLS FIRST)
  WHERE status IN ('RUNNING', 'COMPENSATING');
CREATE INDEX IF NOT EXISTS concord_saga_status ON concord_saga (status, updated_at);
CREATE TABLE IF NOT EXISTS concord_saga_log (
  saga_id uuid NOT NULL,
  seq bigserial NOT NULL,
  step text,
  event text NOT NULL,
  attempt integer NOT NULL,
  error jsonb,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (saga_id, seq)
);`,
  },
  {
    module: 'saga',
    version: 2,
    name: 'saga effect keys',
    sql: `
-- One row per step effect a participant applied ('done', with its result) or that a compensation
-- cancelled before it ran ('cancelled'): see once() and compensateOnce().
CREATE TABLE IF NOT EXISTS concord_saga_effect (
  key text PRIMARY KEY,
  state text NOT NULL,
  result jsonb,
  at timestamptz NOT NULL DEFAULT now()
);`,
  },
  {
    module: 'saga',
    version: 3,
    name: 'choreography processes',
    sql: `
-- One row per event-driven process (e.g. an order): which of the awaited events arrived, and its end.
CREATE TABLE IF NOT EXISTS concord_choreography (
  name text NOT NULL,
  process_id text NOT NULL,
  status text NOT NULL,
  received text[] NOT NULL DEFAULT '{}',
  reason text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, process_id)
);`,
  },
])
