import { TimeoutError } from '../errors.js'
import type { SagaErrorInfo } from './types.js'

/**
 * Runs one attempt of a step's effect with a timeout. On timeout the attempt counts as failed and
 * its signal is aborted; the effect itself may still finish later, which is why effects are keyed
 * (`once`) and compensations tolerate an action that did or did not happen.
 */
export async function attempt<T>(
  what: string,
  timeoutMs: number,
  parent: AbortSignal,
  run: (signal: AbortSignal) => Promise<T> | T,
): Promise<T> {
  const controller = new AbortController()
  let onParentAbort = () => {}
  // The engine stopping (lease lost, closed) ends the wait at once; the attempt's outcome is then unknown.
  const stopped = new Promise<never>((_, reject) => {
    onParentAbort = () => {
      controller.abort(parent.reason)
      reject(parent.reason)
    }
  })
  if (parent.aborted) onParentAbort()
  else parent.addEventListener('abort', onParentAbort, { once: true })
  stopped.catch(() => undefined)
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new TimeoutError(what, timeoutMs)
      controller.abort(error)
      reject(error)
    }, timeoutMs)
  })
  const work = Promise.resolve().then(() => run(controller.signal))
  // A late failure of an abandoned attempt must not become an unhandled rejection.
  work.catch(() => undefined)
  try {
    return await Promise.race([work, timedOut, stopped])
  } finally {
    clearTimeout(timer)
    parent.removeEventListener('abort', onParentAbort)
  }
}

/** An error as the log stores it. */
export function errorInfo(step: string, error: unknown): SagaErrorInfo {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return {
      step,
      name: error.name,
      ...(typeof code === 'string' ? { code } : {}),
      message: error.message,
    }
  }
  return { step, name: 'Error', message: String(error) }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}
