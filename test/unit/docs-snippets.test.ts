import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { checkDocs, regionOf } from '../../scripts/docs/check-snippets.js'

const root = path.resolve(import.meta.dirname, '../..')

describe('docs: code blocks are snippet regions, links resolve', () => {
  it('the repository has no docs problem (run `npx tsx scripts/docs/check-snippets.ts --write` to resync blocks)', () => {
    expect(checkDocs(root).map((p) => `${p.file}:${p.line}: ${p.message}`)).toEqual([])
  })
})

describe('check-snippets on a made-up repository', () => {
  let dir: string | undefined
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
    dir = undefined
  })

  const snippet = [
    "import { createCache } from 'concord/cache'",
    '',
    'async function main() {',
    '  // #region make',
    "  const cache = createCache({ name: 'prices' })",
    '  // #region inner',
    "  await cache.getOrLoad('p1', async () => 1)",
    '  // #endregion inner',
    '  // #endregion make',
    '}',
    '',
  ].join('\n')

  function repo(markdown: string): string {
    dir = mkdtempSync(path.join(tmpdir(), 'docs-check-'))
    mkdirSync(path.join(dir, 'docs/snippets'), { recursive: true })
    writeFileSync(path.join(dir, 'docs/snippets/a.ts'), snippet)
    writeFileSync(path.join(dir, 'docs/guide.md'), markdown)
    writeFileSync(path.join(dir, 'docs/other.md'), '# other\n')
    return dir
  }
  const messages = (d: string) => checkDocs(d).map((p) => `${p.file}:${p.line}: ${p.message}`)

  it('reads a region without its markers and common indentation, and a whole file without any marker', () => {
    expect(regionOf(snippet, 'make')).toBe(
      "const cache = createCache({ name: 'prices' })\nawait cache.getOrLoad('p1', async () => 1)",
    )
    expect(regionOf(snippet, 'missing')).toBeUndefined()
    expect(regionOf(snippet)).not.toMatch(/#region|#endregion/)
    expect(regionOf(snippet)?.split('\n')).toHaveLength(6)
  })

  it('accepts a marked block equal to its region, links that exist and code that is not ts/js', () => {
    const d = repo(
      [
        '# guide [other](other.md) [section](#guide) [site](https://example.org) ![shot](snippets/a.ts)',
        '<!-- snippet: docs/snippets/a.ts#make -->',
        '```ts',
        "const cache = createCache({ name: 'prices' })",
        "await cache.getOrLoad('p1', async () => 1)",
        '```',
        '```sh',
        'npm install concord',
        '```',
      ].join('\n'),
    )
    expect(messages(d)).toEqual([])
  })

  it('fails a ts block with no marker, a missing file or region, a drifted block and a dead link', () => {
    const d = repo(
      [
        '```ts',
        'const x = 1',
        '```',
        '<!-- snippet: docs/snippets/gone.ts#make -->',
        '```ts',
        '```',
        '<!-- snippet: docs/snippets/a.ts#nope -->',
        '```ts',
        '```',
        '<!-- snippet: docs/snippets/a.ts#make -->',
        '```ts',
        "const cache = createCache({ name: 'stale' })",
        "await cache.getOrLoad('p1', async () => 1)",
        '```',
        'See [the missing page](missing.md#x) and `[not a link](in-code.md)`.',
      ].join('\n'),
    )
    expect(messages(d)).toEqual([
      'docs/guide.md:1: a ts block with no <!-- snippet: docs/snippets/...#region --> marker before it',
      'docs/guide.md:5: snippet marker names docs/snippets/gone.ts, which does not exist',
      'docs/guide.md:8: snippet marker names region "nope" of docs/snippets/a.ts, which has no // #region nope ... // #endregion nope',
      `docs/guide.md:11: block differs from docs/snippets/a.ts#make: line 1 of the block: snippet has "const cache = createCache({ name: 'prices' })", block has "const cache = createCache({ name: 'stale' })"`,
      'docs/guide.md:15: link to missing.md#x, which does not exist',
    ])
  })

  it('--write copies the region into a drifted block, after which the check passes', () => {
    const d = repo(['<!-- snippet: docs/snippets/a.ts#inner -->', '```ts', 'old text', '```', ''].join('\n'))
    expect(messages(d)).toHaveLength(1)
    expect(checkDocs(d, { write: true })).toEqual([])
    expect(readFileSync(path.join(d, 'docs/guide.md'), 'utf8')).toBe(
      [
        '<!-- snippet: docs/snippets/a.ts#inner -->',
        '```ts',
        "await cache.getOrLoad('p1', async () => 1)",
        '```',
        '',
      ].join('\n'),
    )
  })
})
