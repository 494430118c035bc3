import { Command, InvalidArgumentError } from 'commander';
import { LookalikeError } from '@lookalike/config';
import { SingleBar } from 'cli-progress';
import { parse } from 'csv-parse/sync';
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  CatalogueQueue,
  ITEM_ID_PATTERN,
  MAX_ITEMS_PER_JOB,
  MAX_METADATA_KEYS,
  MAX_METADATA_STRING_LENGTH,
  type CatalogueItemInput,
  type JobResult,
  type JobStatus,
} from '@lookalike/queue';
import type { CliConfig } from '../config';

/** Keeps one job's inline images well under the queue's per-job limit (50 M characters). */
const MAX_BASE64_CHARS_PER_JOB = 40_000_000;

/** Bad import input (CSV, options): printed as `error [IMPORT_INVALID]: …` without a stack. */
export class ImportInputError extends LookalikeError {
  constructor(message: string) {
    super('IMPORT_INVALID', message);
  }
}

export interface CsvCatalogueOptions {
  idColumn: string;
  /** Relative image path per row; `{id}` and `{<column>}` are replaced. */
  imageTemplate: string;
  /** Metadata columns; default every column except the id column. */
  columns?: string[];
}

export interface CsvRow {
  id: string;
  /** Relative to the images dir (and to the indexer's CATALOGUE_ROOT). */
  imagePath: string;
  metadata: Record<string, string>;
}

export interface CsvCatalogue {
  rows: CsvRow[];
  skipped: Array<{ line: number; reason: string }>;
  /** CSV header → metadata key, where the header had to be changed to fit the metadata key rules. */
  renamed: Record<string, string>;
}

/**
 * Metadata keys are 1-64 of [A-Za-z0-9_], not starting with `_` (internal fields); other characters
 * become `_`, leading ones are dropped.
 */
export function metadataKeyOf(header: string): string {
  const key = header
    .trim()
    .replace(/[^A-Za-z0-9_]+/g, '_')
    .replace(/^_+/, '')
    .slice(0, 64);
  return key === '' ? 'field' : key;
}

function fillTemplate(template: string, id: string, record: Record<string, string>): string {
  return template.replace(/\{([^{}]+)\}/g, (_all, name: string) =>
    name === 'id' ? id : (record[name] ?? ''),
  );
}

/**
 * Reads a catalogue CSV in the Kaggle "Fashion Product Images" layout: a header row, an id column,
 * every other (or every selected) column becomes string metadata; empty cells are left out. Rows
 * that cannot become items (bad id, duplicate id, wrong field count) are reported, not fatal.
 */
export function readCatalogueCsv(text: string, options: CsvCatalogueOptions): CsvCatalogue {
  const records = parse(text, {
    bom: true,
    skip_empty_lines: true,
    relax_column_count: true,
    trim: true,
  }) as string[][];
  const [header, ...body] = records;
  if (!header) throw new ImportInputError('the CSV is empty');
  const idIndex = header.indexOf(options.idColumn);
  if (idIndex < 0) {
    throw new ImportInputError(`no column "${options.idColumn}" in the CSV header (${header.join(', ')})`);
  }
  const selected = options.columns ?? header.filter((h) => h !== options.idColumn);
  const missing = selected.filter((c) => !header.includes(c));
  if (missing.length) throw new ImportInputError(`no column(s) ${missing.join(', ')} in the CSV header`);
  if (selected.length > MAX_METADATA_KEYS) {
    throw new ImportInputError(`at most ${MAX_METADATA_KEYS} metadata columns; choose some with --columns`);
  }
  const renamed: Record<string, string> = {};
  for (const column of selected)
    if (metadataKeyOf(column) !== column) renamed[column] = metadataKeyOf(column);

  const rows: CsvRow[] = [];
  const skipped: CsvCatalogue['skipped'] = [];
  const seen = new Set<string>();
  body.forEach((fields, index) => {
    const line = index + 2;
    if (fields.length !== header.length) {
      skipped.push({ line, reason: `${fields.length} fields, the header has ${header.length}` });
      return;
    }
    const record: Record<string, string> = {};
    header.forEach((name, i) => (record[name] = fields[i] ?? ''));
    const id = record[options.idColumn] ?? '';
    if (!ITEM_ID_PATTERN.test(id)) {
      skipped.push({
        line,
        reason: `id "${id.slice(0, 40)}" is not 1-128 characters of A-Z a-z 0-9 _ . : -`,
      });
      return;
    }
    if (seen.has(id)) {
      skipped.push({ line, reason: `duplicate id ${id}` });
      return;
    }
    seen.add(id);
    const metadata: Record<string, string> = {};
    for (const column of selected) {
      const value = record[column] ?? '';
      if (value !== '') metadata[metadataKeyOf(column)] = value.slice(0, MAX_METADATA_STRING_LENGTH);
    }
    rows.push({ id, imagePath: fillTemplate(options.imageTemplate, id, record), metadata });
  });
  return { rows, skipped, renamed };
}

export interface ImportTotals {
  items: number;
  jobs: number;
  indexed: number;
  unchanged: number;
  failed: Array<{ id: string; code: string; reason: string }>;
  failedJobs: Array<{ jobId: string; items: number; reason: string }>;
  skipped: Array<{ line: number; reason: string }>;
  missingImages: string[];
  version: number | null;
  seconds: number;
}

interface EnqueuedJob {
  jobId: string;
  items: number;
  status: JobStatus | null;
}

function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface ImportOptions {
  csv: string;
  images: string;
  idColumn: string;
  imageTemplate: string;
  columns?: string;
  base64?: boolean;
  batchSize: number;
  limit?: number;
  wait?: boolean;
  waitTimeout: number;
  check: boolean;
  json?: boolean;
  progress: boolean;
}

function progressBar(enabled: boolean, format: string): SingleBar | null {
  if (!enabled) return null;
  return new SingleBar({
    format,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 5000,
    hideCursor: true,
    etaBuffer: 50,
  });
}

/** Builds item batches (≤ batchSize items, bounded inline bytes) and enqueues them one by one. */
async function enqueueAll(
  queue: CatalogueQueue,
  rows: CsvRow[],
  options: ImportOptions,
  onEnqueued: (items: number) => void,
): Promise<EnqueuedJob[]> {
  const jobs: EnqueuedJob[] = [];
  let batch: CatalogueItemInput[] = [];
  let batchChars = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const jobId = await queue.enqueue({ kind: 'upsert', items: batch });
    jobs.push({ jobId, items: batch.length, status: null });
    onEnqueued(batch.length);
    batch = [];
    batchChars = 0;
  };
  for (const row of rows) {
    let item: CatalogueItemInput;
    if (options.base64) {
      const imageBase64 = (await readFile(path.join(options.images, row.imagePath))).toString('base64');
      if (batchChars + imageBase64.length > MAX_BASE64_CHARS_PER_JOB) await flush();
      batchChars += imageBase64.length;
      item = { id: row.id, metadata: row.metadata, imageBase64 };
    } else {
      item = { id: row.id, metadata: row.metadata, imagePath: row.imagePath };
    }
    batch.push(item);
    if (batch.length >= options.batchSize) await flush();
  }
  await flush();
  return jobs;
}

/**
 * Polls the jobs until each is completed or failed. Redis being briefly unreachable (a restart) is
 * ridden out: polling errors are retried until the deadline.
 */
async function waitForJobs(
  queue: CatalogueQueue,
  jobs: EnqueuedJob[],
  timeoutMs: number,
  onProgress: (itemsDone: number) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    let pending = 0;
    let done = 0;
    try {
      for (const job of jobs) {
        if (job.status?.state !== 'completed' && job.status?.state !== 'failed') {
          job.status = await queue.getJob(job.jobId);
        }
        const state = job.status?.state;
        if (state === 'completed' || state === 'failed') done += job.items;
        else {
          pending++;
          done += Math.floor(((job.status?.progress ?? 0) / 100) * job.items);
        }
      }
      lastError = null;
      onProgress(done);
      if (pending === 0) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`gave up waiting after ${Math.round(timeoutMs / 1000)} s${why}; the jobs keep running`);
    }
    await sleep(lastError ? 1000 : 500);
  }
}

function summarise(jobs: EnqueuedJob[], totals: ImportTotals): void {
  for (const job of jobs) {
    const status = job.status;
    if (status?.state === 'completed' && status.result) {
      const result: JobResult = status.result;
      totals.indexed += result.indexed.length;
      totals.unchanged += result.unchanged.length;
      totals.failed.push(...result.failed);
      if (result.version !== null) totals.version = Math.max(totals.version ?? 0, result.version);
    } else {
      totals.failedJobs.push({
        jobId: job.jobId,
        items: job.items,
        reason: status?.failedReason ?? (status ? `job is ${status.state}` : 'job not found (removed?)'),
      });
    }
  }
}

function printTotals(totals: ImportTotals, waited: boolean): void {
  const lines = [`${totals.items} items enqueued in ${totals.jobs} job(s)`];
  if (totals.skipped.length) {
    lines.push(`${totals.skipped.length} CSV row(s) skipped:`);
    for (const s of totals.skipped.slice(0, 10)) lines.push(`  line ${s.line}: ${s.reason}`);
  }
  if (totals.missingImages.length) {
    lines.push(
      `${totals.missingImages.length} item(s) without an image file, not enqueued: ${totals.missingImages.slice(0, 10).join(', ')}`,
    );
  }
  if (waited) {
    lines.push(
      `indexed ${totals.indexed}, unchanged ${totals.unchanged}, failed ${totals.failed.length}` +
        (totals.version !== null ? `, snapshot version ${totals.version}` : ''),
    );
    const byCode = new Map<string, number>();
    for (const f of totals.failed) byCode.set(f.code, (byCode.get(f.code) ?? 0) + 1);
    for (const [code, n] of byCode) lines.push(`  ${code}: ${n}`);
    for (const f of totals.failed.slice(0, 20)) lines.push(`  ${f.id}: ${f.code} ${f.reason}`);
    for (const j of totals.failedJobs) lines.push(`job ${j.jobId} (${j.items} items) failed: ${j.reason}`);
  }
  lines.push(`${waited ? 'published' : 'enqueued'} in ${totals.seconds.toFixed(1)} s`);
  console.log(lines.join('\n'));
}

export function importCommand(loadConfig: () => CliConfig): Command {
  return new Command('import')
    .description(
      'enqueue a catalogue CSV (Kaggle "Fashion Product Images" layout: id column, <images>/<id>.jpg, every other ' +
        "column becomes metadata). Items reference images as paths relative to the indexer's CATALOGUE_ROOT, " +
        'which must be the --images directory as the indexer sees it (compose mounts it read-only); use ' +
        '--base64 when the indexer cannot see the files.',
    )
    .requiredOption('--csv <file>', 'catalogue CSV with a header row')
    .requiredOption('--images <dir>', 'directory holding the images (checked locally; read for --base64)')
    .option('--id-column <name>', 'column holding the item id', 'id')
    .option(
      '--image-template <template>',
      'image path relative to --images; {id} and {<column>} are replaced',
      '{id}.jpg',
    )
    .option('--columns <list>', 'comma-separated metadata columns (default: every column but the id)')
    .option('--base64', 'send the image bytes inside the jobs instead of paths')
    .option(
      '--batch-size <n>',
      `items per job (at most ${MAX_ITEMS_PER_JOB})`,
      parsePositiveInt,
      MAX_ITEMS_PER_JOB,
    )
    .option('--limit <n>', 'only the first n rows', parsePositiveInt)
    .option('--no-check', 'do not check that image files exist before enqueueing')
    .option('--wait', 'wait until every job is published; print totals; exit 1 if anything failed')
    .option('--wait-timeout <seconds>', 'give up waiting after this long', parsePositiveInt, 3600)
    .option('--json', 'print the totals as JSON on stdout')
    .option('--no-progress', 'no progress bar')
    .action(async (options: ImportOptions) => {
      const config = loadConfig();
      const started = Date.now();
      if (options.batchSize > MAX_ITEMS_PER_JOB) {
        throw new ImportInputError(`--batch-size is at most ${MAX_ITEMS_PER_JOB}`);
      }
      let text: string;
      try {
        text = readFileSync(options.csv, 'utf8');
      } catch (err) {
        throw new ImportInputError(`cannot read --csv ${options.csv}: ${(err as Error).message}`);
      }
      const imagesDir = await stat(options.images).catch(() => null);
      if (!imagesDir?.isDirectory())
        throw new ImportInputError(`--images ${options.images} is not a directory`);
      const catalogue = readCatalogueCsv(text, {
        idColumn: options.idColumn,
        imageTemplate: options.imageTemplate,
        columns: options.columns
          ?.split(',')
          .map((c) => c.trim())
          .filter(Boolean),
      });
      let rows = options.limit ? catalogue.rows.slice(0, options.limit) : catalogue.rows;
      const missingImages: string[] = [];
      if (options.check || options.base64) {
        const present = await Promise.all(
          rows.map((row) =>
            stat(path.join(options.images, row.imagePath)).then(
              (s) => s.isFile(),
              () => false,
            ),
          ),
        );
        missingImages.push(...rows.filter((_row, i) => !present[i]).map((row) => row.id));
        rows = rows.filter((_row, i) => present[i]);
      }
      const totals: ImportTotals = {
        items: rows.length,
        jobs: 0,
        indexed: 0,
        unchanged: 0,
        failed: [],
        failedJobs: [],
        skipped: catalogue.skipped,
        missingImages,
        version: null,
        seconds: 0,
      };
      const queue = new CatalogueQueue({ redisUrl: config.REDIS_URL, prefix: config.QUEUE_PREFIX });
      try {
        const enqueueBar = progressBar(
          options.progress,
          'enqueue   [{bar}] {percentage}% | {value}/{total} items',
        );
        enqueueBar?.start(rows.length, 0);
        const jobs = await enqueueAll(queue, rows, options, (n) => enqueueBar?.increment(n));
        enqueueBar?.stop();
        totals.jobs = jobs.length;
        if (options.wait) {
          const indexBar = progressBar(
            options.progress,
            'published [{bar}] {percentage}% | {value}/{total} items | {duration_formatted} | eta {eta_formatted}',
          );
          indexBar?.start(rows.length, 0);
          await waitForJobs(queue, jobs, options.waitTimeout * 1000, (done) => indexBar?.update(done));
          indexBar?.stop();
          summarise(jobs, totals);
        }
        totals.seconds = (Date.now() - started) / 1000;
        if (options.json) console.log(JSON.stringify({ ...totals, jobIds: jobs.map((j) => j.jobId) }));
        else printTotals(totals, options.wait ?? false);
        const problems =
          totals.failed.length +
          totals.failedJobs.length +
          totals.missingImages.length +
          totals.skipped.length;
        if (options.wait && problems > 0) process.exitCode = 1;
      } finally {
        await queue.close();
      }
    });
}
