/**
 * The demo page's route: how it tells the page to post shopper events (a <meta> tag in index.html,
 * from EVENTS_KEY and API_KEY), and the widget's event module it imports (/demo/shopper-events.js).
 * The page itself is driven in Chromium by tests/demo-page*.test.ts.
 */
import { readFileSync } from 'node:fs';
import { shopperEventsFile } from '../src/routes/demo';
import { buildTestApp } from './helpers';

const EVENTS_KEY = 'events-key-0123456789abcdef';
const API_KEY = 'api-key-0123456789abcdef-0123456789';

async function indexHtml(env: Record<string, string>): Promise<string> {
  const t = await buildTestApp(env);
  try {
    const page = await t.request('/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("connect-src 'self'");
    return page.body;
  } finally {
    await t.app.close();
  }
}

describe('demo page route', () => {
  test('with EVENTS_KEY the page gets the key (public by design), never API_KEY', async () => {
    const html = await indexHtml({ EVENTS_KEY, API_KEY });
    expect(html).toContain(`<meta name="lookalike-events-key" content="${EVENTS_KEY}" />`);
    expect(html).not.toContain(API_KEY);
    expect(html).not.toContain('name="lookalike-events"');
  });

  test('with API_KEY alone events are off (they would need API_KEY); with no key they are open', async () => {
    const keyed = await indexHtml({ API_KEY });
    expect(keyed).toContain('<meta name="lookalike-events" content="off" />');
    expect(keyed).not.toContain(API_KEY);
    expect(keyed).not.toContain('lookalike-events-key');
    const open = await indexHtml({});
    expect(open).not.toContain('lookalike-events');
  });

  test('the widget’s event module is served to the page as /demo/shopper-events.js', async () => {
    const file = shopperEventsFile();
    expect(file).toMatch(/packages\/widget\/dist\/events\.js$/);
    const t = await buildTestApp();
    try {
      const script = await t.request('/demo/shopper-events.js');
      expect(script.statusCode).toBe(200);
      expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(script.body).toBe(readFileSync(file as string, 'utf8'));
      expect(script.body).toMatch(/export\s*\{[^}]*\bpostEvents\b[^}]*\bshopperEvents\b/);
    } finally {
      await t.app.close();
    }
  });
});
