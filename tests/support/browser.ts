import { existsSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * What the browser system tests share: Debian's Chromium (never a download), whether a missing one
 * skips or fails the suite, axe-core in the page, and waiting for a render of the demo page.
 */

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** CI and the README's test command (LOOKALIKE_REQUIRE_BROWSER=1) must run the browser suites. */
export const browserRequired =
  ['true', '1'].includes(process.env.CI ?? '') || process.env.LOOKALIKE_REQUIRE_BROWSER === '1';
export const haveBrowser = existsSync(CHROMIUM);

/** `describe` where the suite must or can run; elsewhere `describe.skip`, with a warning. */
export function describeWithBrowser(name: string, suite: () => void): void {
  if (haveBrowser || browserRequired) {
    describe(name, suite);
    return;
  }
  console.warn(`"${name}" skipped: no Chromium at ${CHROMIUM} (scripts/setup.sh --browser installs it)`);
  describe.skip(name, suite);
}

/** Headless Chromium with the flags this machine and CI need; fails clearly when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!haveBrowser)
    throw new Error(`Chromium is required here but missing at ${CHROMIUM}: run scripts/setup.sh --browser`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** The DOM as the functions run in the page use it (the tests compile without lib.dom). */
interface PageNode {
  dataset: Record<string, string | undefined>;
  getAttribute(name: string): string | null;
  complete?: boolean;
  naturalWidth?: number;
  loading?: string;
}
declare const document: {
  getElementById(id: string): PageNode | null;
  querySelectorAll(selector: string): ArrayLike<PageNode> & Iterable<PageNode>;
};
declare const axe: {
  run(
    context: unknown,
    options: unknown,
  ): Promise<{
    violations: Array<{ id: string; impact: string | null; nodes: Array<{ target: string[] }> }>;
    passes: unknown[];
  }>;
};

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core's serious and critical violations of the page (WCAG 2.1 AA and best practice), injected
 * through the DevTools protocol, which the page's CSP does not block.
 */
export async function axeProblems(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const { violations, passes } = await page.evaluate(() =>
    axe.run(document, {
      resultTypes: ['violations'],
      runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice'],
    }),
  );
  // axe really ran its rules on this page (a broken injection answering nothing would pass).
  expect(passes.length).toBeGreaterThan(10);
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/**
 * Runs `action` and waits for the demo page's render it causes: the page stamps each finished render
 * of #results with its sequence number (data-rendered), so an older view's cards are never taken for
 * the new ones. Then every image matching `images` must load. A navigation loads a new document,
 * whose renders count from 1 again.
 */
export async function afterRender(
  page: Page,
  action: () => Promise<unknown>,
  options: { navigation?: boolean; images?: string } = {},
): Promise<void> {
  const images = options.images ?? '#results img';
  const before = options.navigation
    ? 0
    : await page.evaluate(() => Number(document.getElementById('results')?.dataset.rendered ?? 0));
  await action();
  await page.waitForFunction(
    (seen) => {
      const results = document.getElementById('results');
      return Number(results?.dataset.rendered ?? 0) > seen && results?.getAttribute('aria-busy') === 'false';
    },
    before,
    { timeout: 30_000 },
  );
  await page.$$eval('#results img', (imgs) => imgs.forEach((img) => ((img as PageNode).loading = 'eager')));
  await page.waitForFunction(
    (selector) =>
      [...document.querySelectorAll(selector)].every(
        (img) => img.complete === true && (img.naturalWidth ?? 0) > 0,
      ),
    images,
    { timeout: 30_000 },
  );
}
