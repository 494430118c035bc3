import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { bareRound, createBareRunner, releaseBareRunner } from './bare';
import { median } from './common';
import type { BenchContext, BenchSuite, BenchTable } from './types';

/**
 * End-to-end indexer throughput: two real indexer processes (one ONNX session each, as "one replica
 * per core" on 2 cores) consuming `lookalike import --wait` of the fashion sample on Redis, timed
 * from enqueue to the last snapshot published; next to the bare embedder loop (sharp decode + crop
 * → session.run, one session per core, in-process, no queue/hash/publish) on the same photos.
 * The ratio says what the queue, image loading, hashing and publishing cost on top of inference.
 */

const WORKERS = 2;

interface LogLine {
  msg?: string;
  time?: number;
  durationMs?: number;
  indexed?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A child node process whose JSON log lines are collected. */
class Proc {
  readonly lines: LogLine[] = [];
  readonly done: Promise<number | null>;
  stdout = '';
  constructor(readonly child: ChildProcess) {
    let pending = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          // not a log line (the CLI's JSON summary is read from stdout separately)
        }
      }
    });
    child.stderr?.setEncoding('utf8').on('data', () => undefined);
    this.done = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  }
}

function startNode(repoRoot: string, script: string, args: string[], env: Record<string, string>): Proc {
  return new Proc(
    spawn(process.execPath, [script, ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * Removes the bench's queue keys. Runs in a child process from services/indexer, where ioredis is
 * installed, so the bench package itself needs no Redis client.
 */
async function deleteQueueKeys(repoRoot: string, redisUrl: string, prefix: string): Promise<void> {
  const script = `
    const { Redis } = require('ioredis');
    const [url, prefix] = process.argv.slice(1);
    const redis = new Redis(url, { maxRetriesPerRequest: 1 });
    (async () => {
      let cursor = '0';
      for (let i = 0; i < 10000; i++) {
        const [next, keys] = await redis.scan(cursor, 'MATCH', prefix + ':*', 'COUNT', 1000);
        if (keys.length) await redis.del(...keys);
        cursor = next;
        if (cursor === '0') break;
      }
    })().finally(() => redis.disconnect());`;
  const cleanup = new Proc(
    spawn(process.execPath, ['-e', script, redisUrl, prefix], {
      cwd: path.join(repoRoot, 'services/indexer'),
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  await Promise.race([cleanup.done, sleep(15_000)]);
}

async function measureBare(
  context: BenchContext,
  files: string[],
): Promise<{ rate: number; rounds: number[] }> {
  const runner = await createBareRunner(context, WORKERS);
  try {
    const images = files.map((f) => readFileSync(f));
    await bareRound(runner, images.slice(0, 30)); // warm-up
    const rounds: number[] = [];
    for (let i = 0; i < (context.quick ? 1 : 2); i++) rounds.push(await bareRound(runner, images));
    return { rate: median(rounds), rounds };
  } finally {
    await releaseBareRunner(runner);
  }
}

interface ImportRun {
  seconds: number;
  rate: number;
  indexed: number;
  unchanged: number;
  failed: number;
  publishes: number;
  publishMedianMs: number;
  publishMaxMs: number;
}

async function measureIndexer(
  context: BenchContext,
  count: number,
): Promise<{ first: ImportRun; again: ImportRun }> {
  const sample = path.join(context.sharedDir, 'data/fashion-sample');
  const work = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-indexer-'));
  const env: Record<string, string> = {
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: `bench-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`,
    DATA_DIR: path.join(work, 'data'),
    MODEL_CACHE_DIR: context.modelCacheDir,
    ...(context.modelMirror ? { MODEL_MIRROR: context.modelMirror } : {}),
    CATALOGUE_ROOT: path.join(sample, 'images'),
    EMBEDDER_SESSIONS: '1',
    LOG_LEVEL: 'info',
  };
  const csv = path.join(work, 'catalogue.csv');
  const lines = readFileSync(path.join(sample, 'styles.csv'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  writeFileSync(csv, [lines[0], ...lines.slice(1, count + 1)].join('\n') + '\n');
  const workers = Array.from({ length: WORKERS }, () =>
    startNode(context.repoRoot, 'services/indexer/dist/main.js', [], env),
  );
  try {
    await waitFor(
      () => workers.every((w) => w.lines.some((l) => l.msg === 'ready')),
      120_000,
      'indexers ready',
    );
    const run = async (): Promise<ImportRun> => {
      const publishedBefore = workers.flatMap((w) =>
        w.lines.filter((l) => l.msg === 'changes published'),
      ).length;
      const started = performance.now();
      const cli = startNode(
        context.repoRoot,
        'packages/cli/dist/bin.js',
        [
          'import',
          '--csv',
          csv,
          '--images',
          path.join(sample, 'images'),
          '--wait',
          '--json',
          '--no-progress',
        ],
        env,
      );
      const code = await cli.done;
      const seconds = (performance.now() - started) / 1000;
      const summaryLine = cli.stdout.split('\n').find((l) => l.startsWith('{"items"'));
      if (code !== 0 || !summaryLine)
        throw new Error(`bench: import exited ${code}: ${cli.stdout.slice(-2000)}`);
      const summary = JSON.parse(summaryLine) as { indexed: number; unchanged: number; failedItems: number };
      const publishes = workers
        .flatMap((w) => w.lines.filter((l) => l.msg === 'changes published'))
        .slice(publishedBefore)
        .map((l) => l.durationMs ?? 0);
      return {
        seconds,
        rate: count / seconds,
        indexed: summary.indexed,
        unchanged: summary.unchanged,
        failed: summary.failedItems,
        publishes: publishes.length,
        publishMedianMs: median(publishes),
        publishMaxMs: publishes.length ? Math.max(...publishes) : NaN,
      };
    };
    const first = await run();
    const again = await run();
    return { first, again };
  } finally {
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.race([Promise.all(workers.map((w) => w.done)), sleep(30_000)]);
    for (const w of workers) w.child.kill('SIGKILL');
    await deleteQueueKeys(context.repoRoot, env.REDIS_URL!, env.QUEUE_PREFIX!);
    rmSync(work, { recursive: true, force: true });
  }
}

export const indexerSuite: BenchSuite = {
  name: 'indexer',
  async run(context: BenchContext): Promise<{ tables: BenchTable[]; raw: unknown }> {
    // 2,000 of the 5,885 sample photos keep `pnpm bench` within its 15-minute budget on 2 cores.
    const count = context.quick ? 600 : 2000;
    const imagesDir = path.join(context.sharedDir, 'data/fashion-sample/images');
    const lines = readFileSync(path.join(context.sharedDir, 'data/fashion-sample/styles.csv'), 'utf8')
      .split('\n')
      .slice(1, count + 1)
      .filter((l) => l.trim() !== '');
    const files = lines.map((l) => path.join(imagesDir, `${l.split(',')[0]}.jpg`));
    context.log(
      `indexer: ${WORKERS} worker processes on ${count} photos (then a re-import), then the bare loop`,
    );
    const indexer = await measureIndexer(context, count);
    const bare = await measureBare(context, files);
    const ratio = indexer.first.rate / bare.rate;
    const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
    const table: BenchTable = {
      title: `Indexer throughput vs bare embedder loop (${count} sample photos, ${WORKERS} workers / sessions)`,
      columns: ['run', 'seconds', 'images/s', 'ratio vs bare', 'publishes', 'publish median / max ms'],
      rows: [
        [
          'bare embedder loop (in-process, 2 sessions)',
          fmt(count / bare.rate),
          fmt(bare.rate),
          '1.00',
          '–',
          '–',
        ],
        [
          `indexer import, ${indexer.first.indexed} embedded`,
          fmt(indexer.first.seconds),
          fmt(indexer.first.rate),
          fmt(ratio, 2),
          indexer.first.publishes,
          `${fmt(indexer.first.publishMedianMs, 0)} / ${fmt(indexer.first.publishMaxMs, 0)}`,
        ],
        [
          `re-import, ${indexer.again.unchanged} unchanged`,
          fmt(indexer.again.seconds),
          fmt(indexer.again.rate),
          fmt(indexer.again.rate / bare.rate, 2),
          indexer.again.publishes,
          '–',
        ],
      ],
      notes: [
        'Indexer time runs from `lookalike import --wait` start to exit: CSV, enqueue, Redis, image reads, hashing, embedding, snapshot publishes.',
        'Bare loop: the same photos, sharp decode/resize/crop + onnxruntime session.run, one session per core, no queue or publish.',
      ],
    };
    return { tables: [table], raw: { count, workers: WORKERS, bare, indexer, ratio } };
  },
};
