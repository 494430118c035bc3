import { ApiError } from '../errors';

/** Called when a slot is handed over. */
type Waiter = () => void;

/**
 * The one admission queue of image queries: it bounds the decoded images and CPU they take. A
 * request is *admitted* once its image is fully received (at most `concurrency + maxQueue` at once;
 * beyond that 503 INFERENCE_BUSY with Retry-After, so a burst cannot pile up work), then waits in
 * FIFO order for one of `concurrency` inference slots. Nothing downstream queues it again: the embedder gets at most
 * `concurrency` images at once, one per ONNX session (see server.ts). When a request is admitted is
 * the route's choice (SearchService.admit); the embedding itself runs in onnxruntime/sharp threads.
 */
export class InferenceQueue {
  private admittedCount = 0;
  private runningCount = 0;
  private readonly waiters: Waiter[] = [];
  /** Requests refused because the queue was full, since start. */
  rejected = 0;

  constructor(
    readonly concurrency: number,
    readonly maxQueue: number,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('concurrency must be ≥ 1');
    if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new RangeError('maxQueue must be ≥ 0');
  }

  get admitted(): number {
    return this.admittedCount;
  }
  get running(): number {
    return this.runningCount;
  }
  get waiting(): number {
    return this.waiters.length;
  }

  /** Takes a place, or throws INFERENCE_BUSY. Release the admission when the request ends. */
  admit(): Admission {
    if (this.admittedCount >= this.concurrency + this.maxQueue) {
      this.rejected += 1;
      throw new ApiError(
        'INFERENCE_BUSY',
        `Too many image queries in progress (${this.admittedCount}); retry shortly`,
        { permanent: false, retryAfterSeconds: 1 },
      );
    }
    this.admittedCount += 1;
    let released = false;
    return new Admission(this, () => {
      if (released) return;
      released = true;
      this.admittedCount -= 1;
    });
  }

  /** @internal Waits for a slot (FIFO), runs `fn`, frees the slot. */
  async runInSlot<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.runningCount >= this.concurrency) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          reject(signal?.reason ?? new Error('aborted'));
        };
        const waiter: Waiter = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        this.waiters.push(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    } else {
      this.runningCount += 1;
    }
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter (runningCount unchanged), or free it.
      const next = this.waiters.shift();
      if (next) next();
      else this.runningCount -= 1;
    }
  }
}

export class Admission {
  constructor(
    private readonly queue: InferenceQueue,
    readonly release: () => void,
  ) {}

  run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.queue.runInSlot(fn, signal);
  }
}
