/**
 * The demo page's shopper events and "more like this / not like this" (issue 17), in headless Chromium
 * against real processes (Redis, the indexer, the API with an EVENTS_KEY) and a small real catalogue:
 *
 * - the API gives the page its events key in a <meta> tag; after a search by id and a click on a result,
 *   the page's events are in the Redis stream `<QUEUE_PREFIX>:events`: one impression per result at its
 *   position, the click at the result's position, `{ sourceItemId }` as their context, one opaque
 *   session token (the one in sessionStorage); a recommend list's impressions name its `queryId`;
 * - "Not like this" on a result asks POST /v1/recommend with the query item as positive and that result
 *   as negative, and the results change (the API's answer, without that item); the examples show as
 *   chips: "More like this" adds one, a chip's remove button (keyboard) takes one away, "Clear examples"
 *   goes back to the search by id, and Back brings the examples again; after a photo search the photo
 *   (its marked area, cut out in the page, when cropped) is the first positive;
 * - axe-core: no serious or critical violation on the result and examples views; no console error,
 *   page error or failed request throughout.
 *
 * Screenshots go to .data/artifacts/demo-feedback/ (git-ignored). Skipped without Chromium like
 * tests/demo-page.test.ts.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import sharp from 'sharp';
import { eventKeys, parseStreamEntry } from '@lookalike/events';
import {
  apiEnv,
  deleteQueueKeys,
  fashionImagesDir,
  indexerEnv,
  killAllProcesses,
  pollUntil,
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
  complete?: boolean;
  naturalWidth?: number;
  loading?: string;
}
declare const document: {
  getElementById(id: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
  activeElement: PageElement | null;
};
declare const sessionStorage: { getItem(key: string): string | null };

const ARTIFACTS = path.join(repoRoot, '.data', 'artifacts', 'demo-feedback');
/** More items than the 24 results of a view, so that a negative example brings a new item in. */
const ITEMS = 32;
const K = 24;

interface StoredEntry {
  eventId: string;
  type: string;
  itemId: string;
  sourceItemId?: string;
  queryId?: string;
  position: number;
  sessionId: string;
}

/** The result ids on screen, in order. */
function resultIds(page: Page): Promise<string[]> {
  return page.$$eval('#results li.card', (items) => items.map((li) => (li as PageElement).dataset.id ?? ''));
}

/** Runs `action`, waits for the render it causes (results and examples' thumbnails), reads the ids. */
async function after(page: Page, action: () => Promise<unknown>, navigation = false): Promise<string[]> {
  await afterRender(page, action, { navigation, images: '#results img, #examples img' });
  return resultIds(page);
}

describeWithBrowser('demo page: events and feedback (Chromium)', () => {
  const data = tempDir('demo-feedback');
  const prefix = uniquePrefix('demo-feedback');
  const eventsKey = `demo-events-${randomBytes(12).toString('hex')}`;
  const { text, ids } = sampleCsv(ITEMS);
  let indexer: ServiceProcess;
  let api: RunningApi;
  let browser: Browser;
  let page: Page;
  let redis: Redis;
  const problems: string[] = [];
  /** The JSON bodies of the page's POST /v1/recommend requests, in order. */
  const recommends: Array<{ positive: unknown[]; negative?: unknown[]; k?: number }> = [];
  /** The Authorization headers of the page's POST /v1/events requests. */
  const eventAuth: string[] = [];

  /** Every event in the stream `<QUEUE_PREFIX>:events`, oldest first, read as the indexer reads it. */
  async function storedEvents(): Promise<StoredEntry[]> {
    const entries = (await redis.xrange(eventKeys(prefix).stream, '-', '+')) as Array<[string, string[]]>;
    return entries.flatMap(([id, fields]) => {
      const event = parseStreamEntry(id, fields);
      if (!event) throw new Error(`an unreadable stream entry: ${id} ${JSON.stringify(fields)}`);
      return [
        {
          eventId: event.eventId,
          type: event.type,
          itemId: event.itemId,
          ...event.context,
          position: event.position,
          sessionId: event.sessionId,
        },
      ];
    });
  }

  /** Waits until the stream holds events matching `ready`, and returns them all. */
  function eventsWhen(
    ready: (events: StoredEntry[]) => boolean,
    description: string,
  ): Promise<StoredEntry[]> {
    return pollUntil(
      async () => {
        const events = await storedEvents();
        return ready(events) ? events : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, description },
    );
  }

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    const csv = path.join(data.dir, 'catalogue.csv');
    writeFileSync(csv, text);
    const env = indexerEnv({
      redisUrl: sharedRedisUrl,
      prefix,
      dataDir: data.dir,
      catalogueRoot: fashionImagesDir,
      extra: { PUBLISH_DEBOUNCE_MS: '200' },
    });
    redis = new Redis(sharedRedisUrl, { maxRetriesPerRequest: 1 });
    [indexer, api, browser] = await Promise.all([
      startIndexer('indexer', env),
      startApi(
        'api',
        apiEnv({ redisUrl: sharedRedisUrl, prefix, dataDir: data.dir, extra: { EVENTS_KEY: eventsKey } }),
      ),
      launchChromium(),
    ]);
    await importWhole(['--csv', csv, '--images', fashionImagesDir], {
      REDIS_URL: sharedRedisUrl,
      QUEUE_PREFIX: prefix,
    });
    // The page's results are compared with the API's answers: both must see the version at rest.
    await rankingAtRest([indexer], data.dir);

    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (message: ConsoleMessage) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
    });
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (request.method() !== 'POST') return;
      if (url.pathname === '/v1/recommend') recommends.push(request.postDataJSON());
      if (url.pathname === '/v1/events') eventAuth.push(request.headers().authorization ?? '');
    });
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([indexer?.stop(), api?.process.stop()]);
    await killAllProcesses();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    redis?.disconnect();
    data.remove();
  });

  const shot = (name: string) =>
    page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  let sourceId = '';
  let itemResults: string[] = [];
  let clicked = '';

  test('a search by id and a click on a result: impressions and the click are in the event stream', async () => {
    const catalogue = await after(page, () => page.goto(api.url), true);
    expect(catalogue.length).toBe(K);
    // The events key is public by design: the API hands it to its own page.
    expect(await page.getAttribute('meta[name="lookalike-events-key"]', 'content')).toBe(eventsKey);
    // The catalogue is no result list: no feedback buttons there, and no events.
    expect(await page.locator('#results button.feedback').count()).toBe(0);

    sourceId = catalogue[3] as string;
    itemResults = await after(page, () =>
      page.click(`#results li.card[data-id="${sourceId}"] button.card-pick`),
    );
    expect(itemResults.length).toBe(K);
    expect(await page.locator('#results li.card').first().locator('button.feedback').count()).toBe(2);
    expect(await axeProblems(page)).toEqual([]);
    await shot('item');

    // Open the third result: a click at position 2 of the list of sourceId, then its own search.
    clicked = itemResults[2] as string;
    const clickedResults = await after(page, () =>
      page.click(`#results li.card[data-id="${clicked}"] button.card-pick`),
    );

    const events = await eventsWhen(
      (all) =>
        all.some((e) => e.type === 'click') &&
        all.filter((e) => e.type === 'impression' && e.sourceItemId === clicked).length ===
          clickedResults.length,
      'the impressions of both lists and the click',
    );
    const session = await page.evaluate(() => sessionStorage.getItem('lookalike-session'));
    expect(session).toMatch(/^[A-Za-z0-9_.:-]{8,128}$/);
    const impressions = events.filter((e) => e.type === 'impression' && e.sourceItemId === sourceId);
    expect(impressions.map((e) => [e.itemId, e.position])).toEqual(itemResults.map((id, i) => [id, i]));
    const clicks = events.filter((e) => e.type === 'click');
    expect(clicks).toEqual([
      {
        eventId: expect.any(String),
        type: 'click',
        itemId: clicked,
        sourceItemId: sourceId,
        position: 2,
        sessionId: session,
      },
    ]);
    const next = events.filter((e) => e.type === 'impression' && e.sourceItemId === clicked);
    expect(next.map((e) => [e.itemId, e.position])).toEqual(clickedResults.map((id, i) => [id, i]));
    // Nothing else: no events for the catalogue, every event of this one browser session, ids unique.
    expect(events.length).toBe(impressions.length + clicks.length + next.length);
    expect(new Set(events.map((e) => e.sessionId))).toEqual(new Set([session]));
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    expect(new Set(eventAuth)).toEqual(new Set([`Bearer ${eventsKey}`]));
    itemResults = clickedResults;
    sourceId = clicked;
    expect(problems).toEqual([]);
  });

  test('"Not like this": a recommend request with that negative, and results without it', async () => {
    const unwanted = itemResults[0] as string;
    const results = await after(page, () =>
      page.click(`#results li.card[data-id="${unwanted}"] button.feedback[data-feedback="negative"]`),
    );
    expect(recommends.at(-1)).toEqual({ positive: [{ id: sourceId }], negative: [{ id: unwanted }], k: K });
    expect(await page.textContent('#results-heading')).toBe('More like your examples, less like the others');
    // The results change: the unwanted item is gone from them and something new came in.
    expect(results.length).toBe(K);
    expect(results).not.toContain(unwanted);
    expect(results).not.toContain(sourceId);
    expect(results).not.toEqual(itemResults);
    const answer = (await (
      await fetch(`${api.url}/v1/recommend`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ positive: [{ id: sourceId }], negative: [{ id: unwanted }], k: K }),
      })
    ).json()) as { results: Array<{ id: string }> };
    expect(results).toEqual(answer.results.map((r) => r.id));
    // The address holds the examples; the chips show them (the one positive cannot be removed).
    const url = new URL(page.url());
    expect([url.searchParams.getAll('like'), url.searchParams.getAll('unlike')]).toEqual([
      [sourceId],
      [unwanted],
    ]);
    expect(await page.isVisible('#examples')).toBe(true);
    expect(await page.isVisible('#query')).toBe(false);
    expect(
      await page.$$eval('#positive-list li', (lis) => lis.map((li) => (li as PageElement).dataset.id)),
    ).toEqual([sourceId]);
    expect(await page.locator('#positive-list button.example-remove').count()).toBe(0);
    expect(
      await page.$$eval('#negative-list li', (lis) => lis.map((li) => (li as PageElement).dataset.id)),
    ).toEqual([unwanted]);

    // The recommend list's impressions name its queryId.
    const queryId = (await page.getAttribute('#search-info', 'data-query-id')) as string;
    expect(queryId).toMatch(/^[0-9a-f-]{36}$/);
    const events = await eventsWhen(
      (all) => all.filter((e) => e.queryId === queryId).length === results.length,
      'the recommend list’s impressions',
    );
    expect(
      events.filter((e) => e.queryId === queryId).map((e) => [e.type, e.itemId, e.position, e.sourceItemId]),
    ).toEqual(results.map((id, i) => ['impression', id, i, undefined]));
    expect(await axeProblems(page)).toEqual([]);
    await shot('not-like-this');
    // At a phone's width too.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await axeProblems(page)).toEqual([]);
    await shot('not-like-this-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(problems).toEqual([]);
  });

  test('"More like this" adds a positive; a chip is removed by keyboard; "Clear examples" goes back', async () => {
    const before = await resultIds(page);
    const unwanted = new URL(page.url()).searchParams.get('unlike') as string;
    const liked = before[1] as string;
    await after(page, () =>
      page.click(`#results li.card[data-id="${liked}"] button.feedback[data-feedback="positive"]`),
    );
    expect(recommends.at(-1)).toEqual({
      positive: [{ id: sourceId }, { id: liked }],
      negative: [{ id: unwanted }],
      k: K,
    });
    expect(await page.textContent('#results-heading')).toBe('More like your examples, less like the others');
    // Two positives: each can be removed now.
    expect(await page.locator('#positive-list button.example-remove').count()).toBe(2);
    expect(await axeProblems(page)).toEqual([]);
    await shot('more-like-this');

    // The keyboard: focus the negative chip's remove button (named after the item), press Enter.
    const remove = page.locator('#negative-list button.example-remove');
    expect(await remove.textContent()).toContain('Remove');
    const withoutNegative = await after(page, async () => {
      await remove.focus();
      await page.keyboard.press('Enter');
    });
    expect(recommends.at(-1)).toEqual({ positive: [{ id: sourceId }, { id: liked }], negative: [], k: K });
    expect(await page.textContent('#results-heading')).toBe('More like your examples');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('id'))).toBe('examples-heading');
    expect(withoutNegative).not.toContain(liked);
    expect(await page.locator('#negative-list li').count()).toBe(0);
    expect(await page.isVisible('#negative-none')).toBe(true);

    // "Clear examples": back to the search by id the examples started from.
    const cleared = await after(page, () => page.click('#clear-examples'));
    expect(new URL(page.url()).searchParams.get('item')).toBe(sourceId);
    expect(await page.isVisible('#examples')).toBe(false);
    expect(await page.isVisible('#query')).toBe(true);
    expect(cleared).toEqual(itemResults);

    // Back: the examples again, from the address (like/unlike), the same results.
    const back = await after(page, () => page.goBack());
    expect(new URL(page.url()).searchParams.getAll('like')).toEqual([sourceId, liked]);
    expect(await page.isVisible('#examples')).toBe(true);
    expect(back).toEqual(withoutNegative);
    expect(problems).toEqual([]);
  });

  test('a photo search: the photo (its marked area when cropped) is the first example', async () => {
    const photo = path.join(fashionImagesDir, `${ids[0] as string}.jpg`);
    const photoResults = await after(page, () => page.setInputFiles('#photo', photo));
    expect(await page.textContent('#results-heading')).toBe('Most similar to your photo');
    const photoQuery = (await page.getAttribute('#search-info', 'data-query-id')) as string;

    const unwanted = photoResults[1] as string;
    const results = await after(page, () =>
      page.click(`#results li.card[data-id="${unwanted}"] button.feedback[data-feedback="negative"]`),
    );
    const whole = recommends.at(-1) as { positive: Array<{ imageBase64?: string }>; negative: unknown[] };
    expect(whole.negative).toEqual([{ id: unwanted }]);
    expect(whole.positive).toEqual([{ imageBase64: expect.stringMatching(/^data:image\/jpeg;base64,/) }]);
    // The photo's own bytes.
    const sent = Buffer.from((whole.positive[0]?.imageBase64 as string).split(',')[1] as string, 'base64');
    expect(sent.equals(readFileSync(photo))).toBe(true);
    expect(results).not.toContain(unwanted);
    expect(results).not.toEqual(photoResults);
    expect(await page.locator('#positive-list li[data-photo="true"]').count()).toBe(1);
    expect(new URL(page.url()).searchParams.getAll('unlike')).toEqual([unwanted]);
    // Impressions: the photo list and the recommend list, each by its queryId.
    const recommendQuery = (await page.getAttribute('#search-info', 'data-query-id')) as string;
    expect(recommendQuery).not.toBe(photoQuery);
    await eventsWhen(
      (all) =>
        all.filter((e) => e.queryId === photoQuery && e.type === 'impression').length ===
          photoResults.length &&
        all.filter((e) => e.queryId === recommendQuery && e.type === 'impression').length === results.length,
      'the impressions of the photo list and of its recommend list',
    );

    // A marked area: the left half of the photo is sent, cut out in the page.
    await after(page, () => page.click('#clear-examples'));
    await page.click('#crop-numbers summary');
    await after(page, async () => {
      await page.fill('#crop-x', '0');
      await page.fill('#crop-y', '0');
      await page.fill('#crop-w', '50');
      await page.fill('#crop-h', '100');
      await page.press('#crop-h', 'Enter');
    });
    const cropped = await resultIds(page);
    await after(page, () =>
      page.click(
        `#results li.card[data-id="${cropped[1] as string}"] button.feedback[data-feedback="negative"]`,
      ),
    );
    const area = recommends.at(-1) as { positive: Array<{ imageBase64: string }> };
    const part = await sharp(
      Buffer.from(area.positive[0]?.imageBase64.split(',')[1] as string, 'base64'),
    ).metadata();
    const full = await sharp(photo).metadata();
    expect([part.format, part.width, part.height]).toEqual([
      'jpeg',
      Math.round((full.width as number) / 2),
      full.height,
    ]);
    expect(await page.textContent('#positive-list li[data-photo="true"]')).toContain('marked area');
    expect(await axeProblems(page)).toEqual([]);
    await shot('photo-examples');
    expect(problems).toEqual([]);
  });
});
