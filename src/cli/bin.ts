#!/usr/bin/env node
import { run } from './main.js'

// The `concord` command. SIGTERM / SIGINT abort long-running commands (relay), which then stop gracefully.
const stop = new AbortController()
process.once('SIGTERM', () => stop.abort())
process.once('SIGINT', () => stop.abort())
const code = await run(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  signal: stop.signal,
})
process.exitCode = code
