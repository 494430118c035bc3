import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import type { BenchContext, BenchSuite, BenchTable } from './types';
import { suites } from './suites';

function renderTable(table: BenchTable): string {
  const head = `| ${table.columns.join(' | ')} |\n| ${table.columns.map(() => '---').join(' | ')} |`;
  const body = table.rows.map((r) => `| ${r.join(' | ')} |`).join('\n');
  const notes = (table.notes ?? []).map((n) => `\n_${n}_`).join('\n');
  return `#### ${table.title}\n\n${head}\n${body}\n${notes}\n`;
}

async function main(): Promise<void> {
  const repoRoot = path.resolve(__dirname, '../..');
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const context: BenchContext = {
    repoRoot,
    sharedDir: process.env.LOOKALIKE_SHARED_DIR ?? path.resolve(repoRoot, '../shared'),
    modelCacheDir: process.env.MODEL_CACHE_DIR ?? path.join(repoRoot, '.cache/models'),
    modelMirror: process.env.MODEL_MIRROR ?? path.resolve(repoRoot, '../shared/models'),
    quick: process.argv.includes('--quick'),
    log: (m) => console.error(`[bench] ${m}`),
  };
  const selected: BenchSuite[] = only.length ? suites.filter((s) => only.includes(s.name)) : suites;
  const outDir = path.join(repoRoot, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  let markdown = `### Benchmark results\n\nMachine: ${machine}. Run: ${new Date().toISOString()}.\n\n`;
  for (const suite of selected) {
    context.log(`running ${suite.name}`);
    const { tables, raw } = await suite.run(context);
    writeFileSync(path.join(outDir, `${suite.name}.json`), JSON.stringify({ machine, raw, tables }, null, 2));
    markdown += tables.map(renderTable).join('\n') + '\n';
  }
  writeFileSync(path.join(outDir, 'RESULTS.md'), markdown);
  console.log(markdown);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
