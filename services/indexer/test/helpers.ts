import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '@lookalike/config';
import type { JobContext } from '../src/processors/common';

export const repoRoot = path.resolve(__dirname, '../../..');
export const sharedDir = process.env.LOOKALIKE_SHARED_DIR ?? path.resolve(repoRoot, '../shared');
export const sampleImagesDir = path.join(sharedDir, 'data/fashion-sample/images');
export const modelCacheDir = path.join(repoRoot, '.cache/models');
export const modelMirror = path.join(sharedDir, 'models');

/** The first n sample ids (sorted), for stable fixtures. */
export const SAMPLE_IDS = [
  '10000',
  '10001',
  '10004',
  '10007',
  '10009',
  '10010',
  '10014',
  '10016',
  '10019',
  '10021',
];

export const silentLogger = createLogger('indexer-test', 'silent');

export function jobContext(overrides: Partial<JobContext> = {}): JobContext & { progressCalls: number[] } {
  const progressCalls: number[] = [];
  return {
    jobId: 'test-job',
    logger: silentLogger,
    finalAttempt: false,
    shutdown: new AbortController().signal,
    progress: (done, total) => progressCalls.push(done / total),
    progressCalls,
    ...overrides,
  };
}

/**
 * A temporary catalogue root: copies of a few sample photos (in /tmp, never in the repo) plus the
 * broken cases — a truncated JPEG, a text file named .jpg, a JPEG over the byte limit and a
 * symlink that leads out of the root.
 */
export function makeCatalogue(): { root: string; outside: string; remove: () => void } {
  const base = mkdtempSync(path.join(os.tmpdir(), 'indexer-catalogue-'));
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  for (const id of SAMPLE_IDS)
    copyFileSync(path.join(sampleImagesDir, `${id}.jpg`), path.join(root, `${id}.jpg`));
  const photo = readFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[0]}.jpg`));
  writeFileSync(path.join(root, 'truncated.jpg'), photo.subarray(0, Math.floor(photo.length / 3)));
  writeFileSync(path.join(root, 'not-an-image.jpg'), 'id,name\n1,this is a CSV file, not a photo\n');
  // A real JPEG padded past the 200 kB limit the tests configure (the size check comes first).
  writeFileSync(path.join(root, 'oversize.jpg'), Buffer.concat([photo, Buffer.alloc(300_000)]));
  copyFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[1]}.jpg`), path.join(outside, 'secret.jpg'));
  symlinkSync(path.join(outside, 'secret.jpg'), path.join(root, 'escape.jpg'));
  return { root, outside, remove: () => rmSync(base, { recursive: true, force: true }) };
}

/** Loopback HTTP: /photo/<id>.jpg → a sample photo, /down.jpg → 503, anything else → 404. */
export { startPhotoServer as startImageServer } from '../../../tests/support/catalogue';
export type ImageServer = Awaited<
  ReturnType<typeof import('../../../tests/support/catalogue').startPhotoServer>
>;
