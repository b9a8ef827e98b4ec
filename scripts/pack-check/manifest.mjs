// npm's prepack/postpack hooks: the published package.json must not carry the `source` export condition.
// In this repo `source` points the concord/* subpaths at src/*.ts (tsx, vitest, tsc with customConditions);
// in a user's project a `source` condition (a common monorepo setting) would resolve concord to raw .ts in
// node_modules, which node refuses (ERR_UNKNOWN_FILE_EXTENSION) and tsc type-checks under the user's flags.
// prepack strips it and keeps the original beside package.json; postpack puts the original back.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'

const MANIFEST = 'package.json'
const KEPT = 'package.json.dev'

function strip(exports) {
  if (typeof exports !== 'object' || exports === null) return exports
  return Object.fromEntries(
    Object.entries(exports)
      .filter(([key]) => key !== 'source')
      .map(([key, value]) => [key, strip(value)]),
  )
}

const [step] = process.argv.slice(2)
if (step === 'strip') {
  if (existsSync(KEPT)) {
    throw new Error(
      `${KEPT} exists: an earlier pack did not finish; restore it with: node ${process.argv[1]} restore`,
    )
  }
  const text = readFileSync(MANIFEST, 'utf8')
  const manifest = JSON.parse(text)
  manifest.exports = strip(manifest.exports)
  renameSync(MANIFEST, KEPT)
  writeFileSync(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`)
} else if (step === 'restore') {
  if (existsSync(KEPT)) renameSync(KEPT, MANIFEST)
} else {
  throw new Error('usage: manifest.mjs strip|restore')
}
