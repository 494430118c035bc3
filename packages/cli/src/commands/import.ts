import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { CatalogueQueue, MAX_ITEMS_PER_JOB } from '@lookalike/queue';
import { ImportInputError, readCatalogueCsv } from '../catalogue-import/csv';
import { enqueueAll, summarise, waitForJobs, type ImportTotals } from '../catalogue-import/jobs';
import { printTotals, progressBar } from '../catalogue-import/report';
import type { CliConfig } from '../config';
import { fieldMap, positiveInteger } from '../options';

export {
  ImportInputError,
  metadataKeyOf,
  readCatalogueCsv,
  type CsvCatalogue,
  type CsvCatalogueOptions,
  type CsvRow,
} from '../catalogue-import/csv';
export type { ImportTotals } from '../catalogue-import/jobs';

interface ImportOptions {
  csv: string;
  images: string;
  idColumn: string;
  imageTemplate: string;
  columns?: string;
  /** `--map`: metadata field → column or template. */
  map?: Record<string, string>;
  base64?: boolean;
  batchSize: number;
  limit?: number;
  wait?: boolean;
  waitTimeout: number;
  check: boolean;
  json?: boolean;
  progress: boolean;
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
    .option(
      '--map <field=source,…>',
      'further metadata fields from a column or a template, e.g. title=productDisplayName or ' +
        "url=https://shop.example/p/{id} (what the shop widget's title-field, price-field and url-field read); repeatable",
      fieldMap,
    )
    .option('--base64', 'send the image bytes inside the jobs instead of paths')
    .option(
      '--batch-size <n>',
      `items per job (at most ${MAX_ITEMS_PER_JOB})`,
      positiveInteger,
      MAX_ITEMS_PER_JOB,
    )
    .option('--limit <n>', 'only the first n rows', positiveInteger)
    .option('--no-check', 'do not check that image files exist before enqueueing')
    .option('--wait', 'wait until every job is published; print totals; exit 1 if anything failed')
    .option('--wait-timeout <seconds>', 'give up waiting after this long', positiveInteger, 3600)
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
        ...(options.map ? { fieldMap: options.map } : {}),
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
        failedItems: 0,
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
          totals.failedItems + totals.failedJobs.length + totals.missingImages.length + totals.skipped.length;
        if (options.wait && problems > 0) process.exitCode = 1;
      } finally {
        await queue.close();
      }
    });
}
