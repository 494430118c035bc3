/**
 * The demo page as a shop would show it (issue 18), in headless Chromium at a laptop size (1366×900)
 * and a phone size (390×844), against real processes (Redis, the indexer, the API) and a small real
 * catalogue whose CSV also has `price` and `url` columns:
 *
 * - result cards with title, price, product link and a quiet similarity badge, the metadata under a
 *   details toggle, no model name above the footer;
 * - upload a generated photo (two catalogue photos side by side, made with sharp in a temp dir), draw
 *   a crop box on it with the mouse: the request carries `crop` and the results become those of the
 *   photo on the left;
 * - click a result (search by id), filter, facet counts that are those of the results on screen;
 * - the address holds item, filter and k: Back restores the previous results and address, a shared
 *   address reproduces the view, and a photo search that cannot come back (reload) says so;
 * - layout facts (no zero-width inputs, a readable query caption, the first result on the first phone
 *   screen) and axe-core with no serious or critical violation on every view.
 *
 * Screenshots go to .data/artifacts/demo/ (git-ignored; CI may keep them). The assertions are about
 * layout facts, not pixels. Skipped without Chromium like tests/demo-page.test.ts.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import sharp from 'sharp';
import {
  apiEnv,
  deleteQueueKeys,
  fashionImagesDir,
  indexerEnv,
  killAllProcesses,
  rankingAtRest,
  repoRoot,
  importWhole,
  sampleCsv,
  sharedRedisUrl,
  startApi,
  startIndexer,
  tempDir,
  uniquePrefix,
  type RunningApi,
  type ServiceProcess,
} from './support';
import { afterRender, axeProblems, describeWithBrowser, launchChromium } from './support/browser';

jest.setTimeout(300_000);

/** The DOM shapes the functions run in the page use (the tests compile without lib.dom). */
interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
  closest(selector: string): PageElement | null;
  checkVisibility(): boolean;
  getBoundingClientRect(): { width: number; height: number; top: number; bottom: number; left: number };
  complete?: boolean;
  naturalWidth?: number;
  loading?: string;
  id: string;
}
declare const document: {
  getElementById(id: string): PageElement | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
};
declare function getComputedStyle(element: PageElement): { lineHeight: string };
declare const window: { innerHeight: number; innerWidth: number; scrollY: number };

const ARTIFACTS = path.join(repoRoot, '.data', 'artifacts', 'demo');
const ITEMS = 40;

interface CardInfo {
  id: string;
  metadata: Record<string, string>;
  similarity: number | null;
  title: string;
  price: string | null;
  link: string | null;
}

function cards(page: Page): Promise<CardInfo[]> {
  return page.$$eval('#results li.card', (items) =>
    items.map((li) => {
      const element = li as PageElement;
      const badge = element.querySelector('.similarity');
      return {
        id: element.dataset.id ?? '',
        metadata: JSON.parse(element.dataset.metadata ?? '{}') as Record<string, string>,
        similarity: badge ? Number(badge.dataset.similarity) : null,
        title: element.querySelector('.card-title')?.textContent ?? '',
        price: element.querySelector('.card-price')?.textContent ?? null,
        link: element.querySelector('a.card-link')?.getAttribute('href') ?? null,
      };
    }),
  );
}

/** Runs `action`, waits for the render it causes (tests/support/browser.ts), and reads the cards. */
async function after(page: Page, action: () => Promise<unknown>, navigation = false): Promise<CardInfo[]> {
  await afterRender(page, action, { navigation });
  return cards(page);
}

/**
 * Layout facts that broke before: every visible text box, number box and select has a width, and the
 * query caption (when shown) is at least 120 px wide and no taller than three lines (at 390 px it was
 * 0 px wide, one letter per line).
 */
async function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    // checkVisibility(): false inside a closed <details> or under display: none, where there is no box
    // to measure; a visually hidden input (1 px) is still measured.
    for (const input of document.querySelectorAll('input, select, textarea')) {
      if (!input.checkVisibility()) continue;
      if (input.getBoundingClientRect().width <= 0) problems.push(`#${input.id} has no width`);
    }
    const caption = document.getElementById('query-caption') as PageElement;
    if (caption.checkVisibility() && caption.textContent) {
      const box = caption.getBoundingClientRect();
      const line = parseFloat(getComputedStyle(caption).lineHeight) || 24;
      if (box.width < 120) problems.push(`query caption only ${box.width}px wide`);
      if (box.height > line * 3 + 1) problems.push(`query caption ${box.height}px high (${line}px lines)`);
    }
    return problems;
  });
}

/** The first result's image lies wholly inside the first screen (no scrolling), measured from the top. */
async function firstResultOnFirstScreen(
  page: Page,
): Promise<{ top: number; bottom: number; screen: number }> {
  return page.evaluate(() => {
    const img = document.querySelector('#results li.card .card-pick') as PageElement;
    const box = img.getBoundingClientRect();
    return { top: box.top + window.scrollY, bottom: box.bottom + window.scrollY, screen: window.innerHeight };
  });
}

/** The facet counts the page shows: field → value → count, from the chips. */
function shownCounts(page: Page): Promise<Record<string, Record<string, number>>> {
  return page.$$eval('#facets button.chip', (chips) => {
    const counts: Record<string, Record<string, number>> = {};
    for (const chip of chips as PageElement[]) {
      const { field, value, count } = chip.dataset;
      (counts[field as string] ??= {})[value as string] = Number(count);
    }
    return counts;
  });
}

function countsOf(results: CardInfo[], fields: string[]): Record<string, Record<string, number>> {
  const counts: Record<string, Record<string, number>> = {};
  for (const field of fields) {
    for (const r of results) {
      const value = r.metadata[field];
      if (value === undefined) continue;
      (counts[field] ??= {})[value] = (counts[field]?.[value] ?? 0) + 1;
    }
  }
  return counts;
}

/**
 * Records the text fields of every multipart body the page sends to POST /v1/similar (Chromium does not
 * report the body of a request that carries a file). Installed before the page's own scripts through
 * the DevTools protocol, which the page's CSP does not govern.
 */
const RECORD_SIMILAR_FORMS = `(() => {
  const original = window.fetch;
  window.__similarForms = [];
  window.fetch = (input, init) => {
    if (String(input).endsWith('/v1/similar') && init && init.body instanceof FormData) {
      window.__similarForms.push(
        Object.fromEntries([...init.body].filter(([, value]) => typeof value === 'string')),
      );
    }
    return original(input, init);
  };
})();`;

/** The `crop` field of the last multipart POST /v1/similar the page sent, as four numbers, or null. */
async function lastCrop(page: Page): Promise<number[] | null> {
  const forms = await page.evaluate('window.__similarForms');
  const last = (forms as Array<Record<string, string>>).at(-1);
  expect(last).toBeDefined();
  return last?.crop ? last.crop.split(',').map(Number) : null;
}

const VIEWPORTS = [
  { name: 'desktop', width: 1366, height: 900 },
  { name: 'phone', width: 390, height: 844 },
] as const;

describeWithBrowser('demo page as a product (Chromium)', () => {
  const data = tempDir('demo-product');
  const prefix = uniquePrefix('demo-product');
  const { text, ids } = sampleCsv(ITEMS);
  let indexer: ServiceProcess;
  let api: RunningApi;
  let browser: Browser;
  /** Two catalogue photos side by side: left `left`, right `right` (different article types). */
  let composite: string;
  let left: string;
  let right: string;
  /** An item whose `url` is a javascript: URL: it must not become a link. */
  const unsafeId = ids[5] as string;

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    // price and url columns beside the sample's own (the demo's default field names).
    const lines = text.trimEnd().split('\n');
    const rows = lines.slice(1).map((line, i) => {
      const id = ids[i] as string;
      const url = id === unsafeId ? 'javascript:alert(1)' : `https://shop.example.com/p/${id}`;
      return `${line},${(19 + i * 1.5).toFixed(2)},${url}`;
    });
    const csv = path.join(data.dir, 'catalogue.csv');
    writeFileSync(csv, [`${lines[0]},price,url`, ...rows].join('\n') + '\n');

    const env = indexerEnv({
      redisUrl: sharedRedisUrl,
      prefix,
      dataDir: data.dir,
      catalogueRoot: fashionImagesDir,
      extra: { PUBLISH_DEBOUNCE_MS: '200' },
    });
    [indexer, api, browser] = await Promise.all([
      startIndexer('indexer', env),
      startApi('api', apiEnv({ redisUrl: sharedRedisUrl, prefix, dataDir: data.dir })),
      launchChromium(),
    ]);
    await importWhole(['--csv', csv, '--images', fashionImagesDir], {
      REDIS_URL: sharedRedisUrl,
      QUEUE_PREFIX: prefix,
    });
    // The page is compared with the API's answers: both must see the version at rest.
    await rankingAtRest([indexer], data.dir);

    // The composite query photo: two catalogue photos of different article types, side by side, each
    // 240×320 on white, written to the temp dir (never into the repo).
    const items = (await (await fetch(`${api.url}/v1/items?limit=${ITEMS}`)).json()) as {
      items: Array<{ id: string; metadata: Record<string, string> }>;
    };
    const first = items.items[0] as { id: string; metadata: Record<string, string> };
    const other =
      items.items.find(
        (item) =>
          item.metadata.articleType !== first.metadata.articleType &&
          item.metadata.masterCategory !== first.metadata.masterCategory,
      ) ?? (items.items[items.items.length - 1] as { id: string });
    left = first.id;
    right = other.id;
    const tile = (id: string) =>
      sharp(path.join(fashionImagesDir, `${id}.jpg`))
        .resize(240, 320, { fit: 'contain', background: '#ffffff' })
        .toBuffer();
    composite = path.join(data.dir, 'two-items.jpg');
    await sharp({ create: { width: 480, height: 320, channels: 3, background: '#ffffff' } })
      .composite([
        { input: await tile(left), left: 0, top: 0 },
        { input: await tile(right), left: 240, top: 0 },
      ])
      .jpeg({ quality: 92 })
      .toFile(composite);
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([indexer?.stop(), api?.process.stop()]);
    await killAllProcesses();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    data.remove();
  });

  describe.each(VIEWPORTS)('$name ($width×$height)', (viewport) => {
    let context: BrowserContext;
    let page: Page;
    const problems: string[] = [];
    const shot = (name: string) =>
      page.screenshot({ path: path.join(ARTIFACTS, `${viewport.name}-${name}.png`), fullPage: true });
    /** Layout and axe on the view on screen (a failure names the view). */
    async function checkView(view: string) {
      expect({ view, layout: await layoutProblems(page) }).toEqual({ view, layout: [] });
      expect({ view, axe: await axeProblems(page) }).toEqual({ view, axe: [] });
      await shot(view);
    }
    let cropped: CardInfo[] = [];
    let itemResults: CardInfo[] = [];
    let itemUrl = '';

    beforeAll(async () => {
      context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height } });
      await context.addInitScript(RECORD_SIMILAR_FORMS);
      page = await context.newPage();
      page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
      page.on('console', (message: ConsoleMessage) => {
        if (message.type() === 'error') problems.push(`console: ${message.text()}`);
      });
      page.on('response', (response) => {
        if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
      });
    });
    afterAll(async () => {
      await context?.close();
    });

    test('catalogue: shop cards (title, price, link, details), no model name above the footer', async () => {
      const catalogue = await after(page, () => page.goto(api.url), true);
      expect(catalogue.length).toBe(24);
      for (const c of catalogue) {
        expect(c.title).toBe(c.metadata.productDisplayName);
        expect(c.price).toBe(Number(c.metadata.price).toFixed(2));
        // Only http(s) links; the javascript: URL of one item is shown as no link at all.
        expect(c.link).toBe(c.id === unsafeId ? null : `https://shop.example.com/p/${c.id}`);
        expect(c.similarity).toBeNull();
      }
      expect(catalogue.map((c) => c.id)).toContain(unsafeId);
      // The metadata is behind a closed <details> per card; no raw rows in the card face.
      expect(await page.locator('#results li.card details.card-details:not([open])').count()).toBe(24);
      expect(await page.locator('#results li.card .facts').first().isVisible()).toBe(false);
      const model = ((await (await fetch(`${api.url}/v1/index`)).json()) as { model: string }).model;
      expect(await page.textContent('header')).not.toContain(model);
      expect(await page.textContent('main')).not.toContain(model);
      expect(await page.textContent('footer')).toContain(model);
      // Catalogue view: the counts are the catalogue's.
      const fields = (await (await fetch(`${api.url}/v1/index/fields`)).json()) as {
        fields: Array<{ name: string; values: Array<{ value: string; count: number }> }>;
      };
      const gender = fields.fields.find((f) => f.name === 'gender');
      const shown = await shownCounts(page);
      expect(shown.gender).toEqual(Object.fromEntries(gender!.values.map((v) => [v.value, v.count])));
      if (viewport.name === 'phone') {
        // Filters folded into one line; the first result on the first screen.
        expect(await page.getAttribute('#filters', 'open')).toBeNull();
        const first = await firstResultOnFirstScreen(page);
        expect(first.bottom).toBeLessThanOrEqual(first.screen);
      } else {
        expect(await page.getAttribute('#filters', 'open')).toBe('');
      }
      await checkView('catalogue');
    });

    test('upload a photo, then draw a crop box: the request carries crop, the results are the left photo’s', async () => {
      const full = await after(page, () => page.setInputFiles('#photo', composite));
      expect(await lastCrop(page)).toBeNull();
      expect(await page.textContent('#results-heading')).toBe('Most similar to your photo');
      expect(full.length).toBe(24);
      for (const c of full) expect(c.similarity).toEqual(expect.any(Number));
      // The address holds no photo (it cannot), and the page says so.
      expect(new URL(page.url()).search).toBe('');
      await checkView('upload');
      expect(await page.isVisible('#upload-note')).toBe(true);
      if (viewport.name === 'phone') {
        // With the photo panel open too, the first result still starts on the first screen.
        const first = await firstResultOnFirstScreen(page);
        expect(first.bottom).toBeLessThanOrEqual(first.screen);
      }

      // Draw the left 47 % of the photo (its left tile) with the mouse.
      const stage = page.locator('#crop-stage');
      await stage.scrollIntoViewIfNeeded();
      const box = (await stage.boundingBox())!;
      expect(box.width).toBeGreaterThan(60);
      cropped = await after(page, async () => {
        await page.mouse.move(box.x + box.width * 0.01, box.y + box.height * 0.02);
        await page.mouse.down();
        await page.mouse.move(box.x + box.width * 0.25, box.y + box.height * 0.5, { steps: 4 });
        await page.mouse.move(box.x + box.width * 0.47, box.y + box.height * 0.98, { steps: 4 });
        await page.mouse.up();
      });
      const crop = await lastCrop(page);
      expect(crop).not.toBeNull();
      const [x, y, w, h] = crop as [number, number, number, number];
      expect([x, y]).toEqual([expect.closeTo(0.01, 1), expect.closeTo(0.02, 1)]);
      expect([w, h]).toEqual([expect.closeTo(0.46, 1), expect.closeTo(0.96, 1)]);
      expect(await page.textContent('#results-heading')).toBe(
        'Most similar to the marked area of your photo',
      );
      expect(await page.isVisible('#crop-box')).toBe(true);
      // The region is the left photo: it comes first, and the results are not the whole photo's.
      expect(cropped[0]?.id).toBe(left);
      expect(cropped.map((c) => c.id)).not.toEqual(full.map((c) => c.id));
      await checkView('crop');

      // The keyboard way: the numeric inputs, laid out with a width, search the area typed.
      await page.click('#crop-numbers summary');
      expect(await layoutProblems(page)).toEqual([]);
      expect(await page.inputValue('#crop-w')).toBe(String(Math.round(w * 100)));
      const rightResults = await after(page, async () => {
        await page.fill('#crop-x', '52');
        await page.fill('#crop-y', '0');
        await page.fill('#crop-w', '48');
        await page.fill('#crop-h', '100');
        await page.press('#crop-h', 'Enter');
      });
      expect(await lastCrop(page)).toEqual([0.52, 0, 0.48, 1]);
      expect(rightResults[0]?.id).toBe(right);
      await checkView('crop-numbers');
      // Back to the drawn crop for the steps below (the numbers again, the same request as the mouse's).
      cropped = await after(page, async () => {
        await page.fill('#crop-x', String(Math.round(x * 100)));
        await page.fill('#crop-y', String(Math.round(y * 100)));
        await page.fill('#crop-w', String(Math.round(w * 100)));
        await page.fill('#crop-h', String(Math.round(h * 100)));
        await page.press('#crop-h', 'Enter');
      });
      expect(cropped[0]?.id).toBe(left);
      await page.click('#crop-numbers summary');
    });

    test('click a result: search by id, with the item in the address', async () => {
      const picked = cropped[1] as CardInfo;
      itemResults = await after(page, () =>
        page.click(`#results li.card[data-id="${picked.id}"] button.card-pick`),
      );
      itemUrl = page.url();
      expect(new URL(itemUrl).searchParams.get('item')).toBe(picked.id);
      expect(await page.textContent('#results-heading')).toBe(
        `Most similar to ${picked.metadata.productDisplayName}`,
      );
      const answer = (await (await fetch(`${api.url}/v1/items/${picked.id}/similar?k=24`)).json()) as {
        results: Array<{ id: string }>;
      };
      expect(itemResults.map((r) => r.id)).toEqual(answer.results.map((r) => r.id));
      // Result-view counts are those of the results on screen, not the catalogue's.
      const shown = await shownCounts(page);
      expect(Object.keys(shown)).toContain('gender');
      expect(shown).toEqual(countsOf(itemResults, Object.keys(shown)));
      if (viewport.name === 'phone') {
        const first = await firstResultOnFirstScreen(page);
        expect(first.bottom).toBeLessThanOrEqual(first.screen);
      }
      await checkView('item');
    });

    test('filter: a chip filters the results, goes into the address, and the counts follow', async () => {
      if (viewport.name === 'phone') await page.click('#filters summary');
      const shown = await shownCounts(page);
      // The most frequent gender in these results that is not all of them.
      const [value] = Object.entries(shown.gender ?? {}).sort((a, b) => b[1] - a[1])[0] as [string, number];
      const filtered = await after(page, () =>
        page.click(`#facets fieldset[data-field="gender"] button.chip[data-value="${value}"]`),
      );
      expect(await page.getAttribute(`#facets button.chip[data-value="${value}"]`, 'aria-pressed')).toBe(
        'true',
      );
      const url = new URL(page.url());
      expect(url.searchParams.getAll('f.gender')).toEqual([value]);
      const id = url.searchParams.get('item') as string;
      const answer = (await (
        await fetch(`${api.url}/v1/items/${id}/similar?k=24&filter=${encodeURIComponent(`gender:${value}`)}`)
      ).json()) as { results: Array<{ id: string }> };
      expect(filtered.map((r) => r.id)).toEqual(answer.results.map((r) => r.id));
      for (const r of filtered) expect(r.metadata.gender).toBe(value);
      expect((await shownCounts(page)).gender).toEqual({ [value]: filtered.length });
      expect(await page.textContent('#filters-active')).toBe('1 active');
      await checkView('filtered');
    });

    test('Back restores the previous results and address; again Back, the cropped photo search', async () => {
      const back = await after(page, () => page.goBack());
      expect(page.url()).toBe(itemUrl);
      expect(back.map((r) => r.id)).toEqual(itemResults.map((r) => r.id));
      expect(await page.locator('#facets button.chip[aria-pressed="true"]').count()).toBe(0);
      await checkView('back-item');

      // The photo search before it: this page still holds the photo (and its crop).
      const sent = ((await page.evaluate('window.__similarForms.length')) as number) + 1;
      const photo = await after(page, () => page.goBack());
      expect(await page.evaluate('window.__similarForms.length')).toBe(sent);
      expect(await lastCrop(page)).not.toBeNull();
      expect(photo.map((r) => r.id)).toEqual(cropped.map((r) => r.id));
      expect(await page.textContent('#results-heading')).toBe(
        'Most similar to the marked area of your photo',
      );

      // A reload cannot bring a photo back: the page says so and shows the catalogue.
      await after(page, () => page.reload(), true);
      expect(await page.textContent('#results-heading')).toBe('Catalogue');
      expect(await page.isVisible('#notice')).toBe(true);
      expect(await page.textContent('#notice')).toContain('photos are not kept in the address');
      await checkView('reloaded-photo');
    });

    test('a shared address reproduces the view: item, filter and k', async () => {
      const id = itemResults[0]?.id as string;
      const gender = itemResults[0]?.metadata.gender as string;
      const shared = `${api.url}/?item=${encodeURIComponent(id)}&k=12&f.gender=${encodeURIComponent(gender)}`;
      const other = await context.newPage();
      try {
        const results = await after(other, () => other.goto(shared), true);
        const answer = (await (
          await fetch(
            `${api.url}/v1/items/${id}/similar?k=12&filter=${encodeURIComponent(`gender:${gender}`)}`,
          )
        ).json()) as { results: Array<{ id: string }> };
        expect(results.map((r) => r.id)).toEqual(answer.results.map((r) => r.id));
        expect(await other.inputValue('#k')).toBe('12');
        expect(
          await other.getAttribute(
            `#facets button.chip[data-field="gender"][data-value="${gender}"]`,
            'aria-pressed',
          ),
        ).toBe('true');
        // A filtered catalogue that fits on one page: the counts are those of the items shown.
        const catalogue = await after(
          other,
          () => other.goto(`${api.url}/?k=48&f.gender=${encodeURIComponent(gender)}`),
          true,
        );
        expect(await other.textContent('#results-heading')).toBe('Catalogue');
        expect(catalogue.length).toBeGreaterThan(0);
        for (const c of catalogue) expect(c.metadata.gender).toBe(gender);
        const counts = await shownCounts(other);
        expect(counts).toEqual(countsOf(catalogue, Object.keys(counts)));
        expect(await other.textContent('#facets-note')).toBe('Counts are for the results shown.');
        // An older link form still works and is rewritten to the current one.
        await after(other, () => other.goto(`${api.url}/#item=${encodeURIComponent(id)}`), true);
        expect(new URL(other.url()).searchParams.get('item')).toBe(id);
        expect(new URL(other.url()).hash).toBe('');
      } finally {
        await other.close();
      }
      expect(problems).toEqual([]);
    });
  });
});
