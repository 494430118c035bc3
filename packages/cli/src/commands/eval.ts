import { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import type { CliConfig } from '../config';
import { markdown, table } from '../evaluation/report';
import { runEval, type EvalOptions } from '../evaluation/run';
import { DEFAULT_PROJECTION_SPEC } from '@lookalike/projection';
import { DEFAULT_RANKING_CONFIG } from '@lookalike/ranking';
import { runFeedbackEval } from '../evaluation/feedback-run';
import { fieldList, positiveInteger, projectionSpec, rankingWeights } from '../options';
import { FEEDBACK_EVAL_DEFAULTS, feedbackMarkdown } from './eval-feedback';

export { CRITERIA, foldOf, type EvalReport, type ModeResult } from '../evaluation/judging';
export { runEval } from '../evaluation/run';

export function evalCommand(getConfig: () => CliConfig): Command {
  return new Command('eval')
    .description(
      'Retrieval quality on a labelled catalogue (Kaggle layout): k-fold by id, each fold queried as uploads ' +
        'against an index built from the others; baseline (plain embedding) beside the learned ranking',
    )
    .requiredOption('--catalogue <dir>', 'folder with styles.csv and images/<id>.jpg')
    .option('--folds <n>', 'folds', positiveInteger, 5)
    .option('--json <file>', 'write the full report as JSON')
    .option('--report <file>', 'write the report as Markdown')
    .option('--sheet <file>', 'contact sheet PNG ("none" to skip)', '.data/eval/contact-sheet.png')
    .option('--limit <n>', 'only the first n catalogue rows (quick runs)', positiveInteger)
    .option('--csv <file>', 'catalogue CSV inside the folder', 'styles.csv')
    .option(
      '--projection <spec>',
      'fit this projection per fold on the training folds and search the projected vectors (default: the ' +
        `indexer's default, ${DEFAULT_PROJECTION_SPEC}): none, ` +
        'pca:<dim> or pca-whiten:<dim>[,power=p][,beta=b][,shrink=a][,samples=n] (README, Evaluation)',
      projectionSpec,
      // The indexer's default (INDEX_PROJECTION=auto on a catalogue this size): what is served.
      projectionSpec(DEFAULT_PROJECTION_SPEC),
    )
    .option(
      '--embeddings-cache <file>',
      'reuse the catalogue embeddings from this file (written on the first run; refused when the model or an image changed)',
    )
    .option(
      '--ranking-label-fields <fields>',
      "comma-separated metadata fields the learned ranking learns, most important first (the indexer's " +
        `RANKING_LABEL_FIELDS; default ${DEFAULT_RANKING_CONFIG.labelFields.join(',')})`,
      fieldList,
      [...DEFAULT_RANKING_CONFIG.labelFields],
    )
    .option(
      '--ranking-weights <key=value,…>',
      'override query-time ranking weights for screening (e.g. extraLabelVote=1); default: the shipped weights',
      rankingWeights,
      {},
    )
    .option('--image-template <template>', 'image path per row, relative to the folder', 'images/{id}.jpg')
    .option(
      '--feedback',
      'then the feedback evaluation on the same catalogue (simulated shoppers, visual vs hybrid; ' +
        '`eval-feedback` with its defaults, which has the options to vary it)',
    )
    .action(async (options: EvalOptions & { feedback?: boolean }) => {
      const log = (s: string) => process.stderr.write(`${s}\n`);
      const report = await runEval(getConfig(), options, log);
      process.stdout.write(
        `\nprojection ${report.projection.spec} (${report.projection.dimension}-d)` +
          (report.projection.fits.length
            ? `, fits ${report.projection.fits.map((f) => (f.fitMs / 1000).toFixed(1)).join('/')} s`
            : '') +
          `, ranking label fields ${report.rankingLabelFields.join(',')}` +
          `\n\n${table(report)}\n\n`,
      );
      process.stdout.write(
        `time ${report.seconds.total.toFixed(0)} s (embed ${report.seconds.embed.toFixed(0)} s, ranking fits ` +
          `${report.fitMsPerFold.map((ms) => (ms / 1000).toFixed(1)).join('/')} s); ranking per query: baseline ` +
          `${report.baseline.queryMs.toFixed(2)} ms, full ${report.full.queryMs.toFixed(2)} ms\n`,
      );
      if (report.contactSheet) process.stdout.write(`contact sheet: ${report.contactSheet}\n`);
      if (!options.feedback) {
        if (options.json) await writeFile(options.json, JSON.stringify(report, null, 2));
        if (options.report) await writeFile(options.report, markdown(report));
        return;
      }
      // The same catalogue options (and embeddings cache), so the second pass embeds nothing anew.
      const feedback = await runFeedbackEval(
        getConfig(),
        {
          catalogue: options.catalogue,
          csv: options.csv,
          imageTemplate: options.imageTemplate,
          projection: options.projection,
          rankingLabelFields: options.rankingLabelFields,
          ...(options.limit !== undefined ? { limit: options.limit } : {}),
          ...(options.embeddingsCache !== undefined ? { embeddingsCache: options.embeddingsCache } : {}),
          ...FEEDBACK_EVAL_DEFAULTS,
          seeds: [...FEEDBACK_EVAL_DEFAULTS.seeds],
          events: [...FEEDBACK_EVAL_DEFAULTS.events],
        },
        log,
      );
      const feedbackReport = feedbackMarkdown(feedback);
      process.stdout.write(`\n${feedbackReport}\n`);
      if (options.json) await writeFile(options.json, JSON.stringify({ ...report, feedback }, null, 2));
      if (options.report) await writeFile(options.report, `${markdown(report)}\n${feedbackReport}`);
    });
}
