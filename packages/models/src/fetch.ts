import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LookalikeError } from '@lookalike/config';
import type { EmbeddingModel, ModelEntry } from './registry';

export class ModelIntegrityError extends LookalikeError {
  constructor(entry: ModelEntry, source: string, reason: string) {
    super(
      'MODEL_INTEGRITY',
      `Refusing model ${entry.name} from ${source}: ${reason} ` +
        `(expected ${entry.bytes} bytes, sha256 ${entry.sha256})`,
      { details: { model: entry.name, source } },
    );
  }
}

export class ModelUnavailableError extends LookalikeError {
  constructor(entry: ModelEntry, attempts: string[]) {
    super(
      'MODEL_UNAVAILABLE',
      `Could not fetch model ${entry.name} (${entry.file}) from any source:\n` +
        attempts.map((a) => `  - ${a}`).join('\n') +
        `\nOffline or behind a firewall? Set MODEL_MIRROR=<dir or base URL> to a folder or server ` +
        `that holds ${entry.file} (for example MODEL_MIRROR=../shared/models).`,
      { permanent: true, details: { model: entry.name } },
    );
  }
}

export interface FetchModelOptions {
  cacheDir: string;
  /** A directory, a file:// URL or an http(s) base URL that holds `<entry.file>`. */
  mirror?: string | undefined;
  /** Per-source time limit in ms. */
  timeoutMs?: number;
  log?: (message: string) => void;
}

export interface FetchedModel {
  entry: ModelEntry;
  path: string;
  /** Where the verified bytes came from: `cache`, the mirror or an upstream URL. */
  source: string;
}

/** Sources in the order they are tried: the mirror alone when one is set, else the upstream URLs. */
export function modelSources(entry: ModelEntry, mirror?: string): string[] {
  if (!mirror) return [...entry.urls];
  if (/^https?:\/\//.test(mirror)) return [`${mirror.replace(/\/+$/, '')}/${entry.file}`];
  const dir = mirror.startsWith('file://') ? new URL(mirror).pathname : path.resolve(mirror);
  return [pathToFileURL(path.join(dir, entry.file)).href];
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Checks a file on disk against the registry entry; returns the reason it is wrong, or null. */
export async function verifyModelFile(entry: ModelEntry, file: string): Promise<string | null> {
  const info = await stat(file).catch(() => null);
  if (!info) return 'file is missing';
  if (info.size !== entry.bytes) return `size is ${info.size} bytes`;
  const digest = await sha256OfFile(file);
  if (digest !== entry.sha256) return `sha256 is ${digest}`;
  return null;
}

async function* readSource(source: string, timeoutMs: number): AsyncGenerator<Uint8Array> {
  if (source.startsWith('file://')) {
    yield* createReadStream(new URL(source)) as AsyncIterable<Buffer>;
    return;
  }
  const response = await fetch(source, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
  yield* response.body as AsyncIterable<Uint8Array>;
}

/**
 * Downloads one source into a temp file beside the target, hashing as it goes, and renames it into
 * place only when size and sha256 match: a reader never sees a partial or unverified model.
 * (Not write-file-atomic: it writes a buffer it is given, while this streams the download to disk
 * and verifies it before the rename, never holding the whole model in memory.)
 */
async function downloadVerified(entry: ModelEntry, source: string, target: string, timeoutMs: number) {
  const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'w');
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of readSource(source, timeoutMs)) {
      size += chunk.byteLength;
      if (size > entry.bytes) throw new ModelIntegrityError(entry, source, `more than ${entry.bytes} bytes`);
      hash.update(chunk);
      await handle.write(chunk);
    }
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  const digest = hash.digest('hex');
  if (size !== entry.bytes || digest !== entry.sha256) {
    await rm(temp, { force: true });
    throw new ModelIntegrityError(entry, source, `got ${size} bytes with sha256 ${digest}`);
  }
  await rename(temp, target);
}

/**
 * Makes sure `entry` is in the cache, verified, and returns its path. A cached file that no longer
 * verifies is fetched again. A source that serves wrong bytes is refused (ModelIntegrityError) and,
 * for upstream URLs, the next one is tried.
 */
export async function fetchModel(entry: ModelEntry, options: FetchModelOptions): Promise<FetchedModel> {
  const log = options.log ?? (() => {});
  const cacheDir = path.resolve(options.cacheDir);
  const target = path.join(cacheDir, entry.file);
  await mkdir(cacheDir, { recursive: true });

  const cachedProblem = await verifyModelFile(entry, target);
  if (cachedProblem === null) return { entry, path: target, source: 'cache' };
  if (cachedProblem !== 'file is missing') {
    log(`cached ${entry.file} is not the expected file (${cachedProblem}); fetching it again`);
    await rm(target, { force: true });
  }

  const attempts: string[] = [];
  for (const source of modelSources(entry, options.mirror)) {
    log(`fetching ${entry.name} from ${source}`);
    try {
      await downloadVerified(entry, source, target, options.timeoutMs ?? 120_000);
      return { entry, path: target, source };
    } catch (err) {
      // A mirror the operator chose that serves the wrong bytes is an error to report, not to skip.
      if (err instanceof ModelIntegrityError && options.mirror) throw err;
      const reason =
        err instanceof Error
          ? err.cause instanceof Error
            ? `${err.message}: ${err.cause.message}`
            : err.message
          : String(err);
      attempts.push(`${source}: ${reason}`);
    }
  }
  throw new ModelUnavailableError(entry, attempts);
}

/** `fetchModel` for every file an embedding model (single or ensemble) runs, in member order. */
export async function fetchModelFiles(
  model: EmbeddingModel,
  options: FetchModelOptions,
): Promise<FetchedModel[]> {
  const fetched: FetchedModel[] = [];
  // One after the other: two members never race for the same cache directory's temp names anyway,
  // but sequential fetches keep the log readable and the bandwidth for one file at a time.
  for (const { entry } of model.members) fetched.push(await fetchModel(entry, options));
  return fetched;
}
