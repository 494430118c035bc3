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
 * Frees a replaced snapshot promptly. Its vectors and FAISS index (about 0.5 GB at 50k items) are
 * garbage once the requests still using it finish, but V8 reclaims such external memory only at its
 * next major GC — which a quiet server may not run for a long while, so it kept two snapshots' worth
 * of memory after every reload (measured by `pnpm bench reload`). After each swap, once in-flight
 * requests have had `delayMs` to finish, this asks V8 for one concurrent major GC; swaps in quick
 * succession share one.
 */
export class ReplacedSnapshotCollector {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly gc: MajorGc,
    private readonly delayMs: number,
  ) {}

  /** Call on every snapshot swap. */
  swapped(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.gc({ type: 'major', execution: 'async' });
    }, this.delayMs);
    // Never the reason the process stays up.
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
