import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildApp } from './app';
import { loadConfig } from './config';
import type { ApiDeps } from './ports';

/** Where the committed document lives: <repo>/openapi/openapi.json (from src/ or dist/ alike). */
export const OPENAPI_PATH = path.resolve(__dirname, '../../../openapi/openapi.json');

const unused = (): never => {
  throw new Error('not available while generating the OpenAPI document');
};

/** Adapters that are never called: building the document only registers routes. */
const inertDeps: ApiDeps = {
  embedder: { model: { id: 'none', sha256: '0'.repeat(64), dimension: 1 }, embed: unused },
  snapshots: { current: () => null, reloads: 0, rejections: 0, refusal: null },
  queue: { enqueue: unused, getJob: unused, counts: unused, ping: unused },
  images: { load: unused },
  events: { ingest: unused, close: async () => undefined },
};

/**
 * The OpenAPI document as the route schemas define it, independent of the environment (default
 * configuration, no API key, no CORS), serialised the way it is committed.
 */
export async function generateOpenApiDocument(): Promise<string> {
  const app = await buildApp({ config: loadConfig({}), deps: inertDeps, docsUi: false });
  try {
    await app.ready();
    return `${JSON.stringify(app.swagger(), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

/**
 * `node dist/generate-openapi.js` writes openapi/openapi.json; with `--check` it only compares and
 * exits 1 when the committed document is out of date (CI).
 */
async function main(argv: string[]): Promise<number> {
  const generated = await generateOpenApiDocument();
  if (argv.includes('--check')) {
    const committed = await readFile(OPENAPI_PATH, 'utf8').catch(() => '');
    if (committed === generated) {
      process.stdout.write(`${path.relative(process.cwd(), OPENAPI_PATH)} is up to date\n`);
      return 0;
    }
    process.stderr.write(
      `${OPENAPI_PATH} is out of date with the route schemas.\n` +
        'Run `pnpm --filter @lookalike/api openapi:generate` and commit the result.\n',
    );
    return 1;
  }
  await writeFile(OPENAPI_PATH, generated);
  process.stdout.write(`wrote ${OPENAPI_PATH}\n`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
