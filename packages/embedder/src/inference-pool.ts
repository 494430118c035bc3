import { Worker } from 'node:worker_threads';
import { EmbedderClosedError, EmbedderInferenceError, EmbedderModelError } from './errors';
import {
  INFERENCE_WORKER_SOURCE,
  type WorkerInit,
  type WorkerReply,
  type WorkerRun,
} from './inference-worker';

export interface InferencePoolOptions {
  init: Omit<WorkerInit, 'ortPath' | 'probeBatch'>;
  sessions: number;
  /** Largest micro-batch one session runs; 1 when the graph is not batch-capable. */
  maxBatch: number;
  /** Expected embedding length; checked on the start-up probe and on every result. */
  dimension: number;
  inferenceTimeoutMs: number;
  startTimeoutMs?: number;
  onEvent?: (event: string, details: Record<string, unknown>) => void;
}

interface Job {
  pixels: Uint8Array;
  resolve: (vector: Float32Array) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  busy: { id: number; jobs: Job[]; timer: NodeJS.Timeout } | null;
  /**
   * active: takes work. retiring: timed out or pool closing; it gets no more work and is terminated
   * as soon as it is idle. A worker is never terminated in the middle of `session.run`: onnxruntime-
   * node aborts the whole process when its thread is torn down under a running native call.
   */
  state: 'active' | 'retiring';
}

const MAX_CONSECUTIVE_RESPAWN_FAILURES = 3;

/**
 * N inference sessions, one per worker thread (intra-op threads 1 each), pulling micro-batches from a
 * shared FIFO. Batches are split fairly across idle sessions so a short queue still uses every core.
 * A batch that exceeds the time limit fails with EmbedderInferenceError (transient) at once; its
 * worker is retired and a fresh one takes its place. A worker that crashes is replaced the same way.
 */
export class InferencePool {
  private readonly active = new Set<Slot>();
  private readonly retiring = new Set<Slot>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private batchesRun = 0;
  private closed = false;
  private respawnFailures = 0;
  private spawning = 0;
  private broken: string | null = null;
  private idleWaiters: Array<() => void> = [];

  private constructor(
    private readonly options: InferencePoolOptions,
    private readonly workerData: WorkerInit,
  ) {}

  static async start(options: InferencePoolOptions): Promise<InferencePool> {
    const workerData: WorkerInit = {
      ...options.init,
      ortPath: require.resolve('onnxruntime-node'),
      probeBatch: options.maxBatch > 1 ? 2 : 1,
    };
    const pool = new InferencePool(options, workerData);
    const started = await Promise.allSettled(Array.from({ length: options.sessions }, () => pool.spawn()));
    const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) {
      await pool.close();
      throw failure.reason;
    }
    return pool;
  }

  get queued(): number {
    return this.queue.length;
  }

  get inferring(): number {
    let n = 0;
    for (const slot of this.active) n += slot.busy?.jobs.length ?? 0;
    return n;
  }

  /** Batches sent to sessions so far (embedded images ÷ batches = mean micro-batch size). */
  get batches(): number {
    return this.batchesRun;
  }

  get sessions(): number {
    return this.active.size;
  }

  /** Embeds one preprocessed image (`size`×`size`×3 RGB bytes); resolves to the L2-normalised vector. */
  run(pixels: Uint8Array): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new EmbedderClosedError());
    if (this.broken) return Promise.reject(new EmbedderInferenceError(this.broken));
    return new Promise<Float32Array>((resolve, reject) => {
      this.queue.push({ pixels, resolve, reject });
      this.dispatch();
    });
  }

  /**
   * Fails queued jobs, lets running batches finish (at most `inferenceTimeoutMs`), then ends the
   * workers. A worker stuck in native code past that is left behind, unreferenced, rather than torn
   * down under a running call.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new EmbedderClosedError());
    for (const slot of [...this.active]) this.retire(slot);
    if (this.active.size + this.retiring.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.inferenceTimeoutMs))),
      ]);
      clearTimeout(timer);
    }
  }

  private spawn(): Promise<Slot> {
    this.spawning++;
    return new Promise<Slot>((resolve, reject) => {
      const worker = new Worker(INFERENCE_WORKER_SOURCE, { eval: true, workerData: this.workerData });
      const slot: Slot = { worker, busy: null, state: 'active' };
      let settled = false;
      const startTimeoutMs = this.options.startTimeoutMs ?? 60_000;
      const startTimer = setTimeout(() => {
        // Session creation or the probe hangs: the worker is left alone (see Slot), just unused.
        fail(`inference session did not start within ${startTimeoutMs} ms`);
      }, startTimeoutMs);
      const fail = (message: string, cause?: unknown) => {
        if (settled) return;
        settled = true;
        this.spawning--;
        clearTimeout(startTimer);
        reject(new EmbedderModelError(`Could not start an inference session: ${message}`, { cause }));
      };
      worker.on('message', (reply: WorkerReply) => {
        if (settled) {
          this.onReply(slot, reply);
          return;
        }
        if (reply.type === 'init-failed') {
          fail(reply.message);
          void worker.terminate(); // idle: its start-up ended with an error
          return;
        }
        if (reply.type !== 'ready') return;
        const perItem = reply.probeDims.slice(1).reduce((a, b) => a * b, 1);
        if (perItem !== this.options.dimension) {
          fail(
            `embedding has shape [${reply.probeDims.join(', ')}], expected ${this.options.dimension} values per image`,
          );
          void worker.terminate();
          return;
        }
        settled = true;
        this.spawning--;
        clearTimeout(startTimer);
        if (this.closed) {
          void worker.terminate();
          reject(new EmbedderClosedError());
          return;
        }
        this.active.add(slot);
        resolve(slot);
        this.dispatch();
      });
      worker.on('error', (err) => fail(err.message, err));
      worker.on('exit', (exitCode) => {
        fail(`worker exited with code ${exitCode}`);
        this.onExit(slot, exitCode);
      });
      // Idle sessions must not keep the process alive (a forgotten close() should not hang a CLI);
      // pending work is kept alive by its timers. After the listeners, which would ref it again.
      worker.unref();
    });
  }

  private onExit(slot: Slot, exitCode: number): void {
    const wasActive = this.active.delete(slot);
    this.retiring.delete(slot);
    if (slot.busy) {
      clearTimeout(slot.busy.timer);
      for (const job of slot.busy.jobs)
        job.reject(new EmbedderInferenceError(`inference worker exited with code ${exitCode}`));
      slot.busy = null;
    }
    if (wasActive && !this.closed) this.options.onEvent?.('worker-exit', { exitCode });
    if (this.closed && this.active.size + this.retiring.size === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
    this.topUp();
  }

  /** Starts workers until `sessions` are active (or starting). Retired-but-stuck workers count against a cap of 2× sessions. */
  private topUp(): void {
    if (this.closed || this.broken) return;
    while (
      this.active.size + this.spawning < this.options.sessions &&
      this.active.size + this.spawning + this.retiring.size < 2 * this.options.sessions
    ) {
      this.spawn().then(
        () => {
          this.respawnFailures = 0;
        },
        (err: unknown) => {
          if (this.closed) return;
          const message = err instanceof Error ? err.message : String(err);
          this.respawnFailures++;
          this.options.onEvent?.('worker-respawn-failed', { error: message });
          if (this.respawnFailures < MAX_CONSECUTIVE_RESPAWN_FAILURES) {
            this.topUp();
          } else if (this.active.size === 0) {
            // Nothing left to run on: fail fast instead of queueing forever.
            this.broken = `no inference session could be restarted: ${message}`;
            for (const job of this.queue.splice(0)) job.reject(new EmbedderInferenceError(this.broken));
          }
        },
      );
    }
  }

  /** Stops giving `slot` work; terminates it now if idle, else as soon as its batch returns. */
  private retire(slot: Slot): void {
    slot.state = 'retiring';
    this.active.delete(slot);
    this.retiring.add(slot);
    if (!slot.busy) void slot.worker.terminate();
  }

  private onTimeout(slot: Slot): void {
    const busy = slot.busy;
    if (!busy) return;
    const message = `inference took longer than ${this.options.inferenceTimeoutMs} ms`;
    for (const job of busy.jobs) job.reject(new EmbedderInferenceError(message));
    busy.jobs = [];
    this.options.onEvent?.('inference-timeout', { timeoutMs: this.options.inferenceTimeoutMs });
    this.retire(slot);
    this.topUp();
  }

  private onReply(slot: Slot, reply: WorkerReply): void {
    const busy = slot.busy;
    if (!busy || (reply.type !== 'result' && reply.type !== 'failed') || reply.id !== busy.id) return;
    clearTimeout(busy.timer);
    slot.busy = null;
    if (reply.type === 'failed') {
      for (const job of busy.jobs)
        job.reject(new EmbedderInferenceError(`inference failed: ${reply.message}`));
    } else if (reply.dimension !== this.options.dimension || reply.count !== busy.jobs.length) {
      // Also the case for a late reply after a timeout: its jobs were already failed (jobs = []).
      if (busy.jobs.length > 0) {
        const message = `inference returned ${reply.count}×${reply.dimension}, expected ${busy.jobs.length}×${this.options.dimension}`;
        for (const job of busy.jobs) job.reject(new EmbedderInferenceError(message));
      }
    } else {
      const all = new Float32Array(reply.vectors);
      const invalid = new Set(reply.invalid);
      busy.jobs.forEach((job, i) => {
        if (invalid.has(i)) {
          job.reject(
            new EmbedderInferenceError('the model output for this image is not finite or all zero', {
              permanent: true,
            }),
          );
        } else if (busy.jobs.length === 1) {
          job.resolve(all);
        } else {
          job.resolve(all.slice(i * reply.dimension, (i + 1) * reply.dimension));
        }
      });
    }
    if (slot.state === 'retiring') void slot.worker.terminate(); // idle now, so safe to end
    this.dispatch();
  }

  private dispatch(): void {
    if (this.closed || this.queue.length === 0) return;
    const idle = [...this.active].filter((s) => !s.busy);
    for (let k = 0; k < idle.length && this.queue.length > 0; k++) {
      const slot = idle[k] as Slot;
      // Fair share of what is queued now, so two short-queued images go to two sessions.
      const share = Math.ceil(this.queue.length / (idle.length - k));
      const jobs = this.queue.splice(0, Math.max(1, Math.min(this.options.maxBatch, share)));
      this.send(slot, jobs);
    }
  }

  private send(slot: Slot, jobs: Job[]): void {
    const bytesPerImage = this.workerData.size * this.workerData.size * 3;
    const batch = new Uint8Array(jobs.length * bytesPerImage);
    jobs.forEach((job, i) => batch.set(job.pixels, i * bytesPerImage));
    const id = this.nextId++;
    this.batchesRun++;
    const timer = setTimeout(() => this.onTimeout(slot), this.options.inferenceTimeoutMs);
    slot.busy = { id, jobs, timer };
    const message: WorkerRun = { type: 'run', id, count: jobs.length, pixels: batch.buffer };
    slot.worker.postMessage(message, [batch.buffer]);
  }
}
