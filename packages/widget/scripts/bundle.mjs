// Bundles src/index.ts into dist/lookalike.js: one ES module, no imports left, for browsers of the
// last few years (custom elements, shadow DOM, constructed style sheets). The API serves this file.
// Also src/events.ts alone into dist/events.js: the shopper-event code the API's demo page imports
// (served at /demo/shopper-events.js), so the page and the widget post events the same way.
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'esm',
  target: ['es2022', 'chrome100', 'firefox100', 'safari16'],
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
};
await Promise.all([
  build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/lookalike.js' }),
  build({ ...common, entryPoints: ['src/events.ts'], outfile: 'dist/events.js' }),
]);
