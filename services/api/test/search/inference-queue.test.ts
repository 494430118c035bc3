import { ApiError } from '../../src/errors';
import { InferenceQueue } from '../../src/search/inference-queue';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('InferenceQueue', () => {
  test('admits concurrency + queue, runs at most `concurrency` at once, FIFO', async () => {
    const queue = new InferenceQueue(2, 1);
    const admissions = [queue.admit(), queue.admit(), queue.admit()];
    expect(() => queue.admit()).toThrow(ApiError);
    expect(queue.rejected).toBe(1);

    const order: number[] = [];
    const gates: Array<() => void> = [];
    let peak = 0;
    const runs = admissions.map((admission, i) =>
      admission.run(async () => {
        order.push(i);
        peak = Math.max(peak, queue.running);
        await new Promise<void>((resolve) => gates.push(resolve));
        return i;
      }),
    );
    await tick();
    expect(queue.running).toBe(2);
    expect(queue.waiting).toBe(1);
    gates.shift()?.();
    await tick();
    await tick();
    expect(order).toEqual([0, 1, 2]);
    while (gates.length) {
      gates.shift()?.();
      await tick();
    }
    expect(await Promise.all(runs)).toEqual([0, 1, 2]);
    expect(peak).toBe(2);
    expect(queue.running).toBe(0);

    admissions.forEach((a) => a.release());
    admissions[0]?.release(); // idempotent
    expect(queue.admitted).toBe(0);
    expect(() => queue.admit()).not.toThrow();
  });

  test('a failing run frees its slot', async () => {
    const queue = new InferenceQueue(1, 0);
    const admission = queue.admit();
    await expect(admission.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(queue.running).toBe(0);
    await expect(admission.run(async () => 7)).resolves.toBe(7);
  });

  test('an aborted wait leaves the queue without taking a slot', async () => {
    const queue = new InferenceQueue(1, 1);
    const first = queue.admit();
    const second = queue.admit();
    let release: () => void = () => {};
    const running = first.run(() => new Promise<void>((resolve) => (release = resolve)));
    const controller = new AbortController();
    const waiting = second.run(async () => 'never', controller.signal);
    await tick();
    expect(queue.waiting).toBe(1);
    controller.abort(new Error('client gone'));
    await expect(waiting).rejects.toThrow('client gone');
    expect(queue.waiting).toBe(0);
    release();
    await running;
    expect(queue.running).toBe(0);
  });

  test('rejects nonsense limits', () => {
    expect(() => new InferenceQueue(0, 1)).toThrow(RangeError);
    expect(() => new InferenceQueue(1, -1)).toThrow(RangeError);
  });
});
