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
});
