import { Command, InvalidArgumentError } from 'commander';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createEmbedder, type Embedder } from '@lookalike/embedder';
import { SnapshotWriter, type Snapshot } from '@lookalike/index-store';
import {
  DEFAULT_RANKING_CONFIG,
  RankingMaintainer,
  perClassPrecision,
  rankedSearch,
  readRankingModel,
  seededRandom,
  summarize,
  type ClassPrecision,
  type JudgedQuery,
  type MetricSummary,
  type SearchHit,
} from '@lookalike/ranking';
import type { CliConfig } from '../config';
import { ImportInputError, readCatalogueCsv } from './import';

/** A result counts as relevant under a criterion when these metadata fields all equal the query's. */
export const CRITERIA: Record<string, string[]> = {
  articleType: ['articleType'],
  subCategory: ['subCategory'],
  'articleType+baseColour': ['articleType', 'baseColour'],
};

const K = 10;

interface EvalItem {
  id: string;
  metadata: Record<string, string>;
  imagePath: string;
  vector: Float32Array;
  colour: Float32Array;
  fold: number;
}

export interface ModeResult {
  metrics: Record<string, MetricSummary>;
  perClass: Array<ClassPrecision & { criterion: string }>;
  /** Mean query time (ranking only; the image was embedded once). */
  queryMs: number;
}

export interface EvalReport {
  catalogue: string;
  model: string;
  items: number;
  folds: number;
  seconds: { embed: number; fit: number; total: number };
  fitMsPerFold: number[];
  baseline: ModeResult;
  full: ModeResult;
  contactSheet: string | null;
}

/** FNV-1a of the id: the fold of an item depends on nothing but its id. */
export function foldOf(id: string, folds: number): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h % folds;
}

function keyOf(metadata: Record<string, string | number>, fields: string[]): string | null {
  const values = fields.map((f) => metadata[f]);
  return values.some((v) => v === undefined || v === '') ? null : values.join(' / ');
}

async function embedAll(
  embedder: Embedder,
  items: Omit<EvalItem, 'vector' | 'colour' | 'fold'>[],
  root: string,
  log: (s: string) => void,
) {
  const out: Array<{ vector: Float32Array; colour: Float32Array } | null> = new Array(items.length).fill(
    null,
  );
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const item = items[i] as (typeof items)[number];
      try {
        // Exactly what the API does with an upload: image bytes in, embedding + colour out.
        const { vector, colour } = await embedder.embed(await readFile(path.join(root, item.imagePath)));
        out[i] = { vector, colour };
      } catch (err) {
        log(`  skipped ${item.id}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (++done % 1000 === 0) log(`  embedded ${done}/${items.length}`);
    }
  };
  await Promise.all(Array.from({ length: embedder.options.sessions * 4 }, worker));
  return out;
}

function judge(
  query: EvalItem,
  hits: SearchHit[],
  counts: Map<string, Map<string, number>>,
): Record<string, JudgedQuery> {
  const judged: Record<string, JudgedQuery> = {};
  for (const [name, fields] of Object.entries(CRITERIA)) {
    const label = keyOf(query.metadata, fields);
    if (label === null) continue;
    judged[name] = {
      label,
      relevant: hits.map((h) => keyOf(h.metadata, fields) === label),
      relevantTotal: counts.get(name)?.get(label) ?? 0,
    };
  }
  return judged;
}

function summarizeMode(judged: Record<string, JudgedQuery[]>, queryMs: number): ModeResult {
  const metrics: Record<string, MetricSummary> = {};
  const perClass: ModeResult['perClass'] = [];
  for (const [name, list] of Object.entries(judged)) {
    metrics[name] = summarize(list);
    if (name !== 'articleType+baseColour')
      perClass.push(...perClassPrecision(list).map((c) => ({ ...c, criterion: name })));
  }
  return { metrics, perClass, queryMs };
}

const TILE = 112;
const FRAME = 6;

/** 12 queries × (query + top 5): hits (same articleType) framed green, misses red. */
async function contactSheet(
  file: string,
  rows: Array<{ query: EvalItem; hits: SearchHit[] }>,
  byId: Map<string, EvalItem>,
  root: string,
): Promise<void> {
  const cell = TILE + 2 * FRAME;
  const gap = 4;
  const width = 6 * cell + 5 * gap + cell / 2;
  const height = rows.length * (cell + gap);
  const composites: sharp.OverlayOptions[] = [];
  const tile = async (item: EvalItem, frame: { r: number; g: number; b: number }) =>
    sharp(await readFile(path.join(root, item.imagePath)))
      .resize(TILE, TILE, { fit: 'contain', background: '#ffffff' })
      .flatten({ background: '#ffffff' })
      .extend({ top: FRAME, bottom: FRAME, left: FRAME, right: FRAME, background: frame })
      .png()
      .toBuffer();
  for (const [r, { query, hits }] of rows.entries()) {
    const top = r * (cell + gap);
    composites.push({ input: await tile(query, { r: 60, g: 60, b: 60 }), left: 0, top });
    for (const [c, hit] of hits.slice(0, 5).entries()) {
      const item = byId.get(hit.id);
      if (!item) continue;
      const same = item.metadata.articleType === query.metadata.articleType;
      composites.push({
        input: await tile(item, same ? { r: 30, g: 170, b: 60 } : { r: 210, g: 40, b: 40 }),
        left: cell + cell / 2 + c * (cell + gap),
        top,
      });
    }
  }
  await mkdir(path.dirname(file), { recursive: true });
  await sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite(composites)
    .png()
    .toFile(file);
}

function table(report: EvalReport): string {
  const lines = [
    '| criterion | ranking | P@1 | P@5 | P@10 | mAP@10 |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const name of Object.keys(report.full.metrics)) {
    for (const [mode, result] of [
      ['baseline (plain embedding)', report.baseline],
      ['full (learned ranking)', report.full],
    ] as const) {
      const m = result.metrics[name];
      if (!m) continue;
      lines.push(
        `| ${name} | ${mode} | ${m.p1.toFixed(3)} | ${m.p5.toFixed(3)} | ${m.p10.toFixed(3)} | ${m.map10.toFixed(3)} |`,
      );
    }
  }
  return lines.join('\n');
}

function markdown(report: EvalReport): string {
  const classes = report.full.perClass.filter((c) => c.criterion === 'articleType').slice(0, 25);
  const baseline = new Map(
    report.baseline.perClass.filter((c) => c.criterion === 'articleType').map((c) => [c.label, c.p5]),
  );
  return [
    `# lookalike eval: ${report.catalogue}`,
    '',
    `${report.items} items, ${report.folds}-fold by id, model ${report.model}; each fold's images are queries as uploads ` +
      `against an index (and ranking) built from the other folds.`,
    '',
    table(report),
    '',
    `Time: ${report.seconds.total.toFixed(0)} s in all (embedding ${report.seconds.embed.toFixed(0)} s, ` +
      `fits ${report.fitMsPerFold.map((ms) => (ms / 1000).toFixed(1)).join(' / ')} s). Mean ranking time per query: ` +
      `baseline ${report.baseline.queryMs.toFixed(2)} ms, full ${report.full.queryMs.toFixed(2)} ms.`,
    '',
    '## P@5 per articleType (25 most frequent)',
    '',
    '| articleType | queries | baseline | full |',
    '| --- | ---: | ---: | ---: |',
    ...classes.map(
      (c) =>
        `| ${c.label} | ${c.queries} | ${(baseline.get(c.label) ?? 0).toFixed(3)} | ${c.p5.toFixed(3)} |`,
    ),
    '',
    report.contactSheet ? `Contact sheet: \`${report.contactSheet}\`` : '',
    '',
  ].join('\n');
}

interface EvalOptions {
  catalogue: string;
  folds: number;
  json?: string;
  report?: string;
  sheet: string;
  limit?: number;
  csv: string;
  imageTemplate: string;
}

export async function runEval(
  config: CliConfig,
  options: EvalOptions,
  log: (s: string) => void,
): Promise<EvalReport> {
  const started = performance.now();
  const root = path.resolve(options.catalogue);
  const csvPath = path.join(root, options.csv);
  if (!existsSync(csvPath)) throw new ImportInputError(`no ${options.csv} in ${root}`);
  const catalogue = readCatalogueCsv(await readFile(csvPath, 'utf8'), {
    idColumn: 'id',
    imageTemplate: options.imageTemplate,
  });
  let rows = catalogue.rows.filter((row) => existsSync(path.join(root, row.imagePath)));
  if (options.limit) rows = rows.slice(0, options.limit);
  log(`${rows.length} items with images in ${root}`);

  const embedder = await createEmbedder({
    model: config.MODEL,
    cacheDir: path.resolve(config.MODEL_CACHE_DIR),
    mirror: config.MODEL_MIRROR,
  });
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'lookalike-eval-'));
  try {
    const embedStarted = performance.now();
    const embedded = await embedAll(embedder, rows, root, log);
    const embedSeconds = (performance.now() - embedStarted) / 1000;
    const items: EvalItem[] = [];
    rows.forEach((row, i) => {
      const e = embedded[i];
      if (e) items.push({ ...row, ...e, fold: foldOf(row.id, options.folds) });
    });
    const byId = new Map(items.map((item) => [item.id, item]));
    log(`embedded ${items.length} images in ${embedSeconds.toFixed(0)} s`);

    const judged = {
      baseline: {} as Record<string, JudgedQuery[]>,
      full: {} as Record<string, JudgedQuery[]>,
    };
    const queryMs = { baseline: 0, full: 0 };
    let queries = 0;
    const fitMs: number[] = [];
    const sheetRows: Array<{ query: EvalItem; hits: SearchHit[] }> = [];
    const random = seededRandom(12);
    const sheetPicks = new Set<string>();
    while (sheetPicks.size < Math.min(12, items.length))
      sheetPicks.add((items[Math.floor(random() * items.length)] as EvalItem).id);

    for (let fold = 0; fold < options.folds; fold++) {
      const train = items.filter((item) => item.fold !== fold);
      const test = items.filter((item) => item.fold === fold);
      // The indexer's own publish path: SnapshotWriter + RankingMaintainer (fit in a worker thread).
      const writer = await SnapshotWriter.open({
        dataDir: path.join(tmp, `fold-${fold}`),
        model: embedder.model,
      });
      const maintainer = new RankingMaintainer(writer, {
        config: DEFAULT_RANKING_CONFIG,
        dimension: embedder.model.dimension,
      });
      await maintainer.publish({
        upserts: train.map((item) => ({
          id: item.id,
          vector: item.vector,
          colour: item.colour,
          metadata: item.metadata,
          contentHash: item.id,
        })),
        deletes: [],
      });
      await maintainer.idle();
      const snapshot = (await writer.latest()) as Snapshot;
      const model = readRankingModel(snapshot);
      fitMs.push(model?.stats.durationMs ?? 0);
      const counts = new Map<string, Map<string, number>>();
      for (const [name, fields] of Object.entries(CRITERIA)) {
        const c = new Map<string, number>();
        for (const item of train) {
          const key = keyOf(item.metadata, fields);
          if (key !== null) c.set(key, (c.get(key) ?? 0) + 1);
        }
        counts.set(name, c);
      }
      for (const query of test) {
        let t = performance.now();
        const plain = snapshot.search(query.vector, { k: K });
        queryMs.baseline += performance.now() - t;
        t = performance.now();
        // The API's upload path: no id, no labels — the embedder's output only.
        const full = rankedSearch(snapshot, { vector: query.vector, colour: query.colour }, { k: K });
        queryMs.full += performance.now() - t;
        queries++;
        for (const [mode, hits] of [
          ['baseline', plain],
          ['full', full],
        ] as const) {
          for (const [name, j] of Object.entries(judge(query, hits, counts)))
            (judged[mode][name] ??= []).push(j);
        }
        if (sheetPicks.has(query.id)) sheetRows.push({ query, hits: full });
      }
      await maintainer.close();
      await writer.close();
      log(
        `fold ${fold + 1}/${options.folds}: ${train.length} indexed, ${test.length} queries, ` +
          `fit ${((model?.stats.durationMs ?? 0) / 1000).toFixed(1)} s (${model?.lda?.dimensions ?? 0}-d projection)`,
      );
    }

    let sheet: string | null = null;
    if (options.sheet !== 'none') {
      sheet = path.resolve(options.sheet);
      await contactSheet(sheet, sheetRows, byId, root);
    }
    const report: EvalReport = {
      catalogue: root,
      model: embedder.model.id,
      items: items.length,
      folds: options.folds,
      seconds: {
        embed: embedSeconds,
        fit: fitMs.reduce((a, b) => a + b, 0) / 1000,
        total: (performance.now() - started) / 1000,
      },
      fitMsPerFold: fitMs,
      baseline: summarizeMode(judged.baseline, queryMs.baseline / Math.max(1, queries)),
      full: summarizeMode(judged.full, queryMs.full / Math.max(1, queries)),
      contactSheet: sheet,
    };
    return report;
  } finally {
    await embedder.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export function evalCommand(getConfig: () => CliConfig): Command {
  return new Command('eval')
    .description(
      'Retrieval quality on a labelled catalogue (Kaggle layout): k-fold by id, each fold queried as uploads ' +
        'against an index built from the others; baseline (plain embedding) beside the learned ranking',
    )
    .requiredOption('--catalogue <dir>', 'folder with styles.csv and images/<id>.jpg')
    .option('--folds <n>', 'folds', positive, 5)
    .option('--json <file>', 'write the full report as JSON')
    .option('--report <file>', 'write the report as Markdown')
    .option('--sheet <file>', 'contact sheet PNG ("none" to skip)', '.data/eval/contact-sheet.png')
    .option('--limit <n>', 'only the first n catalogue rows (quick runs)', positive)
    .option('--csv <file>', 'catalogue CSV inside the folder', 'styles.csv')
    .option('--image-template <template>', 'image path per row, relative to the folder', 'images/{id}.jpg')
    .action(async (options: EvalOptions) => {
      const log = (s: string) => process.stderr.write(`${s}\n`);
      const report = await runEval(getConfig(), options, log);
      process.stdout.write(`\n${table(report)}\n\n`);
      process.stdout.write(
        `time ${report.seconds.total.toFixed(0)} s (embed ${report.seconds.embed.toFixed(0)} s, fits ` +
          `${report.fitMsPerFold.map((ms) => (ms / 1000).toFixed(1)).join('/')} s); ranking per query: baseline ` +
          `${report.baseline.queryMs.toFixed(2)} ms, full ${report.full.queryMs.toFixed(2)} ms\n`,
      );
      if (report.contactSheet) process.stdout.write(`contact sheet: ${report.contactSheet}\n`);
      if (options.json) await writeFile(options.json, JSON.stringify(report, null, 2));
      if (options.report) await writeFile(options.report, markdown(report));
    });
}
