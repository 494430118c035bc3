import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { modelRegistry } from '@lookalike/models';
import type { ItemInput, ModelIdentity } from '@lookalike/index-store';
import type { BenchContext } from './types';

/** Shared helpers of the suites: statistics, synthetic vectors, a real API process, RSS. */

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The identity of the default model: synthetic snapshots must carry it for the API to serve them. */
export function defaultModelIdentity(): ModelIdentity {
  const model = modelRegistry.resolve(modelRegistry.defaultModel);
  return { id: model.name, sha256: model.sha256, dimension: model.dimension };
}

/** xorshift32 state → uniform in [-1, 1). Fast and deterministic; good enough for timing data. */
function uniformSource(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2147483648 - 1;
  };
}

function normalizeRows(vectors: Float32Array, dimension: number): void {
  for (let offset = 0; offset < vectors.length; offset += dimension) {
    let norm = 0;
    for (let j = 0; j < dimension; j++) norm += (vectors[offset + j] as number) ** 2;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let j = 0; j < dimension; j++) vectors[offset + j] = (vectors[offset + j] as number) * scale;
  }
}

/** Uniformly random unit vectors (no structure at all: the worst case for approximate indexes). */
export function randomUnitVectors(count: number, dimension: number, seed: number): Float32Array {
  const random = uniformSource(seed);
  const vectors = new Float32Array(count * dimension);
  for (let i = 0; i < vectors.length; i++) vectors[i] = random();
  normalizeRows(vectors, dimension);
  return vectors;
}

/**
 * Unit vectors with the kind of structure image embeddings have: `categories` broad directions, each
 * with looks around it, each look with items around it (cosine ≈ 0.9 to their look). Queries drawn
 * with another seed from the same looks are new items, not copies of indexed ones.
 */
export class ClusteredVectors {
  private readonly looks: Float32Array;
  constructor(
    readonly dimension: number,
    readonly lookCount: number,
    seed: number,
    categories = 64,
  ) {
    const random = uniformSource(seed);
    const centres = new Float32Array(categories * dimension);
    for (let i = 0; i < centres.length; i++) centres[i] = random();
    normalizeRows(centres, dimension);
    this.looks = new Float32Array(lookCount * dimension);
    for (let l = 0; l < lookCount; l++) {
      const category = (l * 2654435761) % categories;
      for (let j = 0; j < dimension; j++)
        this.looks[l * dimension + j] =
          (centres[category * dimension + j] as number) + 1.6 * random() * Math.sqrt(3 / dimension);
    }
    normalizeRows(this.looks, dimension);
  }

  /** The look item `i` belongs to (a fixed scatter over the looks; a permutation would not change timings). */
  lookOf(i: number): number {
    return (i * 40503) % this.lookCount;
  }

  /** `count` items, items first … first + count − 1 (each in look `lookOf(i)`), so a catalogue can be drawn in chunks. */
  sample(count: number, seed: number, first = 0): Float32Array {
    const { dimension } = this;
    const random = uniformSource(seed);
    const vectors = new Float32Array(count * dimension);
    // Uniform noise in [-1,1) has variance 1/3: scaled so its norm is ≈ 0.5 (cosine ≈ 0.9).
    const noise = 0.5 * Math.sqrt(3 / dimension);
    for (let i = 0; i < count; i++) {
      const look = this.lookOf(first + i) * dimension;
      const offset = i * dimension;
      for (let j = 0; j < dimension; j++)
        vectors[offset + j] = (this.looks[look + j] as number) + noise * random();
    }
    normalizeRows(vectors, dimension);
    return vectors;
  }
}

/** Upserts for a synthetic catalogue (ids item-0 …), with a little metadata like a real one. */
export function syntheticItems(vectors: Float32Array, dimension: number, idPrefix = 'item-'): ItemInput[] {
  const count = vectors.length / dimension;
  const items: ItemInput[] = new Array<ItemInput>(count);
  for (let i = 0; i < count; i++) {
    items[i] = {
      id: `${idPrefix}${i}`,
      vector: vectors.subarray(i * dimension, (i + 1) * dimension),
      metadata: { gender: i % 2 ? 'Men' : 'Women', articleType: `type-${i % 40}` },
      contentHash: `synthetic-${i}`,
    };
  }
  return items;
}

/** Deletes every key under `prefix:` (SCAN + UNLINK). */
export async function deleteKeysUnder(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 10_000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Resident set size of a process in MiB (Linux /proc), NaN when it is gone. */
export function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Samples a process's RSS every `intervalMs` until stopped. */
export class RssSampler {
  readonly samples: Array<{ at: number; mib: number }> = [];
  private timer: NodeJS.Timeout;
  constructor(
    private readonly pid: number,
    intervalMs = 250,
  ) {
    this.timer = setInterval(() => this.samples.push({ at: Date.now(), mib: rssMiB(this.pid) }), intervalMs);
  }
  stop(): void {
    clearInterval(this.timer);
  }
  max(from = 0, to = Infinity): number {
    const within = this.samples.filter((s) => s.at >= from && s.at <= to && Number.isFinite(s.mib));
    return within.length ? Math.max(...within.map((s) => s.mib)) : NaN;
  }
}

/** The first python3 with scikit-learn + numpy (Debian's python3-sklearn lives in /usr/bin/python3). */
export function findSklearnPython(context: BenchContext): { python: string } | { skipped: string } {
  const candidates = [...(context.python ? [context.python] : []), 'python3', '/usr/bin/python3'];
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import sklearn, numpy; print(sklearn.__version__)'], {
      encoding: 'utf8',
    });
    if (!probe.error && probe.status === 0) return { python };
  }
  return {
    skipped: 'no python3 with scikit-learn (Debian: apt-get install python3-sklearn; or BENCH_PYTHON)',
  };
}

export interface ApiProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  /** Log lines (parsed JSON) the API printed at warn level or above. */
  warnings: Array<Record<string, unknown>>;
  /** Snapshots the API swapped in since it started (its `snapshot swapped in` log lines). */
  swaps(): number;
  stop(): Promise<void>;
}

/**
 * Starts the real, built API (`services/api/dist/server.js`) on a loopback port with `dataDir` as its
 * snapshot volume, and waits until it serves a snapshot of `expectedCount` items. Rate limiting is off
 * (the load would be refused otherwise) and the inference queue is deep enough for 32 callers; every
 * other setting is the default.
 */
export async function startApi(
  context: BenchContext,
  dataDir: string,
  expectedCount: number,
  extraEnv: Record<string, string> = {},
): Promise<ApiProcess> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    REDIS_URL: context.redisUrl,
    QUEUE_PREFIX: `bench-${randomBytes(4).toString('hex')}`,
    DATA_DIR: dataDir,
    MODEL_CACHE_DIR: context.modelCacheDir,
    ...(context.modelMirror ? { MODEL_MIRROR: context.modelMirror } : {}),
    HOST: '127.0.0.1',
    PORT: '0',
    RATE_LIMIT_MAX: '0',
    INFERENCE_QUEUE: '64',
    RELOAD_POLL_MS: '200',
    LOG_LEVEL: 'info',
    ...extraEnv,
  };
  // BENCH_API_CPUS (e.g. `0`): the API process on these CPUs only (taskset), the deployment split of a
  // service with its own cores; run the bench itself and Redis elsewhere (README, Performance).
  const apiCpus = process.env.BENCH_API_CPUS;
  const server = path.join(context.repoRoot, 'services/api/dist/server.js');
  // BENCH_API_NODE_ARGS: node flags for the API process (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`).
  const nodeArgs = (process.env.BENCH_API_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const [command, args] = apiCpus
    ? ['taskset', ['-c', apiCpus, process.execPath, ...nodeArgs, server]]
    : [process.execPath, [...nodeArgs, server]];
  const child = spawn(command, args, {
    cwd: context.repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const warnings: Array<Record<string, unknown>> = [];
  let port = 0;
  let swaps = 0;
  let pending = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    // Read every line (an unread pipe would block the API's logger), keep only what matters.
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.includes('"msg":"snapshot swapped in"')) swaps++;
      if (port !== 0 && !line.includes('"level":4') && !line.includes('"level":5')) continue;
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === 'listening' && typeof entry.port === 'number') port = entry.port;
        if (typeof entry.level === 'number' && entry.level >= 40 && warnings.length < 100)
          warnings.push(entry);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let running = true;
  void exited.then(() => {
    running = false;
  });
  const stop = async () => {
    if (running) {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
      if (running) child.kill('SIGKILL');
      await exited;
    }
    // The API's keys (its queue's, a suite's events) go with it: the bench shares Redis with others.
    await deleteKeysUnder(context.redisUrl, env.QUEUE_PREFIX as string).catch(() => undefined);
  };
  try {
    const deadline = Date.now() + 180_000;
    while (port === 0) {
      if (!running) throw new Error(`bench: the API exited during start: ${stderr}`);
      if (Date.now() > deadline) throw new Error('bench: the API did not start within 180 s');
      await sleep(50);
    }
    const url = `http://127.0.0.1:${port}`;
    for (;;) {
      const index = await fetch(`${url}/v1/index`)
        .then((r) => (r.ok ? (r.json() as Promise<{ count?: number }>) : null))
        .catch(() => null);
      if (index?.count === expectedCount) break;
      if (!running) throw new Error(`bench: the API exited: ${stderr}`);
      if (Date.now() > deadline)
        throw new Error(`bench: the API did not serve ${expectedCount} items within 180 s`);
      await sleep(100);
    }
    return { url, pid: child.pid as number, child, warnings, swaps: () => swaps, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
