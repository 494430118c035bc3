import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { ITEM_ID_PATTERN, METADATA_KEY_PATTERN, METADATA_LIMITS } from '@lookalike/contracts';

/**
 * Schemas shared by several route folders; a route's own schemas live beside it. Patterns and
 * limits come from @lookalike/contracts, so the API, the queue and the index store agree. Schemas are
 * the single source of truth: Fastify validates requests and serialises responses with them
 * (responses carry only the listed fields), and @fastify/swagger turns them into openapi.json.
 */

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

const components = new Map<string, TSchema>();

/**
 * Registers `schema` as the shared schema `name` and returns a reference to it. app.ts adds every
 * registered schema to Fastify (serialisers) and to the request validators, and @fastify/swagger
 * writes them as `#/components/schemas/<name>`: generated clients get a type per body instead of
 * anonymous inline objects. Route schema modules call this when imported, before buildApp runs.
 */
export function component<T extends TSchema>(name: string, schema: T): TUnsafe<Static<T>> {
  if (components.has(name)) throw new Error(`component schema ${name} is defined twice`);
  components.set(name, { ...schema, $id: name, title: name });
  return Type.Unsafe<Static<T>>(Type.Ref(name));
}

/** Every schema registered with component(), in registration order. */
export function componentSchemas(): TSchema[] {
  return [...components.values()];
}

/** Set on a response header's schema when it is sent on every such response (OpenAPI `required`). */
export const ALWAYS_SENT = 'x-lookalike-always-sent';

/** A response header that is sent on every response it is documented on. */
export function alwaysSent<T extends TSchema>(schema: T): T {
  return { ...schema, [ALWAYS_SENT]: true };
}

export const ItemId = Type.String({
  pattern: ITEM_ID_PATTERN.source,
  description: '1–128 characters from A–Z a–z 0–9 _ . : -',
  examples: ['sku-15970'],
});

export const MetadataValue = Type.Union([
  Type.String({ maxLength: METADATA_LIMITS.maxStringLength }),
  Type.Number(),
]);

/**
 * An object whose keys match `keyPattern` and whose values match `value`. Written with
 * propertyNames rather than patternProperties, which @fastify/swagger would drop from the document.
 */
export function keyedRecord<V extends TSchema>(
  keyPattern: string,
  value: V,
  options: Record<string, unknown>,
) {
  return Type.Unsafe<Record<string, Static<V>>>({
    type: 'object',
    propertyNames: { pattern: keyPattern },
    additionalProperties: value,
    ...options,
  });
}

/** Metadata field names (a leading `_` is refused: older snapshots used it for internal fields). */
export const METADATA_KEY = METADATA_KEY_PATTERN.source;

export const Metadata = component(
  'Metadata',
  keyedRecord(METADATA_KEY, MetadataValue, {
    maxProperties: METADATA_LIMITS.maxFields,
    description:
      `Flat metadata: up to ${METADATA_LIMITS.maxFields} fields named [A-Za-z0-9_]{1,64}, not starting with \`_\` (reserved for ` +
      `internal fields), each a string (≤ ${METADATA_LIMITS.maxStringLength} chars) or a number.`,
    examples: [{ gender: 'Men', articleType: 'Tshirts', baseColour: 'Navy Blue', year: 2011 }],
  }),
);

export const ReadinessChecks = component(
  'ReadinessChecks',
  Type.Object(
    {
      snapshot: Type.Object(
        { ok: Type.Boolean(), version: Type.Union([Type.Integer(), Type.Null()]) },
        { additionalProperties: false },
      ),
      redis: Type.Object({ ok: Type.Boolean() }, { additionalProperties: false }),
    },
    { additionalProperties: false, description: 'What readiness depends on, one entry per dependency.' },
  ),
);

const ProblemSchema = Type.Object(
  {
    type: Type.String({
      description:
        'URI reference naming the problem type: `urn:lookalike:problem:` and the code in lower case with `-` for `_` (`urn:lookalike:problem:rate-limited`).',
    }),
    title: Type.String({ description: 'The HTTP status text.' }),
    status: Type.Integer({ minimum: 400, maximum: 599 }),
    code: Type.String({
      pattern: '^[A-Z][A-Z0-9_]*$',
      description: 'Stable machine-readable error code (see the API description for the list).',
    }),
    detail: Type.String({ description: 'What went wrong, for people.' }),
    instance: Type.Optional(Type.String({ description: 'The request path.' })),
    requestId: Type.Optional(Type.String({ description: 'Same as the X-Request-Id response header.' })),
    retryAfter: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Seconds; also sent as Retry-After.' }),
    ),
    errors: Type.Optional(
      Type.Array(
        Type.Object(
          {
            path: Type.String({ description: 'Where: `/body/items/0/id`, `/query/k`, …' }),
            message: Type.String(),
          },
          { additionalProperties: false },
        ),
        { description: 'Validation problems, one per bad value.' },
      ),
    ),
    checks: Type.Optional(ReadinessChecks),
  },
  {
    description: 'RFC 9457 problem details, served as application/problem+json.',
    additionalProperties: false,
  },
);
export type ProblemBody = Static<typeof ProblemSchema>;

export const Problem = component('Problem', ProblemSchema);

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad parameters or body (VALIDATION_FAILED, INVALID_JSON, INVALID_FILTER, …).',
  401: 'Missing or wrong API key (UNAUTHORIZED).',
  404: 'Unknown item or job.',
  408:
    'The request body did not arrive in time: UPLOAD_TIMEOUT (an image query’s body not received within ' +
    'UPLOAD_TIMEOUT_MS); the connection is closed. (CLIENT_TIMEOUT, for a request whose headers do not ' +
    'arrive within twice REQUEST_TIMEOUT_MS, is answered by Node before any route is chosen.)',
  413: 'Body, upload or image too large (BODY_TOO_LARGE, IMAGE_TOO_LARGE, IMAGE_TOO_MANY_PIXELS, …).',
  415: 'Unsupported media type (UNSUPPORTED_MEDIA_TYPE, IMAGE_UNSUPPORTED, SOURCE_NOT_IMAGE, …).',
  422: 'The image cannot be decoded or fetched (IMAGE_CORRUPT, IMAGE_EMPTY, SOURCE_NOT_FOUND, …).',
  429: 'Rate limited (RATE_LIMITED); see Retry-After.',
  431: 'The request line and headers are larger than the server accepts (HEADERS_TOO_LARGE; a very long URL?).',
  502: 'The image URL host failed (SOURCE_HTTP_ERROR, SOURCE_NETWORK_ERROR).',
  503: 'Not available now (NO_SNAPSHOT, QUEUE_UNAVAILABLE, INFERENCE_BUSY, REQUEST_TIMEOUT, …); see Retry-After.',
  504: 'The image URL did not answer in time (SOURCE_TIMEOUT).',
};

/** Statuses that always come with Retry-After (seconds; the same number as the body's retryAfter). */
const RETRY_AFTER_STATUSES = new Set([429, 503]);

function problemResponse(description: string, status?: number) {
  return {
    description,
    ...(status !== undefined && RETRY_AFTER_STATUSES.has(status)
      ? {
          headers: {
            'retry-after': alwaysSent(
              Type.Integer({ minimum: 0, description: 'Seconds to wait before retrying.' }),
            ),
          },
        }
      : {}),
    content: { [PROBLEM_MEDIA_TYPE]: { schema: Problem } },
  };
}

/**
 * Error responses of a route: the listed statuses plus those every rate-limited route can give (429
 * rate limiting, 503 request timeout), and `default` for anything unexpected.
 */
export function problemResponses(...statuses: number[]) {
  return exactProblemResponses(...statuses, 429, 503);
}

/**
 * Error responses: the listed statuses, 431 (Node refuses oversized headers on every route, before
 * routing), and `default`.
 */
export function exactProblemResponses(...statuses: number[]) {
  const responses: Record<string, ReturnType<typeof problemResponse>> = {};
  for (const status of [...new Set([...statuses, 431])].sort((a, b) => a - b)) {
    responses[String(status)] = problemResponse(PROBLEM_DESCRIPTIONS[status] ?? 'Error.', status);
  }
  responses.default = problemResponse('Unexpected error (INTERNAL); details are in the server log.');
  return responses;
}

/** A JSON response whose body is a named component (see component()). */
export function jsonResponse<T extends TSchema>(
  description: string,
  schema: T,
  headers: Record<string, TSchema> = {},
) {
  return {
    description,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    content: { 'application/json': { schema } },
  };
}

/**
 * The headers @fastify/rate-limit sets on every response of a rate-limited route while rate
 * limiting is on (RATE_LIMIT_MAX > 0), before the route runs, so on errors too; the 429 adds
 * Retry-After. plugins/openapi.ts documents them on every response of every route that is not
 * exempt (`config.rateLimit: false`).
 */
export const RATE_LIMIT_HEADERS: Record<string, { component: string; schema: TSchema }> = {
  'x-ratelimit-limit': {
    component: 'RateLimitLimit',
    schema: Type.Integer({
      minimum: 1,
      description: 'Requests a client may make per window (RATE_LIMIT_MAX); sent while rate limiting is on.',
    }),
  },
  'x-ratelimit-remaining': {
    component: 'RateLimitRemaining',
    schema: Type.Integer({
      minimum: 0,
      description: 'Requests left in the current window; sent while rate limiting is on.',
    }),
  },
  'x-ratelimit-reset': {
    component: 'RateLimitReset',
    schema: Type.Integer({
      minimum: 0,
      description: 'Seconds until the current window ends; sent while rate limiting is on.',
    }),
  },
};

/**
 * For GET routes whose body only changes with the content (the item, the snapshot): @fastify/etag,
 * registered in the route's plugin, hashes the body into an ETag and answers 304 to a matching
 * If-None-Match.
 */
export const ETAG_HEADERS: Record<string, TSchema> = {
  etag: alwaysSent(
    Type.String({
      description: 'Tag of this body: send it as If-None-Match to get 304 while the body is unchanged.',
    }),
  ),
};

export const NOT_MODIFIED = {
  description: 'Not Modified: the If-None-Match ETag is current (no body).',
  type: 'null',
} as const;

export const ModelName = Type.String({
  description: 'Embedding model id.',
  examples: ['mobilenetv2-shufflenetv2-int8'],
});

export const FilterString = Type.String({
  maxLength: 2048,
  description:
    'Metadata filter `field:value[|value…][,field:value…]` (fields ANDed, `|` = any of), ' +
    'or the JSON object form `{"field": value | [values]}`.',
  examples: ['gender:Men,baseColour:Blue|Navy Blue'],
});
