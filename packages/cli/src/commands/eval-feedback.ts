import { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { DEFAULT_PROJECTION_SPEC } from '@lookalike/projection';
import { DEFAULT_RANKING_CONFIG } from '@lookalike/ranking';
import type { CliConfig } from '../config';
import { feedbackTables } from '../evaluation/feedback-experiment';
import {
  runFeedbackEval,
  type FeedbackEvalOptions,
  type FeedbackEvalReport,
} from '../evaluation/feedback-run';
import { countList, fieldList, positiveInteger, projectionSpec } from '../options';

export function feedbackMarkdown(report: FeedbackEvalReport): string {
  return [
    `# lookalike eval-feedback: ${report.catalogue}`,
    '',
    `${report.items} items, model ${report.model}, projection ${report.projection}, ranking label fields ` +
      `${report.rankingLabelFields.join(',')}; by-id results: the served ranking's top ${report.candidates}; ` +
      `label slots ${report.slotFields.length ? report.slotFields.join(',') : 'none (free blend)'}; ` +
      `visual plausibility floor ${report.floor.toFixed(4)} (${(report.belowFloor * 100).toFixed(1)} % of ` +
      `candidates below it); seeds ${report.options.seeds.join(',')}; ${report.options.heldOutSessions} ` +
      `held-out shoppers per seed; mean ± sd over seeds.`,
    '',
    feedbackTables(report),
    '',
    `Time: ${report.seconds.total.toFixed(0)} s (embed ${report.seconds.embed.toFixed(0)} s, index ` +
      `${report.seconds.index.toFixed(0)} s, by-id results ${report.seconds.visual.toFixed(0)} s, experiment ` +
      `${report.seconds.experiment.toFixed(0)} s).`,
    '',
  ].join('\n');
}

/** The feedback evaluation's defaults (also what `eval --feedback` runs with). */
export const FEEDBACK_EVAL_DEFAULTS = {
  seeds: [1, 2, 3, 4, 5],
  events: [1_000, 5_000, 20_000, 50_000, 200_000],
  heldOut: 3_000,
  candidates: 50,
  labelSlots: true,
} as const;

export function evalFeedbackCommand(getConfig: () => CliConfig): Command {
  return new Command('eval-feedback')
    .description(
      'Learning from shoppers (README, Evaluation → Feedback): simulated shoppers with hidden tastes browse the ' +
        "catalogue's real by-id results; the hybrid ranking learns from their events only; NDCG@10 and " +
        'click-through@5 on held-out shoppers, visual vs hybrid, per number of events, over several seeds',
    )
    .requiredOption('--catalogue <dir>', 'folder with styles.csv and images/<id>.jpg')
    .option('--seeds <list>', 'simulation seeds', countList, [...FEEDBACK_EVAL_DEFAULTS.seeds])
    .option('--events <list>', 'learning-curve points: events logged before fitting', countList, [
      ...FEEDBACK_EVAL_DEFAULTS.events,
    ])
    .option('--held-out <n>', 'held-out shoppers per seed', positiveInteger, FEEDBACK_EVAL_DEFAULTS.heldOut)
    .option(
      '--candidates <n>',
      'visual candidates per by-id query the hybrid may re-order',
      positiveInteger,
      FEEDBACK_EVAL_DEFAULTS.candidates,
    )
    .option(
      '--no-label-slots',
      'the free blend: feedback may re-order across label groups (default: each position keeps whether its result ' +
        "shares the query item's ranking labels and colour; feedback re-orders within those groups)",
    )
    .option('--json <file>', 'write the full report as JSON')
    .option('--report <file>', 'write the report as Markdown')
    .option('--limit <n>', 'only the first n catalogue rows (quick runs)', positiveInteger)
    .option('--csv <file>', 'catalogue CSV inside the folder', 'styles.csv')
    .option(
      '--projection <spec>',
      `the served projection (default: the indexer's default, ${DEFAULT_PROJECTION_SPEC})`,
      projectionSpec,
      projectionSpec(DEFAULT_PROJECTION_SPEC),
    )
    .option('--embeddings-cache <file>', 'reuse the catalogue embeddings from this file (as `eval`)')
    .option(
      '--ranking-label-fields <fields>',
      `the learned ranking's label fields (default ${DEFAULT_RANKING_CONFIG.labelFields.join(',')})`,
      fieldList,
      [...DEFAULT_RANKING_CONFIG.labelFields],
    )
    .option('--image-template <template>', 'image path per row, relative to the folder', 'images/{id}.jpg')
    .action(async (options: FeedbackEvalOptions) => {
      const log = (s: string) => process.stderr.write(`${s}\n`);
      if (options.candidates < 10 || options.candidates > 100)
        throw new Error('--candidates must be between 10 (a page) and 100 (the snapshot MAX_K)');
      const report = await runFeedbackEval(getConfig(), options, log);
      const markdown = feedbackMarkdown(report);
      process.stdout.write(`\n${markdown}\n`);
      if (options.json) await writeFile(options.json, JSON.stringify(report, null, 2));
      if (options.report) await writeFile(options.report, markdown);
    });
}
