/**
 * `npm run docs:api`: the API reference (TypeDoc, typedoc.json) of every public subpath, into docs-api/
 * (gitignored). The entry points are package.json's `exports`, so a new subpath is documented without a second
 * list. Fails on any warning, a public export without JSDoc among them (`validation.notDocumented` and
 * `treatWarningsAsErrors` in typedoc.json). Extra arguments go to typedoc (e.g. `--out /tmp/api`).
 */

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { source?: string }>
}
const entryPoints = Object.values(manifest.exports).flatMap((target) =>
  typeof target === 'object' && target.source ? [target.source] : [],
)
const result = spawnSync(
  process.execPath,
  [
    path.join(root, 'node_modules/typedoc/bin/typedoc'),
    ...entryPoints.flatMap((entry) => ['--entryPoints', entry]),
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit' },
)
process.exit(result.status ?? 1)
