import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createEmbedder, type Embedder } from '@lookalike/embedder';
import { modelCacheDir, modelMirror, sharedDir } from './helpers';

const sampleDir = path.join(sharedDir, 'data/fashion-sample');
const present = existsSync(path.join(sampleDir, 'styles.csv'));
if (!present) {
  // Only the shared data folder being absent skips this; anything else is a failure.
  console.warn(`fashion-sample test skipped: ${sampleDir} not found (set LOOKALIKE_SHARED_DIR)`);
}
const describeIfData = present ? describe : describe.skip;

const ROWS = 1_000;
const K = 5;

/** id + articleType of the first `rows` rows. Those two columns come first and are never quoted. */
function readStyles(rows: number): Array<{ id: string; articleType: string }> {
  const lines = readFileSync(path.join(sampleDir, 'styles.csv'), 'utf8').split(/\r?\n/);
  const header = (lines[0] ?? '').split(',');
  expect(header.slice(0, 2)).toEqual(['id', 'articleType']);
  return lines
    .slice(1, rows + 1)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id, articleType] = line.split(',');
      if (!id || !articleType || line.startsWith('"')) throw new Error(`unexpected styles.csv row: ${line}`);
      return { id, articleType };
    });
}

/** Mean over items of |same articleType among the k nearest others| / k, by brute-force inner product. */
function leaveOneOutPrecision(vectors: Float32Array[], labels: string[], k: number): number {
  const n = vectors.length;
  const scores = new Float64Array(n * n); // symmetric: each pair is computed once
  for (let a = 0; a < n; a++) {
    const va = vectors[a] as Float32Array;
    for (let b = a + 1; b < n; b++) {
      const vb = vectors[b] as Float32Array;
      let dot = 0;
      for (let d = 0; d < va.length; d++) dot += (va[d] as number) * (vb[d] as number);
      scores[a * n + b] = scores[b * n + a] = dot;
    }
  }
  let total = 0;
  for (let q = 0; q < n; q++) {
    const row = scores.subarray(q * n, (q + 1) * n);
    const nearest = Array.from({ length: n }, (_, j) => j)
      .filter((j) => j !== q)
      .sort((x, y) => (row[y] as number) - (row[x] as number))
      .slice(0, k);
    total += nearest.filter((j) => labels[j] === labels[q]).length / k;
  }
  return total / n;
}

describeIfData('fashion-sample retrieval quality (default model, first 1,000 rows)', () => {
  let embedder: Embedder;
  beforeAll(async () => {
    embedder = await createEmbedder({
      model: 'mobilenetv2-12-int8',
      cacheDir: modelCacheDir,
      mirror: modelMirror,
    });
  });
  afterAll(async () => embedder?.close());

  it(`leave-one-out precision@${K} by articleType is at least 0.70`, async () => {
    const styles = readStyles(ROWS);
    expect(styles).toHaveLength(ROWS);
    const vectors: Float32Array[] = new Array(styles.length);
    let next = 0;
    const started = Date.now();
    // A bounded number of callers, like the indexer: the embedder's own queue does the rest.
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < styles.length) {
          const i = next++;
          const bytes = await readFile(path.join(sampleDir, 'images', `${styles[i]?.id}.jpg`));
          vectors[i] = (await embedder.embed(bytes)).vector;
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const precision = leaveOneOutPrecision(
      vectors,
      styles.map((s) => s.articleType),
      K,
    );
    console.log(
      `fashion-sample: ${styles.length} photos embedded in ${seconds.toFixed(1)} s ` +
        `(${(styles.length / seconds).toFixed(0)} img/s); leave-one-out precision@${K} by articleType = ${precision.toFixed(4)}`,
    );
    expect(precision).toBeGreaterThanOrEqual(0.7);
  });
});
