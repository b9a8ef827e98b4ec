import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, isAbsolute, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { makeTempDir, removeTempDir } from './services/tempdir.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface SupportChild {
  child: ChildProcess
  /** The line that matched `ready`. */
  line: string
  /** Every line the child printed so far (it keeps filling). */
  lines: string[]
  /** Resolves when the child exited, however. */
  killed: Promise<void>
  /** The child's exit: its code, or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * Bundles `test/support/<script>` and what it imports (src/ and the clients) into one ES module in a temp dir.
 * A test that starts a child again and again runs the bundle: no tsx, no per-start transform or module
 * resolution, a start in a fraction of the time on a loaded machine. `dispose()` removes it.
 */
export async function bundleSupportScript(script: string): Promise<{ path: string; dispose(): void }> {
  // The harness's reaper removes the dir, and kills any process still running in it, however the run ends.
  const dir = makeTempDir('bundle')
  const path = join(dir, script.replace(/\.ts$/, '.mjs'))
  await build({
    entryPoints: [join(root, 'test/support', script)],
    outfile: path,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['source'],
    external: ['pg-native'],
    logLevel: 'error',
    // The CommonJS clients (pg, ioredis) call require; an ES module bundle has none of its own.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  })
  return { path, dispose: () => removeTempDir(dir) }
}

/**
 * Starts `test/support/<script>` with tsx (source condition), or a bundle from `bundleSupportScript` (an
 * absolute path) with plain node, with `args`; resolves once it printed a line matching `ready`. Its stderr goes
 * to ours.
 */
export async function spawnSupportChild(
  script: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs = 20_000,
): Promise<SupportChild> {
  const command = isAbsolute(script)
    ? [script]
    : ['--import', 'tsx', '--conditions=source', join(root, 'test/support', script)]
  const child = spawn(process.execPath, [...command, ...args], {
    // A bundle runs in its own dir, where the reaper finds it if this process dies without killing it.
    cwd: isAbsolute(script) ? dirname(script) : root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const killed = exited.then(() => {})
  const lines: string[] = []
  let buffered = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8')
    const complete = buffered.split('\n')
    buffered = complete.pop()!
    lines.push(...complete)
  })
  const what = `${script} ${args.join(' ')}`.trim()
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${what} did not print ${ready} within ${timeoutMs} ms`))
    }, timeoutMs)
    const look = () => {
      const found = lines.find((l) => ready.test(l))
      if (found === undefined) return
      clearTimeout(timer)
      child.stdout!.off('data', look)
      resolve(found)
    }
    child.stdout!.on('data', look)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${what} exited (${code ?? signal}) before printing ${ready}`))
    })
  })
  return { child, line, lines, killed, exited }
}

/** Starts test/support/outbox-child.ts in `mode`; resolves with the child once it printed a line matching `ready`. */
export function spawnOutboxChild(
  mode: 'relay' | 'writer',
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs = 20_000,
): Promise<SupportChild> {
  return spawnSupportChild('outbox-child.ts', [mode], env, ready, timeoutMs)
}
