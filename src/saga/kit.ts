/**
 * What other folders of concord build on from this one (the adapters in src/redis, src/pg, ..., and modules layered
 * on it). Not a public subpath: the public API is index.ts.
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
