import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { createEmbedder, type Embedder } from '@lookalike/embedder';
import { bareEmbed, bareRound, createBareRunner, releaseBareRunner } from './bare';
import { median } from './common';
import type { BenchContext, BenchSuite, BenchTable } from './types';

/**
 * Embedder throughput against the bare minimum on the same photos in the same process: sharp decode +
 * resize + centre crop → Float32Array → session.run, one bare session per core driven concurrently.
 * Rounds alternate which side goes first; the ratio is embedder ÷ bare of the per-round medians.
 */

/** All images through Embedder.embed, fed by a bounded number of concurrent callers (like the indexer). */
async function embedderRound(embedder: Embedder, images: Buffer[], callers: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < images.length) await embedder.embed(images[next++] as Buffer);
    }),
  );
  return (images.length / (performance.now() - started)) * 1000;
}

/** One image at a time: the latency of a single query. */
async function sequentialLatency(
  run: (image: Buffer) => Promise<unknown>,
  images: Buffer[],
): Promise<number> {
  const times: number[] = [];
  for (const image of images) {
    const started = performance.now();
    await run(image);
    times.push(performance.now() - started);
  }
  return median(times);
}

export const embedderSuite: BenchSuite = {
  name: 'embedder',
  async run(context: BenchContext): Promise<{ tables: BenchTable[]; raw: unknown }> {
    const count = context.quick ? 100 : 400;
    const rounds = context.quick ? 3 : 5;
    const cores = os.availableParallelism();
    const imageDir = path.join(context.sharedDir, 'data/fashion-sample/images');
    const files = readdirSync(imageDir)
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .slice(0, count);
    const images = files.map((f) => readFileSync(path.join(imageDir, f)));
    const bare = await createBareRunner(context, cores);
    const embedder = await createEmbedder({
      model: bare.model.name,
      cacheDir: context.modelCacheDir,
      mirror: context.modelMirror,
      sessions: cores,
    });
    const callers = Math.min(64, embedder.options.maxQueue);
    try {
      context.log(
        `embedder: ${images.length} photos, ${rounds} rounds, ${cores} sessions each side (warm-up first)`,
      );
      await bareRound(bare, images.slice(0, 20));
      await embedderRound(embedder, images.slice(0, 20), callers);
      const bareRates: number[] = [];
      const embedderRates: number[] = [];
      for (let round = 0; round < rounds; round++) {
        // Alternate the order so neither side always runs on a warmer (or busier) machine.
        if (round % 2 === 0) {
          bareRates.push(await bareRound(bare, images));
          embedderRates.push(await embedderRound(embedder, images, callers));
        } else {
          embedderRates.push(await embedderRound(embedder, images, callers));
          bareRates.push(await bareRound(bare, images));
        }
        context.log(
          `round ${round + 1}: bare ${bareRates.at(-1)?.toFixed(1)} img/s, embedder ${embedderRates.at(-1)?.toFixed(1)} img/s`,
        );
      }
      const latencyImages = images.slice(0, context.quick ? 20 : 50);
      const firstSession = bare.sessions[0] as ort.InferenceSession;
      const bareLatency = await sequentialLatency(
        (image) => bareEmbed(bare, firstSession, image),
        latencyImages,
      );
      const embedderLatency = await sequentialLatency((image) => embedder.embed(image), latencyImages);

      const bareMedian = median(bareRates);
      const embedderMedian = median(embedderRates);
      const ratio = embedderMedian / bareMedian;
      const table: BenchTable = {
        title: `Embedder throughput (${bare.model.name}, ${images.length} fashion-sample photos, ${cores} sessions)`,
        columns: ['pipeline', 'images/s (median)', 'images/s per round', 'single-image latency ms (median)'],
        rows: [
          [
            'bare: sharp decode+resize+crop → Float32Array → session.run',
            bareMedian.toFixed(1),
            bareRates.map((r) => r.toFixed(0)).join(' / '),
            bareLatency.toFixed(2),
          ],
          [
            'Embedder.embed',
            embedderMedian.toFixed(1),
            embedderRates.map((r) => r.toFixed(0)).join(' / '),
            embedderLatency.toFixed(2),
          ],
          ['ratio embedder / bare', ratio.toFixed(2), '', (embedderLatency / bareLatency).toFixed(2)],
        ],
        notes: [
          `${rounds} interleaved rounds after a warm-up; target ratio ≥ 0.85.`,
          'onnxruntime-node runs session.run synchronously on the calling thread: the bare sessions take turns on the ' +
            'main thread while sharp decodes on the libuv pool; the embedder runs one session per worker thread.',
          `Embedder fed by ${callers} concurrent callers; it also checks headers, EXIF-orients, flattens alpha and L2-normalises.`,
        ],
      };
      return {
        tables: [table],
        raw: {
          model: bare.model.name,
          images: images.length,
          sessions: cores,
          rounds,
          bareRates,
          embedderRates,
          bareMedian,
          embedderMedian,
          ratio,
          bareLatencyMs: bareLatency,
          embedderLatencyMs: embedderLatency,
          feature: embedder.feature,
        },
      };
    } finally {
      await embedder.close();
      await releaseBareRunner(bare);
    }
  },
};
