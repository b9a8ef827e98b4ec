import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** What a snippet program did: its exit code (or signal), and everything it printed. */
export interface SnippetRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * Runs a docs snippet (a path under docs/snippets/) as a reader would: a program of its own, importing concord by
 * its public names (resolved to src/ through the `source` condition), its servers given in `env`. SIGKILLs it
 * after `timeoutMs`, so a snippet that hangs fails its test rather than the run.
 */
export function runSnippet(
  file: string,
  env: Record<string, string> = {},
  timeoutMs = 45_000,
): Promise<SnippetRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', join(root, file)], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8')
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8')
  })
  const timer = setTimeout(() => {
    stderr += `\n(killed after ${timeoutMs} ms)`
    child.kill('SIGKILL')
  }, timeoutMs)
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}
