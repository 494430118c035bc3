import { QUERY_ID_PATTERN } from '@lookalike/events';
import { FakeEventLog, shopperEvent } from '../../helpers';
import type { RoutesOverFakes } from '../harness';

/** Route tests of events and query ids (run by test/routes.test.ts, which checks contract coverage). */
export function eventsRouteTests(h: RoutesOverFakes): void {
  const { call, json } = h;
  const post = (body: unknown, url = '/v1/events') =>
    call(h.t, '/v1/events', { method: 'POST', url, json: body });
  const stored = () => (h.t.events as FakeEventLog).stored.map((event) => event.eventId);

  test('every result list has its own queryId, and an event naming it is accepted', async () => {
    h.loadCatalogue(3);
    const byImage = await call(h.t, '/v1/similar', {
      method: 'POST',
      url: '/v1/similar',
      json: { imageBase64: h.red.toString('base64'), k: 2 },
    });
    const byItem = await call(h.t, '/v1/items/{id}/similar', { url: '/v1/items/red-shirt/similar?k=2' });
    const again = await call(h.t, '/v1/items/{id}/similar', { url: '/v1/items/red-shirt/similar?k=2' });
    const ids = [byImage, byItem, again].map((response) => json(response).queryId as string);
    for (const id of ids) expect(id).toMatch(QUERY_ID_PATTERN);
    // The same question asked twice is two result lists: two ids.
    expect(new Set(ids).size).toBe(3);

    const response = await post({
      events: [
        shopperEvent('q-1', { type: 'impression', context: { queryId: ids[0] }, position: 1 }),
        shopperEvent('q-2', { type: 'click', context: { queryId: ids[1] }, position: 0 }),
      ],
    });
    expect(response.statusCode).toBe(202);
    expect(json(response)).toEqual({ accepted: 2, duplicates: 0, rejected: 0, rejections: [] });
    expect(stored()).toEqual(['q-1', 'q-2']);
  });

  test('POST /v1/events: good events stored, bad ones listed with their codes; a replay counts as duplicates', async () => {
    const tooOld = new Date(Date.now() - 25 * 3600_000).toISOString();
    const future = new Date(Date.now() + 3600_000).toISOString();
    const batch = {
      events: [
        shopperEvent('e-1'),
        shopperEvent('e-2', { sessionId: 'jane@example.com' }),
        shopperEvent('e-3', { timestamp: tooOld }),
        shopperEvent('e-4', { timestamp: future }),
        shopperEvent('e-5', { type: 'purchase' }),
      ],
    };
    const first = await post(batch);
    expect(first.statusCode).toBe(202);
    expect(json(first)).toEqual({
      accepted: 2,
      duplicates: 0,
      rejected: 3,
      rejections: [
        expect.objectContaining({
          index: 1,
          eventId: 'e-2',
          code: 'EVENT_INVALID',
          path: '/events/1/sessionId',
        }),
        expect.objectContaining({
          index: 2,
          eventId: 'e-3',
          code: 'TIMESTAMP_TOO_OLD',
          path: '/events/2/timestamp',
        }),
        expect.objectContaining({
          index: 3,
          eventId: 'e-4',
          code: 'TIMESTAMP_IN_FUTURE',
          path: '/events/3/timestamp',
        }),
      ],
    });
    expect(stored()).toEqual(['e-1', 'e-5']);

    // The client timed out and resends the same batch: nothing is stored twice.
    const replay = await post(batch);
    expect(replay.statusCode).toBe(202);
    expect(json(replay)).toMatchObject({ accepted: 0, duplicates: 2, rejected: 3 });
    expect(stored()).toEqual(['e-1', 'e-5']);

    const metrics = (await call(h.t, '/metrics', { url: '/metrics' })).body;
    expect(metrics).toMatch(/^lookalike_events_accepted_total 2$/m);
    expect(metrics).toMatch(/^lookalike_events_duplicate_total 2$/m);
    expect(metrics).toMatch(/^lookalike_events_rejected_total\{reason="invalid"\} 2$/m);
    expect(metrics).toMatch(/^lookalike_events_rejected_total\{reason="too_old"\} 2$/m);
    expect(metrics).toMatch(/^lookalike_events_rejected_total\{reason="in_future"\} 2$/m);
  });

  test('POST /v1/events: 400 when no event is valid (EVENTS_REJECTED) or the batch is malformed (VALIDATION_FAILED)', async () => {
    const none = await post({
      events: [shopperEvent('x-1', { position: -1 }), shopperEvent('x-2', { type: 'view' })],
    });
    expect(none.statusCode).toBe(400);
    expect(none.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(json(none)).toMatchObject({
      code: 'EVENTS_REJECTED',
      errors: [
        { path: '/body/events/0/position', message: expect.stringMatching(/^EVENT_INVALID: /) },
        { path: '/body/events/1/type', message: expect.stringMatching(/^EVENT_INVALID: /) },
      ],
    });

    const empty = await post({ events: [] });
    expect(empty.statusCode).toBe(400);
    expect(json(empty)).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: '/body/events' }] });
    const tooMany = await post({ events: Array.from({ length: 101 }, (_, i) => shopperEvent(`m-${i}`)) });
    expect(json(tooMany)).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: '/body/events' }] });
    const extra = await post({ events: [shopperEvent('y')], userEmail: 'a@b.c' });
    expect(json(extra)).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: '/body/userEmail' }] });
    const query = await post({ events: [shopperEvent('z')] }, '/v1/events?debug=1');
    expect(query.statusCode).toBe(400);
    expect(json(query)).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: '/query/debug' }] });
    // Also when the schema refused the body first (Fastify then never looks at the query string).
    const both = await post({ events: [shopperEvent('z', { position: 'x' })] }, '/v1/events?debug=1');
    expect(json(both)).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: '/query/debug' }] });
    expect(stored()).toEqual([]);
  });

  test('POST /v1/events: the event log down → 503 QUEUE_UNAVAILABLE with Retry-After; a body over the limit → 413', async () => {
    (h.t.events as FakeEventLog).down = true;
    const down = await post({ events: [shopperEvent('d-1')] });
    expect(down.statusCode).toBe(503);
    expect(json(down)).toMatchObject({ code: 'QUEUE_UNAVAILABLE', retryAfter: 5 });
    expect(down.headers['retry-after']).toBe('5');

    const huge = await post({ events: [shopperEvent('big', { itemId: 'x'.repeat(200_000) })] });
    expect(huge.statusCode).toBe(413);
    expect(json(huge).code).toBe('BODY_TOO_LARGE');
  });
}
