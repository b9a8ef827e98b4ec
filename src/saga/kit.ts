/**
 * The parts of concord/saga that adapters (src/redis, src/pg, src/nats, src/memory, ...) are built from.
 * Not a public subpath: other concept modules import `index.ts`, adapters this file.
 */
export {
  type Lease,
  type NewSaga,
  SAGA_STATUSES,
  type SagaLog,
  type SagaLogEntry,
  type SagaRecord,
  type SagaStatus,
  SETTLED,
} from './types.js'
