import {
  JOB_RESULT_MAX_FAILURES,
  JOB_RESULT_MAX_IDS,
  JOB_RESULT_MAX_REASON_LENGTH,
  allItemsFailed,
  buildJobResult,
  emptyJobResult,
  failureRecordOf,
  percentOf,
} from '../src/job-result';
import { AllItemsFailedError } from '../src';

const ids = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`);

describe('buildJobResult', () => {
  it('keeps small lists whole, sorted by id, with exact counts and no truncation', () => {
    const result = buildJobResult({
      indexed: ['b', 'a'],
      unchanged: ['c'],
      failed: [
        { id: 'z', code: 'IMAGE_CORRUPT', reason: 'bad' },
        { id: 'y', code: 'SOURCE_NOT_FOUND', reason: 'gone' },
      ],
      version: 4,
    });
    expect(result).toEqual({
      counts: { indexed: 2, unchanged: 1, deleted: 0, notFound: 0, failed: 2 },
      indexed: ['a', 'b'],
      unchanged: ['c'],
      deleted: [],
      notFound: [],
      failed: [
        { id: 'y', code: 'SOURCE_NOT_FOUND', reason: 'gone' },
        { id: 'z', code: 'IMAGE_CORRUPT', reason: 'bad' },
      ],
      truncated: { indexed: false, unchanged: false, deleted: false, notFound: false, failed: false },
      version: 4,
    });
  });

  it('caps each list at its constant, keeps the first by id, flags the cut, counts exactly', () => {
    // A reindex of a 5,885-item catalogue: the case that made results 47 KB.
    const indexed = ids('item', 5_885).reverse();
    const failed = ids('bad', 250).map((id) => ({ id, code: 'IMAGE_CORRUPT', reason: `broken ${id}` }));
    const result = buildJobResult({ indexed, failed, notFound: ids('gone', JOB_RESULT_MAX_IDS) });
    expect(result.counts).toEqual({ indexed: 5_885, unchanged: 0, deleted: 0, notFound: 100, failed: 250 });
    expect(result.indexed).toEqual(ids('item', JOB_RESULT_MAX_IDS));
    expect(result.failed.map((f) => f.id)).toEqual(ids('bad', JOB_RESULT_MAX_FAILURES));
    // Exactly the cap is not truncated.
    expect(result.notFound).toHaveLength(JOB_RESULT_MAX_IDS);
    expect(result.truncated).toEqual({
      indexed: true,
      unchanged: false,
      deleted: false,
      notFound: false,
      failed: true,
    });
    expect(JSON.stringify(result).length).toBeLessThan(20_000);
    // The input lists are left as they were.
    expect(indexed[0]).toBe('item-05884');
  });

  it('cuts a long failure reason to its maximum length', () => {
    const long = 'x'.repeat(5_000);
    const [failure] = buildJobResult({
      failed: [{ id: 'a', code: 'SOURCE_HTTP_ERROR', reason: long }],
    }).failed;
    expect(failure?.reason).toHaveLength(JOB_RESULT_MAX_REASON_LENGTH);
    expect(failure?.reason.endsWith('…')).toBe(true);
  });

  it('an empty result lists nothing and published nothing', () => {
    expect(emptyJobResult()).toMatchObject({
      counts: { indexed: 0, unchanged: 0, deleted: 0, notFound: 0, failed: 0 },
      version: null,
    });
  });
});

describe('allItemsFailed', () => {
  const failure = { id: 'a', code: 'IMAGE_CORRUPT', reason: 'bad' };
  it('is true only when something failed and nothing else happened', () => {
    expect(allItemsFailed(buildJobResult({ failed: [failure] }))).toBe(true);
    expect(allItemsFailed(buildJobResult({ failed: [failure], indexed: ['b'] }))).toBe(false);
    expect(allItemsFailed(buildJobResult({ failed: [failure], unchanged: ['b'] }))).toBe(false);
    // Nothing submitted (an empty reindex) is not a failure.
    expect(allItemsFailed(emptyJobResult())).toBe(false);
  });

  it('AllItemsFailedError is permanent, coded, and carries the result', () => {
    const result = buildJobResult({
      failed: ids('bad', 5).map((id) => ({ id, code: 'IMAGE_CORRUPT', reason: 'bad' })),
    });
    const err = new AllItemsFailedError(result);
    expect(err).toMatchObject({ code: 'ALL_ITEMS_FAILED', permanent: true, result });
    expect(err.message).toBe(
      'all 5 item(s) failed (bad-00000: IMAGE_CORRUPT, bad-00001: IMAGE_CORRUPT, bad-00002: IMAGE_CORRUPT, …)',
    );
  });
});

describe('failure records in the progress field', () => {
  it('reads a record back and ignores progress that holds none', () => {
    const result = buildJobResult({ failed: [{ id: 'a', code: 'X', reason: 'r' }] });
    expect(failureRecordOf({ percent: 100, failure: { code: 'ALL_ITEMS_FAILED', result } })).toEqual({
      code: 'ALL_ITEMS_FAILED',
      result,
    });
    expect(failureRecordOf({ percent: 3, failure: { code: 'JOB_INVALID', result: null } })).toEqual({
      code: 'JOB_INVALID',
      result: null,
    });
    expect(failureRecordOf(42)).toBeNull();
    expect(failureRecordOf({ failure: { code: 7 } })).toBeNull();
    expect(percentOf(42)).toBe(42);
    expect(percentOf({ percent: 100, failure: {} })).toBe(100);
    expect(percentOf('half')).toBe(0);
    expect(percentOf(250)).toBe(100);
  });
});
