import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Starts test/support/outbox-child.ts in `mode`; resolves with the child once it printed a line matching `ready`. */
export function spawnOutboxChild(
  mode: 'relay' | 'writer',
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs = 20_000,
): Promise<{ child: ChildProcess; line: string; killed: Promise<void> }> {
  return spawnChild('test/support/outbox-child.ts', mode, env, ready, timeoutMs)
}

/** Starts a child script (path from the repository root) in `mode`; resolves once it printed a line matching `ready`. */
export async function spawnChild(
  script: string,
  mode: string,
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs = 20_000,
): Promise<{ child: ChildProcess; line: string; killed: Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=source', join(root, script), mode],
    { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const killed = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const line = await new Promise<string>((resolve, reject) => {
    let buffered = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${script} (${mode}) did not print ${ready} within ${timeoutMs} ms`))
    }, timeoutMs)
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8')
      for (const l of buffered.split('\n')) {
        if (ready.test(l)) {
          clearTimeout(timer)
          resolve(l)
        }
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${script} (${mode}) exited (${code ?? signal}) before printing ${ready}`))
    })
  })
  return { child, line, killed }
}
