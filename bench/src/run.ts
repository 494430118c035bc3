import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import type { BenchContext, BenchSuite } from './types';
import { suites } from './suites';
import { renderTable } from './tables';

const started = performance.now();

async function main(): Promise<void> {
  const repoRoot = path.resolve(__dirname, '../..');
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const context: BenchContext = {
    repoRoot,
    sharedDir: process.env.LOOKALIKE_SHARED_DIR ?? path.resolve(repoRoot, '../shared'),
    modelCacheDir: process.env.MODEL_CACHE_DIR ?? path.join(repoRoot, '.cache/models'),
    modelMirror: process.env.MODEL_MIRROR ?? path.resolve(repoRoot, '../shared/models'),
    quick: process.argv.includes('--quick'),
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    python: process.env.BENCH_PYTHON || undefined,
    scaleItems: process.env.BENCH_SCALE_ITEMS ? Number(process.env.BENCH_SCALE_ITEMS) : undefined,
    log: (m) => console.error(`[bench ${((performance.now() - started) / 1000).toFixed(0)}s] ${m}`),
  };
  const selected: BenchSuite[] = only.length ? suites.filter((s) => only.includes(s.name)) : suites;
  const outDir = path.join(repoRoot, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const mode = context.quick ? ' (--quick)' : '';
  let body = '';
  const wall: string[] = [];
  for (const suite of selected) {
    context.log(`running ${suite.name}`);
    const suiteStarted = performance.now();
    const { tables, raw } = await suite.run(context);
    const seconds = (performance.now() - suiteStarted) / 1000;
    wall.push(`${suite.name} ${seconds.toFixed(0)} s`);
    writeFileSync(
      path.join(outDir, context.quick ? `${suite.name}.quick.json` : `${suite.name}.json`),
      JSON.stringify({ machine, quick: context.quick, wallSeconds: seconds, raw, tables }, null, 2),
    );
    body += tables.map(renderTable).join('\n') + '\n';
  }
  const total = (performance.now() - started) / 1000;
  const markdown =
    `### Benchmark results${mode}\n\nMachine: ${machine}. Run: ${new Date().toISOString()}. ` +
    `Wall time: ${total.toFixed(0)} s (${wall.join(', ')}).\n\n${body}`;
  // A partial run (`pnpm bench <suite>`) writes its own file, so the full table set is not clobbered.
  const name = only.length ? `RESULTS-${only.join('-')}.md` : 'RESULTS.md';
  writeFileSync(path.join(outDir, context.quick ? name.replace('.md', '.quick.md') : name), markdown);
  console.log(markdown);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
