import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

export interface RunningDemo {
  baseUrl: string
  /** The dashboard URL the demo printed (it carries the admin token). */
  dashboardUrl: string
  process: ChildProcess
  output(): string
  stop(): Promise<void>
}

/** Starts `npm run demo` with the given flags and resolves once it prints `ready http://...`. */
export async function startDemo(args: string[], { timeoutMs = 60_000, env = {} } = {}): Promise<RunningDemo> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=source', 'examples/shop/main.ts', ...args],
    {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  child.stdout!.on('data', (chunk) => (output += chunk))
  child.stderr!.on('data', (chunk) => (output += chunk))
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not left running: the caller gets no handle to stop it with.
      child.kill('SIGTERM')
      reject(new Error(`demo not ready after ${timeoutMs} ms:\n${output}`))
    }, timeoutMs)
    const onData = () => {
      const match = /ready (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    }
    child.stdout!.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`demo exited with ${code} before ready:\n${output}`))
    })
  })
  const dashboardUrl = await new Promise<string>((resolve) => {
    const find = () => /dashboard (http\S+)/.exec(output)?.[1]
    if (find()) return resolve(find()!)
    child.stdout!.on('data', () => find() && resolve(find()!))
  })
  return {
    baseUrl,
    dashboardUrl,
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await once(child, 'exit')
      clearTimeout(timer)
    },
  }
}
