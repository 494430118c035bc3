/**
 * The shop widget's files: /widget/lookalike.js (packages/widget's bundle, built by `pnpm build`) and
 * the example shop page under /examples/. Over real HTTP with fakes; the widget itself is driven in
 * Chromium by tests/widget-browser.test.ts.
 */
import { readFileSync } from 'node:fs';
import { widgetFile } from '../src/routes/widget';
import { buildTestApp } from './helpers';

describe('widget and example shop routes', () => {
  test('the bundle is built (pnpm build) and served as one ES module any origin may load', async () => {
    const file = widgetFile();
    expect(file).toMatch(/packages\/widget\/dist\/lookalike\.js$/);
    // Without CORS_ORIGINS too: a module script is a CORS fetch, so a shop on another origin needs
    // the header to run it at all; whether its API calls are allowed is CORS_ORIGINS' business.
    const t = await buildTestApp();
    try {
      const script = await t.request('/widget/lookalike.js', {
        headers: { origin: 'https://shop.example.com' },
      });
      expect(script.statusCode).toBe(200);
      expect(script.headers).toMatchObject({
        'content-type': 'text/javascript; charset=utf-8',
        'cache-control': 'public, max-age=300',
        'access-control-allow-origin': '*',
        'x-content-type-options': 'nosniff',
      });
      expect(script.body).toBe(readFileSync(file as string, 'utf8'));
      expect(script.body).toContain('lookalike-similar-upload');
      const api = await t.request('/v1/index', { headers: { origin: 'https://shop.example.com' } });
      expect(api.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await t.app.close();
    }
  });

  test('the example shop page: strict CSP, the widget snippet, its script and styles', async () => {
    const t = await buildTestApp();
    try {
      const page = await t.request('/examples/shop.html');
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['content-security-policy']).toContain("script-src 'self'");
      expect(page.headers['content-security-policy']).not.toContain('unsafe');
      expect(page.body).toContain('<script type="module" src="/widget/lookalike.js"></script>');
      expect(page.body).toContain('<lookalike-similar');
      expect(page.body).toContain('<lookalike-similar-upload');
      expect((await t.request('/examples/shop.js')).headers['content-type']).toBe(
        'text/javascript; charset=utf-8',
      );
      expect((await t.request('/examples/shop.css')).headers['content-type']).toBe('text/css; charset=utf-8');
      expect((await t.request('/examples/nothing.html')).statusCode).toBe(404);
    } finally {
      await t.app.close();
    }
  });
});
