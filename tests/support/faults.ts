/**
 * Helpers of the fault-injection system tests (tests/faults-*.test.ts): generated catalogues, a small
 * tmpfs as a data volume, the RSS of a process, catalogue jobs through the API.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sceneJpeg } from '../../services/api/test/fixtures';
import type { ContractClient, JobBody } from './api-client';
import { pollUntil } from './poll';

/** Writes `count` generated photo-like JPEGs (sharp-drawn, never copied photos) as `<prefix>-<n>.jpg`. */
export async function writeGeneratedCatalogue(
  dir: string,
  prefix: string,
  count: number,
  firstSeed = 1,
): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const id = `${prefix}-${firstSeed + i}`;
    writeFileSync(path.join(dir, `${id}.jpg`), await sceneJpeg(firstSeed + i));
    ids.push(id);
  }
  return ids;
}

/** Why a tmpfs cannot be mounted here, or null when it can (mount needs root). */
export function tmpfsUnavailableReason(): string | null {
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    return `not root (uid ${process.getuid()}): mount -t tmpfs needs root`;
  return null;
}

/** Mounts a tmpfs of `sizeMiB` at `dir` (created if missing). */
export function mountTmpfs(dir: string, sizeMiB: number): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', dir]);
}

/** Unmounts `dir` (lazily, so a process that still has a file open cannot keep it mounted). */
export function unmountTmpfs(dir: string): void {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  } catch {
    // Not mounted (the test failed before mounting): nothing to do.
  }
}

/** Free bytes of the file system holding `dir`, as an unprivileged writer sees them. */
export function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
}

/** Every file under `dir` (relative paths), for "what was left behind" assertions. */
export function listFiles(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full, base));
    else out.push(path.relative(base, full));
  }
  return out;
}

/** The version directories under `<dataDir>/snapshots`, e.g. ['v000000000001']. */
export function snapshotDirs(dataDir: string): string[] {
  return readdirSync(path.join(dataDir, 'snapshots')).sort();
}

/** The version CURRENT names. */
export function currentVersion(dataDir: string): number {
  return (JSON.parse(readFileSync(path.join(dataDir, 'CURRENT'), 'utf8')) as { version: number }).version;
}

/** Size of a file in bytes. */
export function fileSize(file: string): number {
  return statSync(file).size;
}

/** Resident set size of a process in MiB, from /proc/<pid>/status (VmRSS); null once it is gone. */
export function rssMiB(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
    return kib === undefined ? null : Number(kib) / 1024;
  } catch {
    return null;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns the samples in MiB. */
export function sampleRss(pid: number, everyMs = 100): { stop(): number[]; samples: number[] } {
  const samples: number[] = [];
  const timer = setInterval(() => {
    const rss = rssMiB(pid);
    if (rss !== null) samples.push(rss);
  }, everyMs);
  return {
    samples,
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}

/** POST /v1/items of catalogue items given by `imagePath` (relative to CATALOGUE_ROOT); the job id. */
export async function enqueueImagePaths(
  client: ContractClient,
  ids: string[],
  metadata: (id: string) => Record<string, string> = () => ({}),
): Promise<string> {
  const reply = await client.call('/v1/items', {
    method: 'POST',
    json: { items: ids.map((id) => ({ id, imagePath: `${id}.jpg`, metadata: metadata(id) })) },
  });
  if (reply.status !== 202) throw new Error(`POST /v1/items answered ${reply.status}: ${reply.body}`);
  return reply.json<{ jobId: string }>().jobId;
}

/** Polls GET /v1/jobs/{id} until the job is completed or failed; returns its status. */
export function waitForJobState(client: ContractClient, jobId: string, timeoutMs: number): Promise<JobBody> {
  return pollUntil(
    async () => {
      const reply = await client.call(`/v1/jobs/${jobId}`);
      const job = reply.json<JobBody>();
      return job.state === 'completed' || job.state === 'failed' ? job : undefined;
    },
    { timeoutMs, intervalMs: 200, description: `job ${jobId} to finish` },
  );
}

/** Polls GET /v1/index until `accept` holds for the served snapshot; returns its body. */
export function waitForIndex<T extends { version: number; count: number }>(
  client: ContractClient,
  accept: (index: T) => boolean,
  timeoutMs: number,
  description: string,
): Promise<T> {
  return pollUntil(
    async () => {
      const reply = await client.call('/v1/index');
      if (reply.status !== 200) return undefined;
      const index = reply.json<T>();
      return accept(index) ? index : undefined;
    },
    { timeoutMs, intervalMs: 100, description },
  );
}
