/**
 * The shop widget (<lookalike-similar>, <lookalike-similar-upload>, packages/widget) in a real
 * browser — Debian's headless Chromium driven by playwright-core — against real processes: Redis,
 * the indexer and the API (built: it serves the bundled /widget/lookalike.js) on one data dir with 24
 * photos of the fashion sample (read in place from ../shared), each given a price and a product URL.
 *
 * Two more loopback servers play shops on other origins: one listed in the API's CORS_ORIGINS, one
 * not. Checked at 1366×900 and 390×844: the example shop page renders k results with titles, prices,
 * links and lazy thumbnails as the API answers them; layout facts (columns, nothing wider than the
 * viewport, every input wider than 0); axe-core finds nothing serious or critical; Tab reaches the
 * results with a visible focus ring and Enter follows the link and emits lookalike-click; the upload
 * variant searches by a generated photo; a shop on an allowed origin gets results, one on another
 * origin a polite message and a lookalike-error event; with the API stopped, a polite message too.
 * Shopper events (the API runs with EVENTS_KEY): with events="on" each shown list is one POST of
 * impressions and each click one more, read back from the Redis stream `<prefix>:events` (positions,
 * context, one session per tab), on the example page and from the allowed shop (CORS, keepalive across
 * the click's navigation); without the attribute nothing is posted; a wrong key is a lookalike-error
 * EVENTS_FAILED without a retry, a 503 one retry with the same eventIds.
 * Screenshots go to artifacts/widget/ (gitignored; CI may keep them); the test asserts layout facts,
 * never pixels.
 *
 * Needs /usr/bin/chromium (`scripts/setup.sh --browser`); skipped where it is missing, except under
 * CI=true or LOOKALIKE_REQUIRE_BROWSER=1, as tests/demo-page.test.ts.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { eventKeys, parseStreamEntry, QUERY_ID_PATTERN, type StoredEvent } from '@lookalike/events';
import { Redis } from 'ioredis';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
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
import { describeWithBrowser, launchChromium } from './support/browser';

jest.setTimeout(300_000);

const ARTIFACTS = path.join(repoRoot, 'artifacts', 'widget');
const WIDGET_BUNDLE = path.join(repoRoot, 'packages/widget/dist/lookalike.js');
const AXE_SOURCE = path.join(path.dirname(require.resolve('axe-core')), 'axe.min.js');
const ITEMS = 24;
const K = 8;
/** The API's EVENTS_KEY: what a shop page gives the widget as events-key (public by design). */
const EVENTS_KEY = 'widget-test-events-key-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const VIEWPORTS = [
  { name: 'desktop', width: 1366, height: 900 },
  { name: 'phone', width: 390, height: 844 },
] as const;

/** What the widget shows, read from its (open) shadow root; layout in CSS pixels of the viewport. */
interface WidgetState {
  found: boolean;
  busy: string | null;
  status: string;
  state: string | undefined;
  statusShown: boolean;
  listRole: string;
  items: Array<{
    id: string;
    href: string | null;
    title: string;
    price: string | null;
    alt: string;
    loading: string;
    x: number;
    y: number;
    width: number;
    height: number;
  }>;
}

/**
 * Runs in the page (a string, so the Node-typed test needs no DOM types): the state of the widget
 * element that `selector` finds.
 */
const READ_WIDGET = `(selector) => {
  const host = document.querySelector(selector);
  const root = host && host.shadowRoot;
  if (!root) return { found: false, busy: null, status: '', state: undefined, statusShown: false, listRole: '', items: [] };
  const status = root.querySelector('[role=status]');
  const list = root.querySelector('ul');
  const box = status.getBoundingClientRect();
  return {
    found: true,
    busy: root.querySelector('section').getAttribute('aria-busy'),
    status: status.textContent,
    state: status.dataset.state,
    statusShown: box.width > 1 && box.height > 1,
    listRole: list.tagName.toLowerCase() + '>' + [...list.children].map((c) => c.tagName.toLowerCase()).join(','),
    items: [...root.querySelectorAll('li')].map((li) => {
      const a = li.querySelector('a');
      const img = li.querySelector('img');
      const r = li.getBoundingClientRect();
      return {
        id: li.dataset.id,
        href: a ? a.href : null,
        title: li.querySelector('.title').textContent,
        price: li.querySelector('.price') ? li.querySelector('.price').textContent : null,
        alt: img.alt,
        loading: img.loading,
        x: r.left, y: r.top, width: r.width, height: r.height,
      };
    }),
  };
}`;

/** A drawn "photo" (sharp), nothing from the catalogue: a blue shirt-ish shape on white. */
async function drawnPhoto(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="320">
    <rect width="240" height="320" fill="#fff"/><path d="M40 60 L90 30 L150 30 L200 60 L180 110 L170 100
    L170 300 L70 300 L70 100 L60 110 Z" fill="#1f4e9c"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg().toBuffer();
}

function widgetState(page: Page, selector: string): Promise<WidgetState> {
  return page.evaluate(`(${READ_WIDGET})(${JSON.stringify(selector)})`) as Promise<WidgetState>;
}

/**
 * Waits until the widget is done (not busy) with results or with an error, and returns what it shows.
 * Polled from here: waitForFunction with a string would need 'unsafe-eval', which the example page's
 * CSP (rightly) refuses.
 */
function settled(page: Page, selector: string, expect: 'results' | 'error'): Promise<WidgetState> {
  return pollUntil(
    async () => {
      const state = await widgetState(page, selector);
      const done =
        state.busy === 'false' && (expect === 'results' ? state.items.length > 0 : state.state === 'error');
      return done ? state : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, description: `the widget ${selector} showing ${expect}` },
  );
}

interface Recorded {
  type: string;
  detail: Record<string, unknown>;
}

/** Every element of the page with a box, in the document and in open shadow roots: inputs and text boxes. */
const INPUT_WIDTHS = `(() => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('input, textarea, select')) {
      out.push({ name: el.id || el.type, width: el.getBoundingClientRect().width });
    }
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return out;
})()`;

interface Shop {
  server: Server;
  origin: string;
}

/**
 * A pretend shop on its own loopback port (so its own origin): a product page per id, a page that
 * embeds the widget from the API (the merchant's two lines) and one that self-hosts a copy of the
 * bundle with an explicit `api` attribute.
 */
async function startShop(api: () => string): Promise<Shop> {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://shop');
    const html = (body: string) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>${body}`);
    };
    const product = /^\/product\/([A-Za-z0-9_.:-]+)$/.exec(url.pathname);
    if (product)
      return html(`</head><body><main><h1 id="product">Product ${product[1]}</h1></main></body></html>`);
    const item = url.searchParams.get('item') ?? '';
    if (url.pathname === '/embed.html') {
      // No api attribute: the widget talks to the API it was loaded from. ?events= and ?events-key=
      // become the widget's attributes of the same names (shopper events).
      const events = ['events', 'events-key']
        .filter((name) => /^[A-Za-z0-9_.:-]+$/.test(url.searchParams.get(name) ?? ''))
        .map((name) => ` ${name}="${url.searchParams.get(name)}"`)
        .join('');
      return html(
        `<script type="module" src="${api()}/widget/lookalike.js"></script></head><body><main><h1>Shop</h1>` +
          `<lookalike-similar id="w" item-id="${item}" k="${K}" price-field="price" currency="EUR"${events}>` +
          `</lookalike-similar></main></body></html>`,
      );
    }
    if (url.pathname === '/self-hosted.html') {
      // ?api= and ?key= pick another API and its read key (the read-protected deployment).
      const base = url.searchParams.get('api') ?? api();
      const key = url.searchParams.get('key');
      return html(
        `<script type="module" src="/lookalike.js"></script></head><body><main><h1>Shop</h1>` +
          `<lookalike-similar id="w" api="${base}" item-id="${item}" k="${K}"` +
          `${key ? ` api-key="${key}"` : ''}></lookalike-similar>` +
          `</main></body></html>`,
      );
    }
    if (url.pathname === '/lookalike.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      return response.end(readFileSync(WIDGET_BUNDLE));
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describeWithBrowser('shop widget in headless Chromium', () => {
  const data = tempDir('widget');
  const prefix = uniquePrefix('widget');
  const { text, ids } = sampleCsv(ITEMS);
  const productId = ids[3] as string;
  let indexer: ServiceProcess;
  let api: RunningApi;
  let browser: Browser;
  let allowed: Shop;
  let refused: Shop;
  let titles: Map<string, string>;
  let redis: Redis;
  const events: Recorded[] = [];
  /** Uncaught exceptions in any page: the widget must never throw, whatever the API does. */
  const pageErrors: string[] = [];

  /** A page in a fresh context that records the widget's events (they survive navigations). */
  async function openPage(viewport: {
    width: number;
    height: number;
  }): Promise<{ page: Page; context: BrowserContext }> {
    const context = await browser.newContext({ viewport });
    await context.exposeFunction('__recordLookalike', (type: string, detail: Record<string, unknown>) => {
      events.push({ type, detail });
    });
    await context.addInitScript(`for (const type of ['lookalike-impression', 'lookalike-click', 'lookalike-error'])
      document.addEventListener(type, (event) => window.__recordLookalike(type, event.detail));`);
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
    return { page, context };
  }

  /** The shopper events in the API's stream (`<prefix>:events`), oldest first; `session` keeps one session's. */
  async function storedEvents(session?: string): Promise<StoredEvent[]> {
    const raw = (await redis.xrange(eventKeys(prefix).stream, '-', '+')) as Array<[string, string[]]>;
    return raw
      .map(([id, fields]) => parseStreamEntry(id, fields))
      .filter((event): event is StoredEvent => event !== null)
      .filter((event) => session === undefined || event.sessionId === session);
  }

  /** Waits until `pick` finds `count` events in the stream (no more), and returns them. */
  function eventsStored(
    pick: (event: StoredEvent) => boolean,
    count: number,
    description: string,
  ): Promise<StoredEvent[]> {
    return pollUntil(
      async () => {
        const found = (await storedEvents()).filter(pick);
        if (found.length > count) throw new Error(`${description}: ${found.length} events, not ${count}`);
        return found.length === count ? found : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100, description },
    );
  }

  /** The bodies of the page's POST /v1/events requests, as they are made. */
  function eventPosts(page: Page): Array<{ events: Array<Record<string, unknown>> }> {
    const posts: Array<{ events: Array<Record<string, unknown>> }> = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/v1/events') {
        posts.push(JSON.parse(request.postData() ?? '{}') as { events: Array<Record<string, unknown>> });
      }
    });
    return posts;
  }

  async function apiSimilar(id: string): Promise<string[]> {
    const answer = (await (await fetch(`${api.url}/v1/items/${id}/similar?k=${K}`)).json()) as {
      results: Array<{ id: string }>;
    };
    return answer.results.map((hit) => hit.id);
  }

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    redis = new Redis(sharedRedisUrl, { maxRetriesPerRequest: 1 });
    mkdirSync(ARTIFACTS, { recursive: true });
    const apiUrl = () => api.url;
    [allowed, refused] = await Promise.all([startShop(apiUrl), startShop(apiUrl)]);
    const env = indexerEnv({
      redisUrl: sharedRedisUrl,
      prefix,
      dataDir: data.dir,
      catalogueRoot: fashionImagesDir,
      extra: { PUBLISH_DEBOUNCE_MS: '200' },
    });
    [indexer, api, browser] = await Promise.all([
      startIndexer('indexer', env),
      startApi(
        'api',
        apiEnv({
          redisUrl: sharedRedisUrl,
          prefix,
          dataDir: data.dir,
          // Only the first shop may call the API from its pages; the second is refused by the browser.
          // No rate limit: two viewports of thumbnails are many requests from one IP in a minute.
          // EVENTS_KEY: shopper events need it (the widget's events-key).
          extra: { CORS_ORIGINS: allowed.origin, RATE_LIMIT_MAX: '0', EVENTS_KEY },
        }),
      ),
      launchChromium(),
    ]);

    // The sample's rows plus a price and the product's URL in the allowed shop: the fields the widget maps.
    const lines = text.trimEnd().split('\n');
    const csv = [
      `${lines[0]},price,url`,
      ...lines.slice(1).map((line, i) => {
        const id = line.split(',')[0] as string;
        return `${line},${19 + ((i * 7) % 60)}.99,${allowed.origin}/product/${id}`;
      }),
    ];
    const csvPath = path.join(data.dir, 'shop.csv');
    writeFileSync(csvPath, csv.join('\n') + '\n');
    await importWhole(['--csv', csvPath, '--images', fashionImagesDir], {
      REDIS_URL: sharedRedisUrl,
      QUEUE_PREFIX: prefix,
    });
    // The answers the widget is compared with must come from the version it is served from.
    const version = await rankingAtRest([indexer], data.dir);
    await pollUntil(
      async () =>
        ((await (await fetch(`${api.url}/v1/index`)).json()) as { version?: number }).version === version,
      { timeoutMs: 30_000, description: 'the API serving the version at rest' },
    );
    titles = new Map(
      lines.slice(1).map((line) => {
        const cells = line.split(',');
        return [cells[0] as string, cells[6] as string];
      }),
    );
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([indexer?.stop(), api?.process.stop()]);
    await killAllProcesses();
    await Promise.all([allowed, refused].map((shop) => shop && new Promise((r) => shop.server.close(r))));
    await deleteQueueKeys(sharedRedisUrl, prefix);
    redis?.disconnect();
    data.remove();
  });

  test('the API serves the bundle with an ETag, caching and CORS for module scripts', async () => {
    const response = await fetch(`${api.url}/widget/lookalike.js`, { headers: { origin: refused.origin } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('public, max-age=300');
    // Any shop may load the script (a module script is a CORS fetch); its API calls are another matter.
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    const body = await response.text();
    expect(body).toBe(readFileSync(WIDGET_BUNDLE, 'utf8'));
    expect(body).not.toMatch(/^\s*import\s/m); // one self-contained module
    const tag = response.headers.get('etag') as string;
    expect(tag).toBeTruthy();
    const again = await fetch(`${api.url}/widget/lookalike.js`, { headers: { 'if-none-match': tag } });
    expect(again.status).toBe(304);
    const example = await fetch(`${api.url}/examples/shop.html`);
    expect(example.status).toBe(200);
    expect(example.headers.get('content-security-policy')).toContain("script-src 'self'");
    // The item routes the widget reads answer the allowed shop with CORS headers, not the other one.
    const similar = `${api.url}/v1/items/${productId}/similar?k=2`;
    const yes = await fetch(similar, { headers: { origin: allowed.origin } });
    expect(yes.headers.get('access-control-allow-origin')).toBe(allowed.origin);
    const no = await fetch(similar, { headers: { origin: refused.origin } });
    expect(no.headers.get('access-control-allow-origin')).toBeNull();
  });

  for (const viewport of VIEWPORTS) {
    describe(`${viewport.name} ${viewport.width}×${viewport.height}`, () => {
      let page: Page;
      let context: BrowserContext;

      beforeAll(async () => {
        ({ page, context } = await openPage(viewport));
      });
      afterAll(async () => {
        await context?.close();
      });

      test('the example shop page shows k similar items as the API answers them: titles, prices, links, lazy thumbnails', async () => {
        events.length = 0;
        await page.goto(`${api.url}/examples/shop.html?item=${productId}`);
        const shown = await settled(page, '#similar', 'results');
        expect(shown.items.map((item) => item.id)).toEqual(await apiSimilar(productId));
        expect(shown.items).toHaveLength(K);
        expect(shown.listRole).toBe(`ul>${Array(K).fill('li').join(',')}`);
        expect(shown.status).toBe(`${K} similar items`);
        for (const item of shown.items) {
          expect(item).toMatchObject({
            title: titles.get(item.id),
            alt: titles.get(item.id),
            href: `${allowed.origin}/product/${item.id}`,
            loading: 'lazy',
          });
          expect(item.price).toMatch(/^\d+\.99$/);
        }
        expect(await page.textContent('#product-title')).toBe(titles.get(productId));
        const impression = await pollUntil(
          async () => events.find((e) => e.type === 'lookalike-impression' && e.detail.itemId === productId),
          { timeoutMs: 5000, description: 'a lookalike-impression event' },
        );
        expect(impression.detail).toMatchObject({
          source: 'item',
          results: shown.items.map((item, i) => ({ id: item.id, position: i + 1 })),
        });

        // Layout facts, not pixels: cards side by side in rows, nothing wider than the viewport.
        const rows = new Map<number, number>();
        for (const item of shown.items) rows.set(Math.round(item.y), (rows.get(Math.round(item.y)) ?? 0) + 1);
        const columns = Math.max(...rows.values());
        if (viewport.width >= 1000) expect(columns).toBeGreaterThanOrEqual(4);
        else expect(columns).toBeGreaterThanOrEqual(2);
        for (const item of shown.items) {
          expect(item.width).toBeGreaterThan(100);
          expect(item.x).toBeGreaterThanOrEqual(0);
          expect(item.x + item.width).toBeLessThanOrEqual(viewport.width);
        }
        const overflow = (await page.evaluate(
          '[document.documentElement.scrollWidth, window.innerWidth]',
        )) as [number, number];
        expect(overflow[0]).toBeLessThanOrEqual(overflow[1]);
        const inputs = (await page.evaluate(INPUT_WIDTHS)) as Array<{ name: string; width: number }>;
        expect(inputs.length).toBeGreaterThan(0);
        for (const input of inputs) expect([input.name, input.width > 0]).toEqual([input.name, true]);

        // The thumbnails load from the API once in view (lazy).
        await page.locator('#similar li').first().scrollIntoViewIfNeeded();
        await pollUntil(
          () =>
            page.evaluate(`(() => { const img = document.querySelector('#similar').shadowRoot.querySelector('img');
               return img.complete && img.naturalWidth > 0; })()`) as Promise<boolean>,
          { timeoutMs: 30_000, intervalMs: 100, description: 'the first thumbnail' },
        );
        await page.screenshot({ path: path.join(ARTIFACTS, `shop-${viewport.name}.png`), fullPage: true });
        expect(pageErrors).toEqual([]);
      });

      test('axe-core: no serious or critical violation on the example page (widget included)', async () => {
        await page.evaluate(readFileSync(AXE_SOURCE, 'utf8'));
        const violations = (await page.evaluate(
          `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({
             id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target) })))`,
        )) as Array<{ id: string; impact: string; targets: unknown }>;
        expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
      });

      test('keyboard: Tab reaches the first result with a visible focus ring; Enter follows its link and emits lookalike-click', async () => {
        events.length = 0;
        const first = (await widgetState(page, '#similar')).items[0]!;
        await page.focus('.buy');
        let reached = false;
        for (let i = 0; i < 5 && !reached; i++) {
          await page.keyboard.press('Tab');
          reached = (await page.evaluate(
            `(() => { const a = document.activeElement.shadowRoot && document.activeElement.shadowRoot.activeElement;
               return !!a && a.matches('a.card'); })()`,
          )) as boolean;
        }
        expect(reached).toBe(true);
        const focus = await page.evaluate(`(() => {
          const a = document.querySelector('#similar').shadowRoot.activeElement;
          return { id: a.closest('li').dataset.id, visible: a.matches(':focus-visible'), outline: getComputedStyle(a).outlineStyle };
        })()`);
        expect(focus).toEqual({ id: first.id, visible: true, outline: 'solid' });
        await Promise.all([
          page.waitForURL(`${allowed.origin}/product/${first.id}`),
          page.keyboard.press('Enter'),
        ]);
        expect(await page.textContent('#product')).toBe(`Product ${first.id}`);
        const click = await pollUntil(async () => events.find((e) => e.type === 'lookalike-click'), {
          timeoutMs: 5000,
          description: 'a lookalike-click event',
        });
        expect(click.detail).toEqual({
          source: 'item',
          itemId: productId,
          queryId: expect.stringMatching(QUERY_ID_PATTERN),
          id: first.id,
          position: 1,
          url: `${allowed.origin}/product/${first.id}`,
        });
      });

      test('upload: a photo set on the file input is searched with POST /v1/similar', async () => {
        await page.goto(`${api.url}/examples/shop.html?item=${productId}`);
        await settled(page, '#similar', 'results');
        events.length = 0;
        const photo = await drawnPhoto();
        await page.setInputFiles('#by-photo input[type=file]', {
          name: 'look.jpg',
          mimeType: 'image/jpeg',
          buffer: photo,
        });
        const shown = await settled(page, '#by-photo', 'results');
        const form = new FormData();
        form.set('k', String(K));
        form.set('image', new Blob([photo], { type: 'image/jpeg' }), 'look.jpg');
        const answer = (await (
          await fetch(`${api.url}/v1/similar`, { method: 'POST', body: form })
        ).json()) as {
          results: Array<{ id: string }>;
        };
        expect(shown.items.map((item) => item.id)).toEqual(answer.results.map((hit) => hit.id));
        expect(shown.items).toHaveLength(K);
        for (const item of shown.items) expect(item.title).toBe(titles.get(item.id));
        const impression = await pollUntil(
          async () => events.find((e) => e.type === 'lookalike-impression' && e.detail.source === 'upload'),
          { timeoutMs: 5000, description: 'the upload impression' },
        );
        expect(impression.detail.itemId).toBeNull();

        // Not an image: the widget says so politely and reports the API's code.
        events.length = 0;
        await page.setInputFiles('#by-photo input[type=file]', {
          name: 'notes.jpg',
          mimeType: 'image/jpeg',
          buffer: Buffer.from('not a photo at all'),
        });
        const refusedPhoto = await settled(page, '#by-photo', 'error');
        expect(refusedPhoto).toMatchObject({ items: [], statusShown: true });
        expect(refusedPhoto.status).toBe(
          'That photo could not be used. Please try a JPEG, PNG or WebP image.',
        );
        const error = await pollUntil(async () => events.find((e) => e.type === 'lookalike-error'), {
          timeoutMs: 5000,
          description: 'a lookalike-error event',
        });
        expect(error.detail).toMatchObject({ source: 'upload', status: expect.any(Number) });
        expect(error.detail.status as number).toBeGreaterThanOrEqual(400);
        await page.screenshot({ path: path.join(ARTIFACTS, `upload-${viewport.name}.png`), fullPage: true });
        expect(pageErrors).toEqual([]);
      });
    });
  }

  test('an unknown item: a polite message and lookalike-error ITEM_NOT_FOUND', async () => {
    const { page, context } = await openPage({ width: 1366, height: 900 });
    try {
      events.length = 0;
      await page.goto(`${api.url}/examples/shop.html?item=no-such-item`);
      const shown = await settled(page, '#similar', 'error');
      expect(shown).toMatchObject({
        items: [],
        statusShown: true,
        status: 'No similar items for this product yet.',
      });
      const error = await pollUntil(async () => events.find((e) => e.type === 'lookalike-error'), {
        timeoutMs: 5000,
        description: 'a lookalike-error event',
      });
      expect(error.detail).toMatchObject({
        source: 'item',
        itemId: 'no-such-item',
        status: 404,
        code: 'ITEM_NOT_FOUND',
      });
      expect(pageErrors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test('a shop on another origin: works when CORS_ORIGINS lists it, a polite error when it does not', async () => {
    const { page, context } = await openPage({ width: 1366, height: 900 });
    try {
      await page.goto(`${allowed.origin}/embed.html?item=${productId}`);
      const shown = await settled(page, '#w', 'results');
      // No api attribute: the API is the origin the module came from.
      expect(shown.items.map((item) => item.id)).toEqual(await apiSimilar(productId));
      // currency="EUR": the price field formatted as money.
      for (const item of shown.items) expect(item.price).toMatch(/^€\d+\.99$/);
      await page.screenshot({ path: path.join(ARTIFACTS, 'cross-origin-allowed.png'), fullPage: true });

      // The shop changes the product (client-side navigation): the widget searches again by itself.
      const other = ids[10] as string;
      await page.evaluate(`document.querySelector('#w').setAttribute('item-id', ${JSON.stringify(other)})`);
      const expected = await apiSimilar(other);
      const again = await pollUntil(
        async () => {
          const state = await widgetState(page, '#w');
          return state.busy === 'false' && state.items.map((item) => item.id).join() === expected.join()
            ? state
            : undefined;
        },
        { timeoutMs: 30_000, description: 'the results for the new item-id' },
      );
      expect(again.items).toHaveLength(K);
      // Without an item the element takes no room.
      await page.evaluate(`document.querySelector('#w').removeAttribute('item-id')`);
      await pollUntil(
        async () => ((await page.evaluate(`document.querySelector('#w').offsetHeight`)) as number) === 0,
        {
          timeoutMs: 5000,
          description: 'the empty widget collapsed',
        },
      );

      events.length = 0;
      await page.goto(`${refused.origin}/embed.html?item=${productId}`);
      const blocked = await settled(page, '#w', 'error');
      expect(blocked).toMatchObject({
        items: [],
        statusShown: true,
        status: 'Similar items are unavailable right now. Please try again later.',
      });
      const error = await pollUntil(async () => events.find((e) => e.type === 'lookalike-error'), {
        timeoutMs: 5000,
        description: 'a lookalike-error event',
      });
      // The browser hides the refused answer: no status reaches the page.
      expect(error.detail).toMatchObject({ source: 'item', status: null, code: 'NETWORK' });
      await page.screenshot({ path: path.join(ARTIFACTS, 'cross-origin-refused.png'), fullPage: true });
      expect(pageErrors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test('a deployment with read keys (API_KEY_READS): the api-key attribute reads results and thumbnails', async () => {
    const key = 'widget-test-read-key-0123456789';
    const keyed = await startApi(
      'api-keyed',
      apiEnv({
        redisUrl: sharedRedisUrl,
        prefix,
        dataDir: data.dir,
        extra: { CORS_ORIGINS: allowed.origin, RATE_LIMIT_MAX: '0', API_KEY: key, API_KEY_READS: 'true' },
      }),
    );
    const { page, context } = await openPage({ width: 1366, height: 900 });
    try {
      const base = `${allowed.origin}/self-hosted.html?item=${productId}&api=${encodeURIComponent(keyed.url)}`;
      await page.goto(`${base}&key=${key}`);
      const shown = await settled(page, '#w', 'results');
      expect(shown.items.map((item) => item.id)).toEqual(await apiSimilar(productId));
      // An <img> cannot send the key: the thumbnails are fetched with it and shown as blob: URLs.
      await pollUntil(
        () =>
          page.evaluate(`[...document.querySelector('#w').shadowRoot.querySelectorAll('img')].every(
            (img) => img.src.startsWith('blob:') && img.complete && img.naturalWidth > 0)`) as Promise<boolean>,
        { timeoutMs: 30_000, description: 'every thumbnail loaded with the key' },
      );

      events.length = 0;
      await page.goto(base);
      const refusedWithoutKey = await settled(page, '#w', 'error');
      expect(refusedWithoutKey.status).toBe(
        'Similar items are unavailable right now. Please try again later.',
      );
      const error = await pollUntil(async () => events.find((e) => e.type === 'lookalike-error'), {
        timeoutMs: 5000,
        description: 'a lookalike-error event',
      });
      expect(error.detail).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
      expect(pageErrors).toEqual([]);
    } finally {
      await context.close();
      await keyed.process.stop();
    }
  });

  test('events="on": one batch of impressions per list (sourceItemId, or the upload\'s queryId) and clicks reach the event stream; without it nothing is posted', async () => {
    // Every test before this one showed results without the events attribute: nothing was posted.
    expect(await storedEvents()).toEqual([]);
    const { page, context } = await openPage({ width: 1366, height: 900 });
    const posts = eventPosts(page);
    try {
      events.length = 0;
      await page.goto(`${api.url}/examples/shop.html?item=${productId}`);
      await settled(page, '#similar', 'results');
      await pollUntil(async () => events.find((e) => e.type === 'lookalike-impression'), {
        timeoutMs: 5000,
        description: 'the impression event of the page without events',
      });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(posts).toEqual([]);
      expect(await storedEvents()).toEqual([]);

      // The example page turns events on with ?events=on&events-key=<EVENTS_KEY>.
      events.length = 0;
      await page.goto(`${api.url}/examples/shop.html?item=${productId}&events=on&events-key=${EVENTS_KEY}`);
      const shown = await settled(page, '#similar', 'results');
      const session = (await page.evaluate(`sessionStorage.getItem('lookalike-session')`)) as string;
      expect(session).toMatch(UUID);
      const impressions = await eventsStored(
        (e) => e.type === 'impression' && 'sourceItemId' in e.context,
        K,
        'the impressions of the list',
      );
      // Stored in the batch's order: the items as shown, positions 0..k-1, one session, fresh ids.
      expect(impressions.map((e) => [e.itemId, e.position])).toEqual(
        shown.items.map((item, index) => [item.id, index]),
      );
      for (const e of impressions) {
        expect(e).toMatchObject({ context: { sourceItemId: productId }, sessionId: session });
        expect(e.eventId).toMatch(UUID);
        expect(Math.abs(Date.parse(e.timestamp) - Date.now())).toBeLessThan(60_000);
      }
      expect(new Set(impressions.map((e) => e.eventId)).size).toBe(K);
      expect(posts).toHaveLength(1);
      expect(posts[0]!.events).toHaveLength(K);

      // The upload variant names its list by the answer's queryId (also in its impression event).
      await page.setInputFiles('#by-photo input[type=file]', {
        name: 'look.jpg',
        mimeType: 'image/jpeg',
        buffer: await drawnPhoto(),
      });
      const byPhoto = await settled(page, '#by-photo', 'results');
      const uploadImpression = await pollUntil(
        async () => events.find((e) => e.type === 'lookalike-impression' && e.detail.source === 'upload'),
        { timeoutMs: 5000, description: 'the upload impression event' },
      );
      const queryId = uploadImpression.detail.queryId as string;
      expect(queryId).toMatch(QUERY_ID_PATTERN);
      const uploadEvents = await eventsStored(
        (e) => 'queryId' in e.context,
        byPhoto.items.length,
        'the impressions of the upload list',
      );
      expect(uploadEvents.map((e) => [e.type, e.itemId, e.position, e.context, e.sessionId])).toEqual(
        byPhoto.items.map((item, index) => ['impression', item.id, index, { queryId }, session]),
      );

      // A click (the third result): its position, though it navigates away at once (keepalive).
      const third = shown.items[2]!;
      await Promise.all([
        page.waitForURL(`${allowed.origin}/product/${third.id}`),
        page.locator('#similar a.card').nth(2).click(),
      ]);
      const [click] = await eventsStored((e) => e.type === 'click', 1, 'the click');
      expect(click).toMatchObject({
        itemId: third.id,
        context: { sourceItemId: productId },
        position: 2,
        sessionId: session,
      });
      // Back on the shop in the same tab: the same session (sessionStorage), a new list.
      await page.goto(`${api.url}/examples/shop.html?item=${third.id}&events=on&events-key=${EVENTS_KEY}`);
      await eventsStored(
        (e) => e.type === 'impression' && 'sourceItemId' in e.context && e.context.sourceItemId === third.id,
        K,
        'the impressions of the next page',
      );
      expect(new Set((await storedEvents()).map((e) => e.sessionId))).toEqual(new Set([session]));
      expect(events.filter((e) => e.type === 'lookalike-error')).toEqual([]);
      expect(pageErrors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test('events from a shop on another origin (CORS, events-key): impressions, and a click that survives its navigation', async () => {
    const earlier = new Set((await storedEvents()).map((e) => e.sessionId));
    const { page, context } = await openPage({ width: 1366, height: 900 });
    try {
      events.length = 0;
      await page.goto(`${allowed.origin}/embed.html?item=${productId}&events=on&events-key=${EVENTS_KEY}`);
      const shown = await settled(page, '#w', 'results');
      const session = (await page.evaluate(`sessionStorage.getItem('lookalike-session')`)) as string;
      expect(session).toMatch(UUID);
      // A new browser session, a new token: nothing links it to the earlier test's session.
      expect(earlier.size).toBe(1);
      expect(earlier.has(session)).toBe(false);
      const mine = (e: StoredEvent) => e.sessionId === session;
      const impressions = await eventsStored((e) => mine(e) && e.type === 'impression', K, 'the impressions');
      expect(impressions.map((e) => [e.itemId, e.position, e.context])).toEqual(
        shown.items.map((item, index) => [item.id, index, { sourceItemId: productId }]),
      );
      const last = shown.items[K - 1]!;
      await Promise.all([
        page.waitForURL(`${allowed.origin}/product/${last.id}`),
        page
          .locator('#w a.card')
          .nth(K - 1)
          .click(),
      ]);
      const [click] = await eventsStored((e) => mine(e) && e.type === 'click', 1, 'the click');
      expect(click).toMatchObject({ itemId: last.id, position: K - 1, context: { sourceItemId: productId } });
      expect(events.filter((e) => e.type === 'lookalike-error')).toEqual([]);
      expect(pageErrors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test('events failures never break the page: a wrong key is lookalike-error EVENTS_FAILED (no retry); a 503 is retried once with the same eventIds', async () => {
    const { page, context } = await openPage({ width: 1366, height: 900 });
    const posts = eventPosts(page);
    try {
      events.length = 0;
      const before = (await storedEvents()).length;
      await page.goto(
        `${api.url}/examples/shop.html?item=${productId}&events=on&events-key=not-the-events-key`,
      );
      const shown = await settled(page, '#similar', 'results');
      const failed = await pollUntil(
        async () => events.find((e) => e.type === 'lookalike-error' && e.detail.code === 'EVENTS_FAILED'),
        { timeoutMs: 10_000, description: 'the EVENTS_FAILED error' },
      );
      expect(failed.detail).toMatchObject({ source: 'item', itemId: productId, status: 401 });
      expect(shown.items).toHaveLength(K);
      expect((await widgetState(page, '#similar')).state).not.toBe('error');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(posts).toHaveLength(1); // a 401 is not retried
      expect((await storedEvents()).length).toBe(before);

      // The first POST answers 503 (the API's answer while Redis is down); the retry goes through.
      let refusedOnce = false;
      await page.route('**/v1/events', async (route) => {
        if (refusedOnce) return route.continue();
        refusedOnce = true;
        await route.fulfill({
          status: 503,
          headers: { 'content-type': 'application/problem+json', 'retry-after': '1' },
          body: JSON.stringify({ code: 'QUEUE_UNAVAILABLE' }),
        });
      });
      posts.length = 0;
      events.length = 0;
      await page.goto(`${api.url}/examples/shop.html?item=${productId}&events=on&events-key=${EVENTS_KEY}`);
      await settled(page, '#similar', 'results');
      const session = (await page.evaluate(`sessionStorage.getItem('lookalike-session')`)) as string;
      await eventsStored((e) => e.sessionId === session, K, 'the impressions, stored once');
      expect(posts).toHaveLength(2);
      expect(posts[1]).toEqual(posts[0]);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect((await storedEvents(session)).length).toBe(K);
      expect(events.filter((e) => e.type === 'lookalike-error')).toEqual([]);
      expect(pageErrors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  // Last: it stops the API.
  test('a self-hosted copy with an api attribute works, and says so politely once the API is down', async () => {
    const { page, context } = await openPage({ width: 390, height: 844 });
    try {
      await page.goto(`${allowed.origin}/self-hosted.html?item=${productId}`);
      const shown = await settled(page, '#w', 'results');
      expect(shown.items.map((item) => item.id)).toEqual(await apiSimilar(productId));

      await api.process.stop();
      events.length = 0;
      await page.reload();
      const down = await settled(page, '#w', 'error');
      expect(down).toMatchObject({
        items: [],
        statusShown: true,
        status: 'Similar items are unavailable right now. Please try again later.',
      });
      const error = await pollUntil(async () => events.find((e) => e.type === 'lookalike-error'), {
        timeoutMs: 5000,
        description: 'a lookalike-error event',
      });
      expect(error.detail).toMatchObject({ status: null, code: 'NETWORK' });
      await page.screenshot({ path: path.join(ARTIFACTS, 'api-down.png'), fullPage: true });
      expect(pageErrors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
