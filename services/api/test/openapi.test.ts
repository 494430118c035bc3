import { readFileSync } from 'node:fs';
import { generateOpenApiDocument, OPENAPI_PATH } from '../src/generate-openapi';

describe('openapi/openapi.json', () => {
  test('is exactly what the route schemas generate (run `pnpm --filter @lookalike/api openapi:generate`)', async () => {
    const generated = await generateOpenApiDocument();
    const committed = readFileSync(OPENAPI_PATH, 'utf8');
    // Compare parsed first for a readable diff, then byte for byte (the check command does the same).
    expect(JSON.parse(committed)).toEqual(JSON.parse(generated));
    expect(committed).toBe(generated);
  });

  test('is OpenAPI 3.1 and documents every error as problem+json with the shared Problem schema', async () => {
    const doc = JSON.parse(await generateOpenApiDocument()) as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          { operationId?: string; responses: Record<string, { content?: Record<string, unknown> }> }
        >
      >;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.schemas.Problem).toBeDefined();
    const operationIds = new Set<string>();
    let operationCount = 0;
    for (const [route, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        expect([route, method, typeof operation.operationId]).toEqual([route, method, 'string']);
        operationIds.add(operation.operationId as string);
        operationCount += 1;
        for (const [status, response] of Object.entries(operation.responses)) {
          if (status === 'default' || Number(status) >= 400) {
            expect([route, method, status, Object.keys(response.content ?? {})]).toEqual([
              route,
              method,
              status,
              ['application/problem+json'],
            ]);
          }
        }
      }
    }
    // Unique operation ids (clients generate method names from them).
    expect(operationIds.size).toBe(operationCount);
    expect(operationCount).toBeGreaterThanOrEqual(11);
  });

  interface MediaObject {
    schema?: { $ref?: string };
  }
  interface Operation {
    operationId: string;
    requestBody?: { content: Record<string, MediaObject> };
    responses: Record<
      string,
      {
        content?: Record<string, MediaObject>;
        headers?: Record<string, { $ref?: string; required?: boolean }>;
      }
    >;
  }
  interface Document {
    servers?: Array<{ url: string }>;
    paths: Record<string, Record<string, Operation>>;
    components: { schemas: Record<string, unknown>; headers?: Record<string, unknown> };
  }
  const load = async () => JSON.parse(await generateOpenApiDocument()) as Document;
  const operations = (doc: Document) =>
    Object.entries(doc.paths).flatMap(([route, ops]) =>
      Object.entries(ops).map(([method, operation]) => ({ where: `${method} ${route}`, operation })),
    );

  test('every JSON and multipart body, request or response, is a named component (clients get type names)', async () => {
    const doc = await load();
    const bodies: Array<[where: string, ref: string | undefined]> = [];
    for (const { where, operation } of operations(doc)) {
      const contents = [
        ['request', operation.requestBody?.content ?? {}] as const,
        ...Object.entries(operation.responses).map(([status, r]) => [status, r.content ?? {}] as const),
      ];
      for (const [which, content] of contents) {
        for (const [mediaType, media] of Object.entries(content)) {
          // Metrics text and WebP thumbnails are plain strings: no type for a client to name.
          if (!/json$|^multipart\//.test(mediaType)) continue;
          bodies.push([`${where} ${which} ${mediaType}`, media.schema?.$ref]);
        }
      }
    }
    expect(bodies.length).toBeGreaterThan(40);
    for (const [where, ref] of bodies) {
      expect([where, ref]).toEqual([
        where,
        expect.stringMatching(/^#\/components\/schemas\/[A-Z][A-Za-z]+$/),
      ]);
      const name = (ref as string).split('/').pop() as string;
      expect([where, name in doc.components.schemas]).toEqual([where, true]);
    }
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining([
        'Problem',
        'SimilarRequest',
        'SimilarUpload',
        'SimilarResponse',
        'Item',
        'Job',
        'JobAccepted',
      ]),
    );
  });

  test('names servers, and documents the rate-limit headers on exactly the rate-limited operations', async () => {
    const doc = await load();
    expect(doc.servers?.map((server) => server.url)).toContain('/');
    // Exempt from @fastify/rate-limit (`config.rateLimit: false`): health checks and thumbnails.
    const exempt = new Set(['health', 'ready', 'metrics', 'getItemImage']);
    const rateLimitHeaders = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];
    for (const { where, operation } of operations(doc)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        const documented = rateLimitHeaders.filter((name) => response.headers?.[name]);
        expect([where, status, documented]).toEqual([
          where,
          status,
          exempt.has(operation.operationId) ? [] : rateLimitHeaders,
        ]);
      }
      if (!exempt.has(operation.operationId)) {
        // Sent on the 429 too, with Retry-After, which is required there.
        expect(operation.responses['429']?.headers?.['retry-after']?.required).toBe(true);
      }
    }
    expect(Object.keys(doc.components.headers ?? {}).sort()).toEqual([
      'RateLimitLimit',
      'RateLimitRemaining',
      'RateLimitReset',
    ]);
  });

  test('the 408 response names both timeouts', async () => {
    const doc = await load();
    const description = JSON.stringify(doc.paths['/v1/similar']?.post?.responses['408']);
    expect(description).toContain('CLIENT_TIMEOUT');
    expect(description).toContain('UPLOAD_TIMEOUT');
  });
});
