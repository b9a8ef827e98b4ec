import { type CompareRules, compareRecords, type Finding } from './compare.js'
import { ComparatorFailedError } from './errors.js'
import { mapLimit } from './sample.js'
import type { CheckReport, Comparator, ComparatorReport, Copy, Divergence, Versioned } from './types.js'

/** How one run behaves; resolved from the checker's options and the call's overrides. */
export interface RunSettings {
  id: number
  trigger: CheckReport['trigger']
  /** Keys to sample per comparator, in comparator order. */
  sampleSizes: readonly number[]
  concurrency: number
  /** Pause before the second read that confirms a suspected divergence. */
  confirmAfter: number
  repair: boolean
  maxSamples: number
  onError: (error: ComparatorFailedError) => void
}

interface Suspect {
  key: string
  copies: Copy[]
}

/**
 * One run: samples each comparator's keys, reads the source and every copy, and confirms each suspected
 * divergence with a second read of both sides (a write landing between the two first reads is not a
 * divergence), then repairs and re-reads to verify. Never throws for a comparator's failure.
 */
export async function runCheck(comparators: readonly Comparator[], s: RunSettings): Promise<CheckReport> {
  const started = Date.now()
  const report: CheckReport = {
    id: s.id,
    trigger: s.trigger,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    keys: 0,
    checked: 0,
    inconsistent: 0,
    repaired: 0,
    unrepaired: 0,
    errors: 0,
    byComparator: {},
    divergences: [],
    errorSamples: [],
  }
  const fail = (c: ComparatorReport, error: ComparatorFailedError) => {
    c.errors++
    report.errors++
    if (report.errorSamples.length < s.maxSamples) {
      const { step, comparator, copy, key } = error.context as Record<string, string>
      report.errorSamples.push({
        comparator: comparator!,
        step: step!,
        message: error.message,
        ...(copy !== undefined && { copy }),
        ...(key !== undefined && { key }),
      })
    }
    s.onError(error)
  }

  await Promise.all(
    comparators.map(async (comparator, i) => {
      const counts = emptyCounts(comparator)
      report.byComparator[comparator.name] = counts
      const ctx: Ctx = { comparator, counts, fail: (e) => fail(counts, e), settings: s }
      const suspects = await firstPass(ctx, s.sampleSizes[i] ?? 0)
      if (suspects.length === 0) return
      if (s.confirmAfter > 0) await new Promise((resolve) => setTimeout(resolve, s.confirmAfter))
      await mapLimit(suspects, s.concurrency, (suspect) => confirmAndRepair(ctx, suspect, report))
    }),
  )
  for (const c of Object.values(report.byComparator)) {
    report.keys += c.keys
    report.checked += c.checked
    report.inconsistent += c.inconsistent
    report.repaired += c.repaired
    report.unrepaired += c.unrepaired
  }
  report.durationMs = Date.now() - started
  return report
}

interface Ctx {
  comparator: Comparator
  counts: ComparatorReport
  fail: (error: ComparatorFailedError) => void
  settings: RunSettings
}

function emptyCounts(comparator: Comparator): ComparatorReport {
  const byCopy: ComparatorReport['byCopy'] = {}
  for (const copy of comparator.copies) byCopy[copy.name] = { checked: 0, inconsistent: 0, repaired: 0 }
  return { keys: 0, checked: 0, inconsistent: 0, repaired: 0, unrepaired: 0, errors: 0, byCopy }
}

async function firstPass(ctx: Ctx, size: number): Promise<Suspect[]> {
  const { comparator, counts } = ctx
  if (size <= 0) return []
  let keys: string[]
  try {
    keys = [...new Set(await comparator.sample(size))].slice(0, size)
  } catch (error) {
    ctx.fail(new ComparatorFailedError('sample', { comparator: comparator.name }, error))
    return []
  }
  counts.keys = keys.length
  const found = await mapLimit(keys, ctx.settings.concurrency, async (key) => {
    const source = await readSource(ctx, key)
    if (source === FAILED) return undefined
    const suspect: Suspect = { key, copies: [] }
    await Promise.all(
      comparator.copies.map(async (copy) => {
        const got = await readCopy(ctx, copy, key)
        if (got === FAILED) return
        counts.checked++
        counts.byCopy[copy.name]!.checked++
        if (compareRecords(source, got, rules(comparator, copy))) suspect.copies.push(copy)
      }),
    )
    return suspect.copies.length > 0 ? suspect : undefined
  })
  return found.filter((s): s is Suspect => s !== undefined)
}

async function confirmAndRepair(ctx: Ctx, suspect: Suspect, report: CheckReport): Promise<void> {
  const { comparator, counts, settings } = ctx
  const { key } = suspect
  const source = await readSource(ctx, key)
  if (source === FAILED) return
  await Promise.all(
    suspect.copies.map(async (copy) => {
      const got = await readCopy(ctx, copy, key)
      if (got === FAILED) return
      const finding = compareRecords(source, got, rules(comparator, copy))
      if (!finding) return // it was a write in flight, not a divergence
      counts.inconsistent++
      counts.byCopy[copy.name]!.inconsistent++
      const divergence = toDivergence(comparator.name, copy.name, key, finding)
      await repair(ctx, copy, key, source, divergence)
      if (divergence.repaired) {
        counts.repaired++
        counts.byCopy[copy.name]!.repaired++
      } else counts.unrepaired++
      if (report.divergences.length < settings.maxSamples) report.divergences.push(divergence)
    }),
  )
}

async function repair(
  ctx: Ctx,
  copy: Copy,
  key: string,
  source: Versioned | undefined,
  divergence: Divergence,
): Promise<void> {
  if (!copy.repair) {
    divergence.unrepairedReason = 'no-policy'
    return
  }
  if (!ctx.settings.repair) {
    divergence.unrepairedReason = 'repair-off'
    return
  }
  try {
    await copy.repair(key, source)
  } catch (error) {
    divergence.unrepairedReason = 'repair-failed'
    ctx.fail(
      new ComparatorFailedError('repair', { comparator: ctx.comparator.name, copy: copy.name, key }, error),
    )
    return
  }
  // Verify: a repair that did not take (a wrong policy, a racing bad writer) is not counted as repaired.
  const after = await readCopy(ctx, copy, key)
  if (after !== FAILED && compareRecords(source, after, rules(ctx.comparator, copy)) === undefined) {
    divergence.repaired = true
  } else divergence.unrepairedReason = 'still-divergent'
}

const FAILED = Symbol('failed')

async function readSource(ctx: Ctx, key: string): Promise<Versioned | undefined | typeof FAILED> {
  try {
    return await ctx.comparator.source(key)
  } catch (error) {
    ctx.fail(new ComparatorFailedError('source', { comparator: ctx.comparator.name, key }, error))
    return FAILED
  }
}

async function readCopy(ctx: Ctx, copy: Copy, key: string): Promise<Versioned | undefined | typeof FAILED> {
  try {
    return await copy.read(key)
  } catch (error) {
    ctx.fail(
      new ComparatorFailedError('read', { comparator: ctx.comparator.name, copy: copy.name, key }, error),
    )
    return FAILED
  }
}

function rules(comparator: Comparator, copy: Copy): CompareRules {
  return {
    required: copy.required ?? false,
    fields: copy.fields,
    ignore: new Set([...(comparator.ignoreFields ?? []), ...(copy.ignoreFields ?? [])]),
  }
}

function toDivergence(comparator: string, copy: string, key: string, f: Finding): Divergence {
  return { comparator, copy, key, ...f, repaired: false }
}
