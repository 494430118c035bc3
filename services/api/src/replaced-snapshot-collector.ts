import v8 from 'node:v8';
import vm from 'node:vm';

/** V8's collector as `--expose-gc` exposes it; `execution: 'async'` marks concurrently. */
export type MajorGc = (options: { type: 'major'; execution: 'async' }) => unknown;

/**
 * V8's collector, exposed the way jest's leak detector does it (the flag set at run time, the function
 * taken from a fresh context), or null where that is refused.
 */
export function exposeMajorGc(): MajorGc | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as MajorGc) : null;
  } catch {
    return null;
  }
}

/**
 * Frees a replaced snapshot promptly. Its vectors and FAISS index (about 0.9 GB at 50k items with the
 * default model) are garbage once the requests still using it finish, but V8 reclaims such external
 * memory only at its next major GC — which a quiet server may not run for a long while, so it kept two
 * snapshots' worth of memory after every reload (measured by `pnpm bench reload`). After each swap, once
 * in-flight requests have had `delayMs` to finish, this asks V8 for a concurrent major GC, and for a
 * second one `delayMs` later: native wrappers (the FAISS index) are released by weak callbacks that run
 * during the first collection, and what they held becomes collectable only in the next one (one GC left
 * a snapshot's worth behind in about one reload benchmark run in three). Swaps in quick succession
 * share one pair.
 */
export class ReplacedSnapshotCollector {
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly gc: MajorGc,
    private readonly delayMs: number,
  ) {}

  /** Call on every snapshot swap. */
  swapped(): void {
    this.close();
    this.timers = [1, 2].map((n) => {
      const timer = setTimeout(() => void this.gc({ type: 'major', execution: 'async' }), n * this.delayMs);
      // Never the reason the process stays up.
      timer.unref();
      return timer;
    });
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
  }
}
