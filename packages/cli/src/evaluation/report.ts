import type { EvalReport } from './judging';

/** The metrics table (Markdown), printed by the command and put in the report. */
export function table(report: EvalReport): string {
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

/** The whole report as Markdown (`--report`). */
export function markdown(report: EvalReport): string {
  const classes = report.full.perClass.filter((c) => c.criterion === 'articleType').slice(0, 25);
  const baseline = new Map(
    report.baseline.perClass.filter((c) => c.criterion === 'articleType').map((c) => [c.label, c.p5]),
  );
  return [
    `# lookalike eval: ${report.catalogue}`,
    '',
    `${report.items} items, ${report.folds}-fold by id, model ${report.model}, projection ${report.projection.spec} ` +
      `(${report.projection.dimension}-d${report.projection.fits.length ? `, fitted per fold in ${report.projection.fits.map((f) => (f.fitMs / 1000).toFixed(1)).join(' / ')} s` : ''}); ` +
      `ranking label fields ${report.rankingLabelFields.join(',')}; each fold's images are queries as uploads against an index (and ranking) built from the other folds.`,
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
