import { ApiError } from '../src/errors';
import { InferenceLimiter } from '../src/inference-limiter';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('InferenceLimiter', () => {
  test('admits concurrency + queue, runs at most `concurrency` at once, FIFO', async () => {
    const limiter = new InferenceLimiter(2, 1);
    const admissions = [limiter.admit(), limiter.admit(), limiter.admit()];
    expect(() => limiter.admit()).toThrow(ApiError);
    expect(limiter.rejected).toBe(1);

    const order: number[] = [];
    const gates: Array<() => void> = [];
    let peak = 0;
    const runs = admissions.map((admission, i) =>
      admission.run(async () => {
        order.push(i);
        peak = Math.max(peak, limiter.running);
        await new Promise<void>((resolve) => gates.push(resolve));
        return i;
      }),
    );
    await tick();
    expect(limiter.running).toBe(2);
    expect(limiter.waiting).toBe(1);
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
    expect(limiter.running).toBe(0);

    admissions.forEach((a) => a.release());
    admissions[0]?.release(); // idempotent
    expect(limiter.admitted).toBe(0);
    expect(() => limiter.admit()).not.toThrow();
  });

  test('a failing run frees its slot', async () => {
    const limiter = new InferenceLimiter(1, 0);
    const admission = limiter.admit();
    await expect(admission.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(limiter.running).toBe(0);
    await expect(admission.run(async () => 7)).resolves.toBe(7);
  });

  test('an aborted wait leaves the queue without taking a slot', async () => {
    const limiter = new InferenceLimiter(1, 1);
    const first = limiter.admit();
    const second = limiter.admit();
    let release: () => void = () => {};
    const running = first.run(() => new Promise<void>((resolve) => (release = resolve)));
    const controller = new AbortController();
    const waiting = second.run(async () => 'never', controller.signal);
    await tick();
    expect(limiter.waiting).toBe(1);
    controller.abort(new Error('client gone'));
    await expect(waiting).rejects.toThrow('client gone');
    expect(limiter.waiting).toBe(0);
    release();
    await running;
    expect(limiter.running).toBe(0);
  });

  test('rejects nonsense limits', () => {
    expect(() => new InferenceLimiter(0, 1)).toThrow(RangeError);
    expect(() => new InferenceLimiter(1, -1)).toThrow(RangeError);
  });
});
