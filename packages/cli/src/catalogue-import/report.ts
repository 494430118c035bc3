import { SingleBar } from 'cli-progress';
import type { ImportTotals } from './jobs';

/** A progress bar on stderr (none with --no-progress). */
export function progressBar(enabled: boolean, format: string): SingleBar | null {
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

/** The totals as people read them (without --json). */
export function printTotals(totals: ImportTotals, waited: boolean): void {
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
      `indexed ${totals.indexed}, unchanged ${totals.unchanged}, failed ${totals.failedItems}` +
        (totals.version !== null ? `, snapshot version ${totals.version}` : ''),
    );
    const byCode = new Map<string, number>();
    for (const f of totals.failed) byCode.set(f.code, (byCode.get(f.code) ?? 0) + 1);
    for (const [code, n] of byCode) lines.push(`  ${code}: ${n}`);
    if (totals.failedItems > totals.failed.length) {
      lines.push(
        `  (codes of the ${totals.failed.length} failures the jobs listed, of ${totals.failedItems})`,
      );
    }
    for (const f of totals.failed.slice(0, 20)) lines.push(`  ${f.id}: ${f.code} ${f.reason}`);
    for (const j of totals.failedJobs) lines.push(`job ${j.jobId} (${j.items} items) failed: ${j.reason}`);
  }
  lines.push(`${waited ? 'published' : 'enqueued'} in ${totals.seconds.toFixed(1)} s`);
  console.log(lines.join('\n'));
}
