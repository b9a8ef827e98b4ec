import { v5 as uuidv5, v7 as uuidv7 } from 'uuid'
import { type BackoffPolicy, backoffDelay } from '../backoff.js'
import { ClosedError, InvalidInputError, SerializationError } from '../errors.js'
import { parseOptions } from '../options.js'
import { pause } from './attempt.js'
import type { SagaDefinition } from './define.js'
import { type DriverIo, drive } from './driver.js'
import { defaultOwner, effectPolicy, engineOptionsSchema, type SagaEngineOptions } from './engine-options.js'
import { SagaDefinitionError, SagaInterruptedError, SagaNotRegisteredError } from './errors.js'
import { LeaseKeeper } from './lease.js'
import { outcomeOf, type SagaOutcome, waitSettled } from './outcome.js'
import { newSaga } from './transitions.js'
import { type Lease, type SagaLogEntry, type SagaRecord, SETTLED } from './types.js'

/** Between tries of a saga log write that failed (the log unreachable): 50 ms doubling, at most 1 s. */
const LOG_WRITE_BACKOFF: BackoffPolicy = { initial: 50, max: 1_000, factor: 2, jitter: 0.5 }

/** Saga ids are derived from (name, idempotency key), so any process finds a saga's log shard from its id. */
const SAGA_NAMESPACE = '6f1c3e52-8a7d-4c1b-9f0e-2d5a7b3c9e41'

export function sagaIdFor(name: string, idempotencyKey: string): string {
  return uuidv5(`${name}\u0000${idempotencyKey}`, SAGA_NAMESPACE)
}

/** Options of one `run`/`submit`. */
export interface SagaRunOptions {
  /** Same key, same saga: a second `run()` returns the first one's outcome. @default a new uuid */
  idempotencyKey?: string
}

type Change = (saga: SagaRecord) => SagaLogEntry[]
type Definition = SagaDefinition<never>

/**
 * The parts of the engine the public facade and the admin calls share: the registry, the lease, and
 * driving a held saga to its end (one driver per saga per process).
 */
export class EngineCore {
  readonly options
  readonly lease: Lease
  readonly keeper: LeaseKeeper
  readonly definitions = new Map<string, Definition>()
  readonly active = new Map<string, Promise<SagaRecord>>()
  closed = false

  constructor(input: SagaEngineOptions) {
    this.options = parseOptions('createSagaEngine', engineOptionsSchema, input)
    this.lease = Object.freeze({ owner: this.options.owner ?? defaultOwner(), ms: this.options.lease })
    this.keeper = new LeaseKeeper(this.options.log, this.lease)
  }

  get log() {
    return this.options.log
  }

  register(def: SagaDefinition<never>): void {
    const known = this.definitions.get(def.name)
    if (known && known !== def) throw new SagaDefinitionError(def.name, 'another definition has this name')
    this.definitions.set(def.name, def)
  }

  definition(name: string): Definition {
    const def = this.definitions.get(name)
    if (!def) throw new SagaNotRegisteredError(name)
    return def
  }

  /** Writes a new saga (or finds the one with this key) and drives it; `done` settles with its record. */
  async begin(
    def: Definition,
    input: unknown,
    options: SagaRunOptions,
  ): Promise<{ id: string; created: boolean; done: Promise<SagaRecord> }> {
    if (this.closed) throw new ClosedError('saga engine')
    this.register(def)
    const key = options.idempotencyKey ?? uuidv7()
    if (typeof key !== 'string' || key.length === 0) {
      throw new InvalidInputError('idempotencyKey must be a non-empty string', { idempotencyKey: key })
    }
    const [fresh, entries] = newSaga(def, sagaIdFor(def.name, key), key, toJsonInput(def.name, input))
    const { saga, created } = await this.log.start(fresh, this.lease, entries)
    if (created) {
      this.emit(saga, entries)
      return { id: saga.id, created, done: this.drive(saga) }
    }
    return { id: saga.id, created, done: this.follow(saga) }
  }

  /** An existing saga's end: drive it if nobody holds it, else wait for whoever does. */
  async follow(saga: SagaRecord): Promise<SagaRecord> {
    if (SETTLED.has(saga.status)) return saga
    const mine = this.active.get(saga.id)
    if (mine) return mine
    const claimed = await this.log.claimOne(saga.id, this.lease, ['RUNNING', 'COMPENSATING'])
    if (claimed) return this.drive(claimed)
    return waitSettled(this.log, saga.id, this.pollMs)
  }

  get pollMs(): number {
    return Math.max(5, Math.min(250, Math.floor(this.lease.ms / 4)))
  }

  /** Drives a saga this process holds; `first` is a change to write before anything runs (admin retry). */
  drive(saga: SagaRecord, first?: Change): Promise<SagaRecord> {
    const running = this.active.get(saga.id)
    if (running) return running
    const def = this.definition(saga.name)
    const signal = this.keeper.hold(saga.id)
    const io: DriverIo = {
      signal,
      policy: (step, phase) => effectPolicy(this.options, step, phase),
      commit: (s, change) => this.commit(s, change, signal),
      onAttention: (s) => this.alert(s),
    }
    const driven = (async () => {
      if (first) await this.commit(saga, first, signal)
      return drive(def as SagaDefinition<unknown>, saga, io)
    })().finally(() => {
      this.keeper.drop(saga.id)
      this.active.delete(saga.id)
    })
    this.active.set(saga.id, driven)
    return driven
  }

  /**
   * Writes one transition, only while the lease is ours. A failed write is retried a few times (it may
   * have committed before the connection broke, so writes are idempotent); then the driver stops and the
   * saga waits in the log for the next claim.
   */
  async commit(saga: SagaRecord, change: Change, signal: AbortSignal): Promise<void> {
    // Transitions set the record's fields and its steps' fields, and never change a value inside them (input,
    // outputs, errors are replaced whole): a copy of those two levels is enough, and far cheaper than a deep one.
    const next: SagaRecord = { ...saga, steps: saga.steps.map((step) => ({ ...step })) }
    const entries = change(next)
    for (let tryNumber = 1; ; tryNumber++) {
      if (signal.aborted) throw asInterrupted(saga.id, signal.reason)
      try {
        const held = await this.log.save(next, this.lease, entries)
        if (!held) throw new SagaInterruptedError(saga.id, 'lease lost to another process')
        Object.assign(saga, next)
        this.emit(saga, entries)
        return
      } catch (error) {
        if (error instanceof SagaInterruptedError) throw error
        if (tryNumber >= 5) throw new SagaInterruptedError(saga.id, 'saga log unreachable', error)
        await pause(backoffDelay(LOG_WRITE_BACKOFF, tryNumber), signal)
      }
    }
  }

  emit(saga: SagaRecord, entries: SagaLogEntry[]): void {
    try {
      this.options.onEvent?.({ saga, entries })
    } catch {
      // an observer must not break the saga
    }
  }

  alert(saga: SagaRecord): void {
    try {
      Promise.resolve(this.options.onAlert?.(structuredClone(saga))).catch(() => undefined)
    } catch {
      // an alert hook must not break the saga
    }
  }

  /** The outcome for a caller; if another process took the saga over, waits for that one to end it. */
  async outcome(id: string, done: Promise<SagaRecord>, created: boolean): Promise<SagaOutcome> {
    try {
      return outcomeOf(await done, created)
    } catch (error) {
      if (error instanceof SagaInterruptedError && /lease lost/.test(error.message) && !this.closed) {
        return outcomeOf(await waitSettled(this.log, id, this.pollMs), created)
      }
      throw error
    }
  }
}

function toJsonInput(saga: string, input: unknown): unknown {
  try {
    const text = JSON.stringify(input ?? null)
    return JSON.parse(text)
  } catch (cause) {
    throw new SerializationError(`saga ${saga}: input is not JSON`, { context: { saga }, cause })
  }
}

function asInterrupted(id: string, reason: unknown): SagaInterruptedError {
  return reason instanceof SagaInterruptedError ? reason : new SagaInterruptedError(id, 'stopped', reason)
}
