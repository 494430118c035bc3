import type { BadCase, BadInputEnv } from '../../bad-input/harness';
import { shopperEvent } from '../../helpers';

/** Malformed requests to POST /v1/events and their documented problems (run by test/bad-input.test.ts). */
export async function eventsBadInputCases(_env: BadInputEnv): Promise<BadCase[]> {
  const cases: BadCase[] = [];
  const add = (name: string, request: BadCase['request'], status: number, code: string) =>
    cases.push({
      name,
      template: '/v1/events',
      path: '/v1/events',
      request: { method: 'POST', ...request },
      status,
      code,
    });
  add(
    'events: not JSON',
    { body: '{"events": [', headers: { 'content-type': 'application/json' } },
    400,
    'INVALID_JSON',
  );
  add(
    'events: empty body',
    { body: '', headers: { 'content-type': 'application/json' } },
    400,
    'INVALID_JSON',
  );
  add(
    'events: form data',
    { body: 'events=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  );
  add('events: a JSON array instead of { events }', { json: [shopperEvent('a')] }, 400, 'VALIDATION_FAILED');
  add('events: events is a string', { json: { events: 'click' } }, 400, 'VALIDATION_FAILED');
  add('events: an empty batch', { json: { events: [] } }, 400, 'VALIDATION_FAILED');
  add(
    'events: the only event has a bad position',
    { json: { events: [shopperEvent('b', { position: 'first' })] } },
    400,
    'EVENTS_REJECTED',
  );
  add(
    'events: the only event is a year old',
    {
      json: {
        events: [shopperEvent('c', { timestamp: new Date(Date.now() - 365 * 86_400_000).toISOString() })],
      },
    },
    400,
    'EVENTS_REJECTED',
  );
  add(
    'events: a body over EVENTS_MAX_BODY_BYTES',
    { json: { events: [shopperEvent('d', { sessionId: 's'.repeat(300_000) })] } },
    413,
    'BODY_TOO_LARGE',
  );
  return cases;
}
