import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LinearProjection } from '@lookalike/projection';
import type { ItemInput, Metadata, ModelIdentity } from '../src';

export const TEST_MODEL: ModelIdentity = { id: 'test-model', sha256: 'a'.repeat(64), dimension: 32 };

export function modelOf(dimension: number): ModelIdentity {
  return { ...TEST_MODEL, dimension };
}

/** Deterministic PRNG (mulberry32), so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function unitVector(random: () => number, dimension: number): Float32Array {
  const v = new Float32Array(dimension);
  let norm = 0;
  for (let j = 0; j < dimension; j++) {
    // Box-Muller: isotropic directions.
    const u = Math.max(random(), 1e-12);
    const g = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    v[j] = g;
    norm += g * g;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let j = 0; j < dimension; j++) v[j] = (v[j] as number) * scale;
  return v;
}

export function item(id: string, vector: Float32Array, metadata: Metadata = {}): ItemInput {
  return { id, vector, metadata, contentHash: `hash-${id}` };
}

export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += (a[j] as number) * (b[j] as number);
  return s;
}

/** A temp data dir, removed by the returned cleanup. */
export function tempDataDir(prefix = 'index-store-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Brute-force top-k ids (float64) over a map of id → vector, excluding `exclude`. */
export function bruteForce(
  vectors: Map<string, Float32Array>,
  query: Float32Array,
  k: number,
  accept: (id: string) => boolean = () => true,
): Array<{ id: string; score: number }> {
  return [...vectors.entries()]
    .filter(([id]) => accept(id))
    .map(([id, v]) => ({ id, score: dot(query, v) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The vector an id has in a given generation (deterministic, so parent and child processes agree). */
export function vectorFor(id: string, generation: number, dimension: number): Float32Array {
  let seed = generation * 2654435761;
  for (let i = 0; i < id.length; i++) seed = Math.imul(seed ^ id.charCodeAt(i), 16777619);
  return unitVector(rng(seed >>> 0), dimension);
}

export interface ChildProcessHandle {
  child: ChildProcess;
  /** JSON events the child printed so far. */
  events: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs a fixture (TypeScript, compiled on the fly) as a real child process. */
export function spawnFixture(fixture: string, task: unknown): ChildProcessHandle {
  const fixtures = path.join(__dirname, 'fixtures');
  const child = spawn(
    process.execPath,
    ['-r', path.join(fixtures, 'register.cjs'), path.join(fixtures, fixture), JSON.stringify(task)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const events: Array<Record<string, unknown>> = [];
  let stderr = '';
  let pending = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.trim()) events.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, events, stderr: () => stderr, exited };
}

/**
 * A hand-made projection of `model`'s raw vectors onto `outputDimension` orthonormal directions
 * (Gram–Schmidt over Gaussian columns) with a small random mean: a real LinearProjection, no fit.
 */
export function orthonormalProjection(
  model: ModelIdentity,
  outputDimension: number,
  seed: number,
  kind = 'test-orthonormal',
): LinearProjection {
  const din = model.dimension;
  const random = rng(seed);
  const columns: Float64Array[] = [];
  while (columns.length < outputDimension) {
    const column = Float64Array.from(unitVector(random, din));
    for (const other of columns) {
      let d = 0;
      for (let i = 0; i < din; i++) d += (column[i] as number) * (other[i] as number);
      for (let i = 0; i < din; i++) column[i] = (column[i] as number) - d * (other[i] as number);
    }
    let norm = 0;
    for (let i = 0; i < din; i++) norm += (column[i] as number) ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < din; i++) column[i] = (column[i] as number) / norm;
    columns.push(column);
  }
  const weights = new Float32Array(din * outputDimension);
  for (let i = 0; i < din; i++)
    for (let j = 0; j < outputDimension; j++)
      weights[i * outputDimension + j] = (columns[j] as Float64Array)[i] as number;
  const mean = Float32Array.from({ length: din }, () => (random() - 0.5) * 0.01);
  return new LinearProjection({
    kind,
    model,
    fittedOn: 100,
    fittedAt: '2026-12-01T00:00:00.000Z',
    inputPower: 1,
    mean,
    weights,
    outputDimension,
  });
}

/** Largest absolute difference of two equally long vectors. */
export function maxDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let j = 0; j < a.length; j++) worst = Math.max(worst, Math.abs((a[j] as number) - (b[j] as number)));
  return worst;
}
