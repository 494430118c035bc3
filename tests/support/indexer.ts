import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { CatalogueQueue } from '@lookalike/queue';
import type { ImportTotals } from '../../packages/cli/src/commands/import';
import { pollUntil } from './poll';
import { modelCacheDir, modelMirror } from './paths';
import { runNode, startService, type CommandResult, type ServiceProcess } from './processes';

export const INDEXER_SCRIPT = 'services/indexer/dist/main.js';
export const CLI_SCRIPT = 'packages/cli/dist/bin.js';

/** A queue prefix no other test (or run) uses. */
export function uniquePrefix(test: string): string {
  return `t-${test}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function tempDir(label: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `lookalike-${label}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface ServiceEnvOptions {
  redisUrl: string;
  prefix: string;
  dataDir: string;
  catalogueRoot?: string;
  /** Any other variable (PUBLISH_DEBOUNCE_MS, JOB_LOCK_MS, API_KEY, …). */
  extra?: Record<string, string>;
}
export type IndexerEnvOptions = ServiceEnvOptions;

/** What every lookalike process of one test shares: its Redis prefix, data dir, model cache and mirror. */
export function serviceEnv(
  options: ServiceEnvOptions,
  defaults: Record<string, string>,
): Record<string, string> {
  return {
    REDIS_URL: options.redisUrl,
    QUEUE_PREFIX: options.prefix,
    DATA_DIR: options.dataDir,
    MODEL_CACHE_DIR: modelCacheDir,
    MODEL_MIRROR: modelMirror,
    LOG_LEVEL: 'info',
    ...defaults,
    ...(options.catalogueRoot ? { CATALOGUE_ROOT: options.catalogueRoot } : {}),
    ...options.extra,
  };
}

/** The environment of an indexer (or CLI) process in a test: one core per replica. */
export function indexerEnv(options: IndexerEnvOptions): Record<string, string> {
  return serviceEnv(options, { EMBEDDER_SESSIONS: '1' });
}

/** Starts `node services/indexer/dist/main.js` and waits for its `ready` line. */
export function startIndexer(name: string, env: Record<string, string>): Promise<ServiceProcess> {
  return startService({ name, script: INDEXER_SCRIPT, env, readyTimeoutMs: 90_000 });
}

/** The CLI's `--json` totals, plus the ids of the jobs it enqueued. */
export type ImportSummary = ImportTotals & { jobIds: string[] };

/** `lookalike import … --json`; returns the exit status, output and the parsed summary. */
export async function runImport(
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<CommandResult & { summary: ImportSummary | null }> {
  const result = await runNode(CLI_SCRIPT, ['import', '--json', '--no-progress', ...args], env, timeoutMs);
  let summary: ImportSummary | null = null;
  const jsonLine = result.stdout
    .split('\n')
    .reverse()
    .find((line) => line.startsWith('{'));
  if (jsonLine) summary = JSON.parse(jsonLine) as ImportSummary;
  return { ...result, summary };
}

/**
 * `lookalike import … --wait` of a catalogue a test needs whole: fails the test (with the CLI's last
 * output) unless the command succeeded and indexed every row.
 */
export async function importWhole(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 240_000,
): Promise<ImportSummary | null> {
  const run = await runImport([...args, '--wait'], env, timeoutMs);
  expect({ code: run.code, failed: run.summary?.failed, stderr: run.stderr.slice(-1500) }).toMatchObject({
    code: 0,
    failed: [],
  });
  return run.summary;
}

/** Deletes every Redis key under the prefix (a test's queue), leaving everything else alone. */
export async function deleteQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const client = new Redis(redisUrl, {
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    let cursor = '0';
    for (let i = 0; i < 10_000; i++) {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await client.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } catch {
    // Best effort: a stopped private Redis has nothing to clean.
  } finally {
    client.disconnect();
  }
}

/** Counts of `msg` lines across processes (e.g. how many items were embedded, from 'job done'). */
export function sumLogField(services: ServiceProcess[], msg: string, field: string): number {
  let total = 0;
  for (const service of services) {
    for (const line of service.logs) {
      if (line.msg === msg && typeof line[field] === 'number') total += line[field] as number;
    }
  }
  return total;
}

/** Polls a job until it is completed or failed. */
export async function waitForJob(
  queue: CatalogueQueue,
  jobId: string,
  timeoutMs: number,
): Promise<NonNullable<Awaited<ReturnType<CatalogueQueue['getJob']>>>> {
  return pollUntil(
    async () => {
      const job = await queue.getJob(jobId);
      return job && (job.state === 'completed' || job.state === 'failed') ? job : undefined;
    },
    { timeoutMs, intervalMs: 100, description: `job ${jobId} to finish` },
  );
}
