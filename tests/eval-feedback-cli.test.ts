/**
 * `lookalike eval --feedback`: the label evaluation, then the feedback evaluation (simulated shoppers,
 * visual vs hybrid) on the same catalogue, through the built CLI with real ONNX inference on the
 * first 300 photos of the shared fashion sample. Quality figures come from the full runs (README,
 * Evaluation); this shows the command does both and reports both.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI_SCRIPT, fashionSampleDir, modelCacheDir, modelMirror, runNode } from './support';

jest.setTimeout(600_000);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-eval-feedback-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('eval --feedback reports P@5 per fold mode and NDCG@10 / CTR@5, visual vs hybrid, over 5 seeds', async () => {
  const json = path.join(dir, 'report.json');
  const report = path.join(dir, 'report.md');
  const result = await runNode(
    CLI_SCRIPT,
    [
      'eval',
      '--catalogue',
      fashionSampleDir,
      '--limit',
      '300',
      '--folds',
      '2',
      '--sheet',
      'none',
      '--projection',
      'none',
      '--feedback',
      '--json',
      json,
      '--report',
      report,
    ],
    { MODEL_MIRROR: modelMirror, MODEL_CACHE_DIR: modelCacheDir },
    580_000,
  );
  expect(result.stderr.slice(-2000)).not.toMatch(/Error:/);
  expect(result.code).toBe(0);
  const parsed = JSON.parse(readFileSync(json, 'utf8')) as {
    folds: number;
    feedback: { options: { seeds: number[] }; items: number };
  };
  expect(parsed.folds).toBe(2);
  expect(parsed.feedback.items).toBe(300);
  expect(parsed.feedback.options.seeds).toEqual([1, 2, 3, 4, 5]);
  const markdown = readFileSync(report, 'utf8');
  expect(markdown).toContain('# lookalike eval-feedback');
  expect(markdown).toMatch(/NDCG@10/);
  // The label evaluation's table first, then the feedback report.
  const labels = result.stdout.indexOf('articleType');
  expect(labels).toBeGreaterThanOrEqual(0);
  expect(result.stdout.indexOf('# lookalike eval-feedback')).toBeGreaterThan(labels);
});
