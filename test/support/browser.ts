import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium, type Page } from 'playwright-core'

/** Debian's chromium (the setup script installs the `chromium` package). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Launches Debian's chromium headless through playwright-core (no browser download). The flags keep it from
 * phoning home or starting background services on a shared test machine.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no chromium at ${CHROMIUM}: run scripts/setup.sh (apt-get install chromium)`)
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/** Where the docs' screenshots live (docs/images/, committed; docs/README.md and the README show them). */
const DOCS_IMAGES = fileURLToPath(new URL('../../docs/images/', import.meta.url))

/**
 * Rewrites docs/images/<name>.png from `page` when the run sets CONCORD_DOCS_SCREENSHOTS=1 (a PNG differs in its
 * bytes on every run, so an ordinary test run leaves the committed pictures alone; refresh them on purpose with
 * `CONCORD_DOCS_SCREENSHOTS=1 npx vitest run test/e2e/dashboard-live.test.ts test/e2e/verify-short.test.ts`).
 * The docs link to them, so the docs check fails if one goes missing. Returns the path written, or undefined.
 * `fullPage: false` keeps only the viewport: for a long page whose top says what it is (the package ships the
 * pictures, and a full verify report is ~1 MB of PNG).
 */
export async function saveDocsScreenshot(
  page: Page,
  name: string,
  { fullPage = true }: { fullPage?: boolean } = {},
): Promise<string | undefined> {
  if (process.env.CONCORD_DOCS_SCREENSHOTS !== '1') return undefined
  mkdirSync(DOCS_IMAGES, { recursive: true })
  const path = join(DOCS_IMAGES, `${name}.png`)
  await page.screenshot({ path, fullPage })
  return path
}
