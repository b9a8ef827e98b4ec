/**
 * The demo's start-up log: a `start <step>: <ms> ms, cpu <ms> ms` line as each step ends, so a slow start
 * says where its time went (bench/startup.ts reads these lines). The CPU time of this process tells a
 * step's own cost from waiting on a machine that is busy with other work.
 */
export interface Progress {
  step<T>(name: string, run: () => Promise<T>): Promise<T>
}

/** Runs the steps and prints nothing (tests, verify). */
export const quiet: Progress = { step: (_name, run) => run() }

export function printedProgress(print: (line: string) => void = console.log): Progress {
  return {
    async step(name, run) {
      const began = performance.now()
      const cpu = process.cpuUsage()
      const result = await run()
      print(
        `start ${name}: ${Math.round(performance.now() - began)} ms, cpu ${cpuMs(process.cpuUsage(cpu))} ms`,
      )
      return result
    },
  }
}

export const cpuMs = (usage: NodeJS.CpuUsage = process.cpuUsage()) =>
  Math.round((usage.user + usage.system) / 1000)
