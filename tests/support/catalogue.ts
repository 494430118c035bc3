import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fashionCsv, fashionImagesDir } from './paths';

/** The first `n` rows of the sample CSV (header included), as CSV text, and their ids. */
export function sampleCsv(n: number): { text: string; ids: string[] } {
  const lines = readFileSync(fashionCsv, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const rows = lines.slice(1, n + 1);
  return { text: [lines[0], ...rows].join('\n') + '\n', ids: rows.map((r) => r.split(',')[0]!) };
}

export interface TestCatalogue {
  /** The catalogue root the indexer is given. */
  root: string;
  /** `n` good photos copied from the sample (ids = file names without .jpg). */
  goodIds: string[];
  /** Relative paths of broken files inside the root. */
  broken: { truncated: string; notAnImage: string; oversize: string; escape: string };
  remove(): void;
}

/**
 * A catalogue root in /tmp (never in the repo) with `n` sample photos and broken files: a truncated
 * JPEG, a text file named .jpg, a JPEG padded past `oversizeBytes`, and a symlink that leads out of
 * the root (path traversal that the queue's lexical check cannot see).
 */
export function makeTestCatalogue(n: number, oversizeBytes: number): TestCatalogue {
  const base = mkdtempSync(path.join(os.tmpdir(), 'lookalike-catalogue-'));
  const root = path.join(base, 'images');
  const outside = path.join(base, 'private');
  mkdirSync(root);
  mkdirSync(outside);
  const { ids } = sampleCsv(n);
  for (const id of ids) copyFileSync(path.join(fashionImagesDir, `${id}.jpg`), path.join(root, `${id}.jpg`));
  const photo = readFileSync(path.join(fashionImagesDir, `${ids[0]}.jpg`));
  writeFileSync(path.join(root, 'truncated.jpg'), photo.subarray(0, Math.floor(photo.length / 3)));
  writeFileSync(
    path.join(root, 'not-an-image.jpg'),
    '<html><body>Sorry, this is not a photo</body></html>\n',
  );
  writeFileSync(
    path.join(root, 'oversize.jpg'),
    Buffer.concat([photo, Buffer.alloc(oversizeBytes + 1 - photo.length)]),
  );
  writeFileSync(path.join(outside, 'secret.jpg'), photo);
  symlinkSync(path.join(outside, 'secret.jpg'), path.join(root, 'escape.jpg'));
  return {
    root,
    goodIds: ids,
    broken: {
      truncated: 'truncated.jpg',
      notAnImage: 'not-an-image.jpg',
      oversize: 'oversize.jpg',
      escape: 'escape.jpg',
    },
    remove: () => rmSync(base, { recursive: true, force: true }),
  };
}

/**
 * A loopback HTTP server: /photo/<id>.jpg serves a sample photo; /flaky/<n>/<id>.jpg answers 503 to
 * the first n requests, then the photo; /down.jpg is always 503; anything else is 404.
 */
export async function startPhotoServer(): Promise<{
  url: (p: string) => string;
  hits: (p: string) => number;
  close: () => Promise<void>;
}> {
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    const count = (hits.get(url) ?? 0) + 1;
    hits.set(url, count);
    const flaky = /^\/flaky\/(\d+)\/(\d+)\.jpg$/.exec(url);
    if (url === '/down.jpg' || (flaky && count <= Number(flaky[1]))) {
      return void res.writeHead(503, { 'content-type': 'text/plain' }).end('busy, try later');
    }
    const id = flaky ? flaky[2] : /^\/photo\/(\d+)\.jpg$/.exec(url)?.[1];
    if (!id) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    try {
      const bytes = readFileSync(path.join(fashionImagesDir, `${id}.jpg`));
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': bytes.length }).end(bytes);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    hits: (p) => hits.get(p) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
