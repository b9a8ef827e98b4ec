/**
 * Keeps the docs honest: every TypeScript/JavaScript code block in README.md and docs/**\/*.md is a region of a
 * real file under docs/snippets/ (which `npm run typecheck` compiles and test/integration/docs-*.test.ts run),
 * and every relative link in the repository's markdown names a file that exists.
 *
 * A block is tied to its source by an HTML comment on the line right before the fence:
 *   <!-- snippet: docs/snippets/getting-started/cache.ts#share -->   (a region: `// #region share` ... `// #endregion share`)
 *   <!-- snippet: docs/snippets/getting-started/cache.ts -->         (the whole file, region markers removed)
 *
 * `npx tsx scripts/docs/check-snippets.ts` lists the problems (exit 1 when there are any);
 * `--write` first copies each marked region into its block, so editing the snippet file is enough.
 * test/unit/docs-snippets.test.ts runs the check in CI.
 */

import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** One thing wrong in a markdown file, with its 1-based line. */
export interface DocProblem {
  file: string
  line: number
  message: string
}

/** Fence languages whose blocks must come from a snippet file. */
const CODE_LANGUAGES = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs', 'tsx', 'mts'])
const MARKER = /^\s*<!--\s*snippet:\s*(\S+?)\s*-->\s*$/
const FENCE = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)/
const REGION_START = /^\s*\/\/\s*#region\s+(\S+)/
const REGION_END = /^\s*\/\/\s*#endregion(?:\s+(\S+))?/

/** A fenced block of a markdown file: its language, its text and where it starts. */
interface Fence {
  language: string
  /** 0-based index of the opening fence line. */
  open: number
  /** 0-based index of the closing fence line. */
  close: number
  text: string
  /** The marker comment right before it, if any. */
  marker?: string
}

function fencesOf(lines: string[]): Fence[] {
  const fences: Fence[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!)
    if (!open) continue
    const [, indent, ticks] = open
    let close = i + 1
    while (close < lines.length && !lines[close]!.trimStart().startsWith(ticks!)) close++
    const body = lines
      .slice(i + 1, close)
      .map((line) => (line.startsWith(indent!) ? line.slice(indent!.length) : line))
    const marker = i > 0 ? MARKER.exec(lines[i - 1]!)?.[1] : undefined
    fences.push({ language: open[3]!.toLowerCase(), open: i, close, text: body.join('\n'), marker })
    i = close
  }
  return fences
}

/** Removes the indentation every non-blank line shares, and blank lines at both ends. */
export function dedent(lines: string[]): string {
  let start = 0
  let end = lines.length
  while (start < end && lines[start]!.trim() === '') start++
  while (end > start && lines[end - 1]!.trim() === '') end--
  const kept = lines.slice(start, end)
  const indents = kept.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length)
  const common = indents.length ? Math.min(...indents) : 0
  return kept.map((l) => l.slice(common).trimEnd()).join('\n')
}

/**
 * The text of `region` in `source` (the whole file when `region` is undefined), without any region marker lines;
 * undefined when the region is not there.
 */
export function regionOf(source: string, region?: string): string | undefined {
  const lines = source.split(/\r?\n/)
  const isMarker = (line: string) => REGION_START.test(line) || REGION_END.test(line)
  if (region === undefined) return dedent(lines.filter((l) => !isMarker(l)))
  const start = lines.findIndex((l) => REGION_START.exec(l)?.[1] === region)
  if (start < 0) return undefined
  const end = lines.findIndex((l, i) => i > start && REGION_END.exec(l)?.[1] === region)
  if (end < 0) return undefined
  return dedent(lines.slice(start + 1, end).filter((l) => !isMarker(l)))
}

/** The first line where two texts differ, for a message that says where a block drifted. */
function firstDifference(expected: string, actual: string): string {
  const a = expected.split('\n')
  const b = actual.split('\n')
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i])
      return `line ${i + 1} of the block: snippet has ${JSON.stringify(a[i] ?? '(end)')}, block has ${JSON.stringify(b[i] ?? '(end)')}`
  }
  return 'same text'
}

/** Links `[text](target)` and `![alt](target)` outside code, plus `<img src="...">`; targets only. */
function linksOf(lines: string[], fences: Fence[]): { line: number; target: string }[] {
  const inFence = new Set<number>()
  for (const f of fences) for (let i = f.open; i <= f.close; i++) inFence.add(i)
  const links: { line: number; target: string }[] = []
  lines.forEach((text, i) => {
    if (inFence.has(i)) return
    const prose = text.replace(/`[^`]*`/g, '')
    for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ line: i + 1, target: m[1]! })
    }
    for (const m of prose.matchAll(/<img\s[^>]*src="([^"]+)"/g)) links.push({ line: i + 1, target: m[1]! })
  })
  return links
}

function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#') || target.startsWith('//')
}

/** The markdown files whose code blocks must be snippets: README.md and docs/**\/*.md. */
export function snippetDocs(root: string): string[] {
  const found: string[] = []
  if (existsSync(path.join(root, 'README.md'))) found.push('README.md')
  const walk = (dir: string) => {
    const full = path.join(root, dir)
    if (!existsSync(full)) return
    for (const name of readdirSync(full).sort()) {
      const rel = path.posix.join(dir, name)
      if (statSync(path.join(root, rel)).isDirectory()) walk(rel)
      else if (name.endsWith('.md')) found.push(rel)
    }
  }
  walk('docs')
  return found
}

/** Every markdown file of the repository (tracked or new, not ignored), for the link check. */
export function allMarkdown(root: string): string[] {
  try {
    const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.md'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    return out
      .split('\n')
      .filter((f) => f && existsSync(path.join(root, f)))
      .sort()
  } catch {
    // Not a git checkout (the packed package): the docs alone.
    return snippetDocs(root)
  }
}

/** Checks one markdown file; with `write`, first rewrites drifted blocks from their regions. */
export function checkMarkdown(
  root: string,
  file: string,
  options: { snippets: boolean; write?: boolean },
): DocProblem[] {
  const problems: DocProblem[] = []
  const full = path.join(root, file)
  let lines = readFileSync(full, 'utf8').split('\n')
  const problem = (line: number, message: string) => problems.push({ file, line, message })

  if (options.snippets) {
    let fences = fencesOf(lines)
    if (options.write) {
      // From the last block up, so earlier line numbers stay valid while blocks change length.
      let changed = false
      for (const f of [...fences].reverse()) {
        if (!f.marker) continue
        const wanted = resolveMarker(root, f.marker)
        if (typeof wanted !== 'string' || wanted === f.text) continue
        const indent = /^\s*/.exec(lines[f.open]!)![0]
        lines.splice(f.open + 1, f.close - f.open - 1, ...wanted.split('\n').map((l) => (l ? indent + l : l)))
        changed = true
      }
      if (changed) {
        writeFileSync(full, lines.join('\n'))
        lines = readFileSync(full, 'utf8').split('\n')
        fences = fencesOf(lines)
      }
    }
    for (const f of fences) {
      const line = f.open + 1
      if (!f.marker) {
        if (CODE_LANGUAGES.has(f.language)) {
          problem(
            line,
            `a ${f.language} block with no <!-- snippet: docs/snippets/...#region --> marker before it`,
          )
        }
        continue
      }
      const wanted = resolveMarker(root, f.marker)
      if (typeof wanted !== 'string') problem(line, wanted.error)
      else if (wanted !== dedent(f.text.split('\n'))) {
        problem(
          line,
          `block differs from ${f.marker}: ${firstDifference(wanted, dedent(f.text.split('\n')))}`,
        )
      }
    }
  }

  for (const link of linksOf(lines, fencesOf(lines))) {
    if (isExternal(link.target)) continue
    const target = decodeURIComponent(link.target.split('#')[0]!.split('?')[0]!)
    const resolved = target.startsWith('/') ? path.join(root, target) : path.join(path.dirname(full), target)
    if (!existsSync(resolved)) problem(link.line, `link to ${link.target}, which does not exist`)
    else if (!path.relative(root, resolved) || path.relative(root, resolved).startsWith('..')) {
      problem(link.line, `link to ${link.target}, outside the repository`)
    }
  }
  return problems
}

/** The text a marker names, or why it cannot be found. */
function resolveMarker(root: string, marker: string): string | { error: string } {
  const [file, region] = marker.split('#') as [string, string | undefined]
  const full = path.join(root, file)
  if (!existsSync(full)) return { error: `snippet marker names ${file}, which does not exist` }
  const text = regionOf(readFileSync(full, 'utf8'), region)
  if (text === undefined) {
    return {
      error: `snippet marker names region "${region}" of ${file}, which has no // #region ${region} ... // #endregion ${region}`,
    }
  }
  return text
}

/** Every problem of the repository's docs: snippet blocks in README.md and docs/, links in every markdown file. */
export function checkDocs(root: string, options: { write?: boolean } = {}): DocProblem[] {
  const withSnippets = new Set(snippetDocs(root))
  const files = [...new Set([...withSnippets, ...allMarkdown(root)])]
  return files.flatMap((file) =>
    checkMarkdown(root, file, { snippets: withSnippets.has(file), write: options.write }),
  )
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
  const problems = checkDocs(root, { write: process.argv.includes('--write') })
  for (const p of problems) console.error(`${p.file}:${p.line}: ${p.message}`)
  console.log(
    problems.length
      ? `${problems.length} docs problem(s)`
      : 'docs: every code block is a snippet, every link resolves',
  )
  process.exit(problems.length ? 1 : 0)
}
