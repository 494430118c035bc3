import { Type } from '@sinclair/typebox';
import {
  EVENT_LIMITS,
  EVENT_REJECTIONS,
  EventContextSchema,
  QueryContextSchema,
  ShopperEventSchema,
  SourceItemContextSchema,
} from '@lookalike/events';
import { component } from '../../schemas';

/**
 * The schemas of POST /v1/events. The event itself is @lookalike/events' contract (the API
 * documents it; the package validates with it), registered here as named components.
 */

const SourceItemContext = component('EventSourceItemContext', SourceItemContextSchema);
const QueryContext = component('EventQueryContext', QueryContextSchema);
// The union refers to the two named contexts, so generated clients get a type for each.
const EventContext = component(
  'EventContext',
  Type.Union([SourceItemContext, QueryContext], { description: EventContextSchema.description }),
);

export const ShopperEvent = component(
  'ShopperEvent',
  Type.Object(
    { ...ShopperEventSchema.properties, context: EventContext },
    { additionalProperties: false, description: ShopperEventSchema.description },
  ),
);

export const EventBatch = component(
  'EventBatch',
  Type.Object(
    {
      events: Type.Array(ShopperEvent, {
        minItems: 1,
        maxItems: EVENT_LIMITS.maxEventsPerBatch,
        description: `1–${EVENT_LIMITS.maxEventsPerBatch} events, each judged on its own.`,
      }),
    },
    {
      additionalProperties: false,
      description: 'A batch of shopper events.',
      examples: [
        {
          events: [
            {
              eventId: '6f1c1f5e-4d0b-4b8e-9a57-2f7f0a9a3c11',
              type: 'click',
              itemId: 'sku-15971',
              context: { queryId: '01938c6e-5a2b-7c3d-8e4f-0a1b2c3d4e5f' },
              position: 2,
              timestamp: '2026-12-07T10:15:00.123Z',
              sessionId: 's_5m2q8x1k9w',
            },
          ],
        },
      ],
    },
  ),
);

const EventRejection = component(
  'EventRejection',
  Type.Object(
    {
      index: Type.Integer({ minimum: 0, description: 'Position of the event in the batch.' }),
      eventId: Type.Optional(Type.String({ description: 'Its eventId, when it had a readable one.' })),
      code: Type.Union(
        EVENT_REJECTIONS.map((code) => Type.Literal(code)),
        {
          description:
            'EVENT_INVALID (not the contract), TIMESTAMP_TOO_OLD (older than EVENTS_MAX_AGE) or ' +
            'TIMESTAMP_IN_FUTURE (more than EVENTS_MAX_FUTURE ahead of the server clock). Permanent: do not resend.',
        },
      ),
      path: Type.String({ description: 'JSON pointer into the body: `/events/3/timestamp`.' }),
      message: Type.String(),
    },
    { additionalProperties: false, description: 'An event of the batch that was refused, and why.' },
  ),
);

export const EventsAccepted = component(
  'EventsAccepted',
  Type.Object(
    {
      accepted: Type.Integer({ minimum: 0, description: 'Events stored now.' }),
      duplicates: Type.Integer({
        minimum: 0,
        description: 'Events whose eventId was stored before (a resent batch): not stored again.',
      }),
      rejected: Type.Integer({ minimum: 0, description: 'Events refused (listed in `rejections`).' }),
      rejections: Type.Array(EventRejection, { description: 'One entry per refused event, in batch order.' }),
    },
    {
      additionalProperties: false,
      description:
        'The batch was taken: every valid event is stored (or was already). Refused events are listed; ' +
        'resending them will not help.',
    },
  ),
);
