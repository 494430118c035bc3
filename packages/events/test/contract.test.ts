import {
  EVENT_LIMITS,
  EventBatchError,
  QUERY_ID_PATTERN,
  newQueryId,
  queryIdTime,
  rejectionReason,
  validateBatch,
  validateEvent,
  type ShopperEvent,
  type TimeWindow,
} from '../src';

const NOW = Date.parse('2026-12-07T10:00:00.000Z');
const WINDOW: TimeWindow = { maxAgeMs: 24 * 3600_000, maxFutureMs: 5 * 60_000 };

function event(overrides: Record<string, unknown> = {}): ShopperEvent {
  return {
    eventId: 'e-1',
    type: 'click',
    itemId: 'sku-2',
    context: { sourceItemId: 'sku-1' },
    position: 3,
    timestamp: '2026-12-07T09:59:00.000Z',
    sessionId: 's_5m2q8x1k9w',
    ...overrides,
  } as ShopperEvent;
}

describe('validateEvent', () => {
  test('a well-formed event in the window passes, with its time read', () => {
    expect(validateEvent(event(), 4, NOW, WINDOW)).toEqual({
      index: 4,
      event: event(),
      timestampMs: Date.parse('2026-12-07T09:59:00.000Z'),
    });
    // Offsets other than Z are RFC 3339 too.
    const offset = validateEvent(event({ timestamp: '2026-12-07T11:30:00+02:00' }), 0, NOW, WINDOW);
    expect(offset).toMatchObject({ timestampMs: Date.parse('2026-12-07T09:30:00.000Z') });
    const byQuery = validateEvent(event({ context: { queryId: newQueryId(NOW) } }), 0, NOW, WINDOW);
    expect(byQuery).toHaveProperty('event');
  });

  test.each([
    ['an unknown type', { type: 'view' }, '/type'],
    ['a negative position', { position: -1 }, '/position'],
    ['a fractional position', { position: 1.5 }, '/position'],
    ['a position past the limit', { position: EVENT_LIMITS.maxPosition + 1 }, '/position'],
    ['a bad item id', { itemId: 'a b' }, '/itemId'],
    ['an e-mail as session id', { sessionId: 'jane.doe@example.com' }, '/sessionId'],
    ['a too short session id', { sessionId: '42' }, '/sessionId'],
    ['a session id with spaces', { sessionId: 'Jane Doe 1984' }, '/sessionId'],
    ['a timestamp without offset', { timestamp: '2026-12-07T09:59:00' }, '/timestamp'],
    ['a date only', { timestamp: '2026-12-07' }, '/timestamp'],
    ['an impossible date', { timestamp: '2026-13-45T25:61:00Z' }, '/timestamp'],
    ['an extra field', { email: 'x@y.z' }, '/email'],
    ['both contexts', { context: { sourceItemId: 'a', queryId: newQueryId(NOW) } }, '/context'],
    ['no context field', { context: {} }, '/context'],
    ['a queryId we never issue', { context: { queryId: 'not-a-query-id' } }, '/context'],
    ['a v4 UUID as queryId', { context: { queryId: '0b7e1e6c-2a4e-4d5b-9c1f-3a2b1c0d9e8f' } }, '/context'],
  ])('refuses %s (EVENT_INVALID at its path)', (_name, overrides, path) => {
    const outcome = validateEvent(event(overrides), 2, NOW, WINDOW);
    expect(outcome).toMatchObject({ index: 2, code: 'EVENT_INVALID', path });
    expect((outcome as { message: string }).message).not.toBe('');
  });

  test('refuses a missing field and non-objects', () => {
    const { sessionId: _omitted, ...withoutSession } = event();
    expect(validateEvent(withoutSession, 0, NOW, WINDOW)).toMatchObject({
      code: 'EVENT_INVALID',
      path: '/sessionId',
    });
    expect(validateEvent('click', 0, NOW, WINDOW)).toMatchObject({ code: 'EVENT_INVALID' });
    expect(validateEvent(null, 0, NOW, WINDOW)).toMatchObject({ code: 'EVENT_INVALID' });
  });

  test('the time window: at its edges accepted, past them refused with their own codes', () => {
    const at = (ms: number) => event({ timestamp: new Date(ms).toISOString() });
    expect(validateEvent(at(NOW - WINDOW.maxAgeMs), 0, NOW, WINDOW)).toHaveProperty('event');
    expect(validateEvent(at(NOW + WINDOW.maxFutureMs), 0, NOW, WINDOW)).toHaveProperty('event');
    expect(validateEvent(at(NOW - WINDOW.maxAgeMs - 1), 0, NOW, WINDOW)).toMatchObject({
      code: 'TIMESTAMP_TOO_OLD',
      path: '/timestamp',
    });
    expect(validateEvent(at(NOW + WINDOW.maxFutureMs + 1), 0, NOW, WINDOW)).toMatchObject({
      code: 'TIMESTAMP_IN_FUTURE',
      path: '/timestamp',
    });
  });
});

describe('validateBatch', () => {
  test('judges each event on its own: good ones kept, bad ones listed by index', () => {
    const batch = {
      events: [
        event({ eventId: 'a' }),
        event({ eventId: 'b', type: 'stare' }),
        event({ eventId: 'c', timestamp: '2020-01-01T00:00:00Z' }),
        event({ eventId: 'd', type: 'purchase' }),
      ],
    };
    const { valid, rejected } = validateBatch(batch, NOW, WINDOW);
    expect(valid.map((v) => [v.index, v.event.eventId])).toEqual([
      [0, 'a'],
      [3, 'd'],
    ]);
    expect(rejected.map((r) => [r.index, r.code])).toEqual([
      [1, 'EVENT_INVALID'],
      [2, 'TIMESTAMP_TOO_OLD'],
    ]);
  });

  test.each([
    ['not an object', [event()], ''],
    ['no events', {}, '/events'],
    ['events not an array', { events: event() }, '/events'],
    ['an empty batch', { events: [] }, '/events'],
    [
      'a batch over the limit',
      { events: Array.from({ length: EVENT_LIMITS.maxEventsPerBatch + 1 }, () => event()) },
      '/events',
    ],
    ['an extra top-level field', { events: [event()], user: 'jane' }, '/user'],
  ])('refuses the whole batch for %s', (_name, body, path) => {
    let thrown: unknown;
    try {
      validateBatch(body, NOW, WINDOW);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(EventBatchError);
    expect((thrown as EventBatchError).path).toBe(path);
  });

  test('the limit itself is accepted', () => {
    const events = Array.from({ length: EVENT_LIMITS.maxEventsPerBatch }, (_, i) =>
      event({ eventId: `e${i}` }),
    );
    expect(validateBatch({ events }, NOW, WINDOW).valid).toHaveLength(EVENT_LIMITS.maxEventsPerBatch);
  });
});

test('rejection codes map to the metric reasons', () => {
  expect(rejectionReason('EVENT_INVALID')).toBe('invalid');
  expect(rejectionReason('TIMESTAMP_TOO_OLD')).toBe('too_old');
  expect(rejectionReason('TIMESTAMP_IN_FUTURE')).toBe('in_future');
});

describe('query ids', () => {
  test('UUIDv7: the pattern, the time they carry, unique', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newQueryId(NOW)));
    expect(ids.size).toBe(10_000);
    for (const id of [...ids].slice(0, 100)) {
      expect(id).toMatch(QUERY_ID_PATTERN);
      expect(queryIdTime(id)).toBe(NOW);
    }
    expect(queryIdTime('nope')).toBeNull();
  });

  test('later ids sort after earlier ones (time-ordered)', () => {
    const early = newQueryId(NOW);
    const late = newQueryId(NOW + 1);
    expect(early < late).toBe(true);
  });
});
