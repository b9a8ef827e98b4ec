/**
 * concord/saga: orchestrated sagas on a durable log (C6), and choreography helpers.
 *
 * A saga's steps run in order; each effect is recorded in the log before and after it runs, under a
 * lease, so any process can resume an unfinished saga after a crash: forward, or compensating in reverse.
 * Every saga ends COMPLETED, COMPENSATED or visibly NEEDS_ATTENTION.
 */

export { createSagaAdmin, type SagaAdmin, type SagaAdminOptions, type SagaListFilter } from './admin.js'
export type {
  Choreography,
  ChoreographyDefinition,
  ProcessStatus,
  ProcessTransition,
} from './choreography.js'
export { defineChoreography, processHandler, reactOnce, undoOnce } from './choreography.js'
export type { SagaDefinition, SagaStep, StepContext, StepKind, StepRetryPolicy } from './define.js'
export { defineSaga } from './define.js'
export type { RecoverySummary, RegisteredSaga, SagaEngine } from './engine.js'
export { createSagaEngine } from './engine.js'
export type { SagaRunOptions } from './engine-core.js'
export type { EffectRetryOptions, SagaEngineOptions, SagaEvent } from './engine-options.js'
export {
  SagaDefinitionError,
  SagaEffectCancelledError,
  SagaInterruptedError,
  SagaNotFoundError,
  SagaNotRegisteredError,
  SagaStateError,
  SagaStepRejectedError,
} from './errors.js'
export type { SagaMigration } from './migrations.js'
export { sagaMigrations } from './migrations.js'
export { compensateOnce, once } from './once.js'
export type { SagaOutcome } from './outcome.js'
export type { SqlSagaLogOptions } from './pg-log.js'
export { createSqlSagaLog } from './pg-log.js'
export type { SagaSql } from './sql.js'
export { sagaSqlFromClients, sagaSqlFromShards } from './sql.js'
export type {
  Lease,
  NewSaga,
  SagaAttention,
  SagaErrorInfo,
  SagaLog,
  SagaLogEntry,
  SagaRecord,
  SagaStatus,
  StepRecord,
  StepStatus,
} from './types.js'
export { SAGA_STATUSES } from './types.js'
